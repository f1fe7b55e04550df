"""A bad store is named in one sentence with its fix: corrupt, locked, read-only, full, bad URL.

Each case is driven through the command line as a user meets it, on a real file in the state
named: a file system made read-only or full inside a mount namespace of the test's own, a lock
held by another connection, bytes overwritten.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamgauge.cli import EXIT_CONFIG, EXIT_STORE, EXIT_SYNC_FAILED, main
from streamgauge.store import Store, StoreError

SECRET = "s3cret@t0p"  # a password with an '@' the URL must percent-encode


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    # main() installs its own handler on the root logger, as a program should.
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    # A handler an earlier test's main() left on a captured stream that is closed now would
    # print "--- Logging error ---" into this test's output.
    root.handlers[:] = [
        h for h in handlers if not getattr(getattr(h, "stream", None), "closed", False)
    ]
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "streamgauge.yaml"
    path.write_text(f"store:\n  url: '{url}'\n", encoding="utf-8")
    return path


def one_sentence(err: str) -> str:
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


def made_store(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "streamgauge.db"
    Store.open(f"sqlite:///{db}").close()
    return db


# --- the store URL ------------------------------------------------------------------------------


def test_check_config_names_an_unescaped_at_in_the_password_without_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"postgresql+psycopg://sg:{SECRET}@127.0.0.1:5432/test"
    assert main(["check-config", "--config", str(config(tmp_path, url))]) == EXIT_CONFIG
    out, err = capsys.readouterr()
    assert "valid" not in out
    assert "store.url: has a user name or password with an unescaped '@'; percent-encode" in err
    assert "'@' as %40" in err
    for part in SECRET.split("@"):
        assert part not in out + err


def test_the_same_url_in_the_environment_is_refused_alike(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAMGAUGE_STORE__URL", f"postgresql://sg:{SECRET}@db.internal/x")
    assert main(["check-config", "--config", str(config(tmp_path, "sqlite://"))]) == EXIT_CONFIG
    _, err = capsys.readouterr()
    assert "store.url: has a user name or password with an unescaped '@'" in err
    assert "t0p" not in err


def test_a_percent_encoded_password_is_valid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = "postgresql+psycopg://sg:s3cret%40t0p@127.0.0.1:5432/test"
    assert main(["check-config", "--config", str(config(tmp_path, url))]) == 0
    assert "configuration is valid" in capsys.readouterr().out


def test_a_url_that_does_not_parse_is_named_without_being_quoted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # SQLAlchemy reads "w0rd@127.0.0.1:5432" as the port here and fails quoting it.
    url = "postgresql://sg:p@ss:w0rd@127.0.0.1:5432/test"
    assert main(["check-config", "--config", str(config(tmp_path, url))]) == EXIT_CONFIG
    _, err = capsys.readouterr()
    assert "store.url: is not a database URL" in err
    assert "w0rd" not in err


def test_opening_such_a_url_directly_is_refused_without_the_secret() -> None:
    with pytest.raises(StoreError) as caught:
        Store.open(f"postgresql+psycopg://sg:{SECRET}@127.0.0.1:5432/test")
    assert "unescaped '@'" in str(caught.value)
    assert "t0p" not in str(caught.value)


# --- SQLite files -------------------------------------------------------------------------------


def test_a_file_that_is_not_sqlite_is_named_corrupt(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "data" / "streamgauge.db"
    db.parent.mkdir()
    db.write_bytes(b"\x89PNG not a database" * 500)
    assert main(["report", "--config", str(config(tmp_path, f"sqlite:///{db}"))]) == EXIT_STORE
    line = one_sentence(capsys.readouterr().err)
    assert line == (
        f"store: cannot open the store at sqlite:///{db}: the file is corrupt or not an SQLite "
        "database (file is not a database); restore it from a backup, or move it away so that "
        "streamgauge starts a new store, which the next syncs fill again"
    )


def test_a_store_whose_pages_are_overwritten_is_named_corrupt(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = made_store(tmp_path / "data")
    size = db.stat().st_size
    with db.open("r+b") as fh:
        fh.seek(4096)  # the header page stays whole; the schema's pages do not
        fh.write(b"\xa5" * (size - 4096))
    assert main(["report", "--config", str(config(tmp_path, f"sqlite:///{db}"))]) == EXIT_STORE
    line = one_sentence(capsys.readouterr().err)
    assert "the file is corrupt or not an SQLite database" in line
    assert "restore it from a backup, or move it away" in line


def test_a_store_locked_by_another_process_is_named_locked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = made_store(tmp_path / "data")
    holder = sqlite3.connect(db, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")  # as another writer would hold it
        url = f"sqlite:///{db}?timeout=0.5"
        assert main(["sync", "--config", str(config(tmp_path, url))]) == EXIT_STORE
    finally:
        holder.close()
    line = one_sentence(capsys.readouterr().err)
    assert "another process held its lock for more than 0.5 s; stop the other process" in line


def test_a_lock_timeout_that_is_no_number_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"timeout 'soon' is not a number of seconds"):
        Store.open(f"sqlite:///{tmp_path / 'x.db'}?timeout=soon")


# --- file systems made read-only or full, in a mount namespace of the test's own ---------------


def _namespaces_usable() -> bool:
    if shutil.which("unshare") is None or not sys.platform.startswith("linux"):
        return False
    probe = ["unshare", "--mount", "--map-root-user", "sh", "-c", "mount -t tmpfs none /mnt"]
    return subprocess.run(probe, capture_output=True, check=False).returncode == 0


needs_namespaces = pytest.mark.skipif(
    not _namespaces_usable(), reason="needs unshare and mount in a user namespace"
)


def in_namespace(script: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run ``script`` (sh) in a new mount namespace, where it may mount a tmpfs; ``$SG`` is
    this Python's streamgauge."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMGAUGE_")}
    env["SG"] = f"{sys.executable} -m streamgauge"
    return subprocess.run(
        ["unshare", "--mount", "--map-root-user", "sh", "-ec", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@needs_namespaces
def test_a_read_only_store_is_named_read_only(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "empty.yaml").write_text("sources: []\n", encoding="utf-8")
    script = (
        "mount -t tmpfs -o size=16m none data\n"
        "$SG sync --config empty.yaml --data-dir data > /dev/null 2>&1\n"
        "mount -o remount,ro data\n"
        "$SG sync --config empty.yaml --data-dir data\n"
    )
    result = in_namespace(script, tmp_path)
    assert result.returncode == EXIT_STORE, result.stderr
    line = one_sentence(result.stderr)
    assert line == (
        "store: cannot open the store at sqlite:///data/streamgauge.db: the file or its folder "
        "is read-only; give streamgauge write access to both (SQLite writes its -wal and -shm "
        "files beside the store), or set data_dir or store.url to a writable place"
    )


@needs_namespaces
def test_a_full_disk_is_named_full(tmp_path: Path) -> None:
    # 1 MiB holds the schema but not the demo's records: the first batch finds the disk full.
    (tmp_path / "data").mkdir()
    script = "mount -t tmpfs -o size=1m none data\n$SG sync --data-dir data\n"
    result = in_namespace(script, tmp_path)
    assert "Traceback" not in result.stderr
    full = "the disk holding it is full; free space on it, or set data_dir or store.url"
    lines = result.stderr.splitlines()
    assert any("demo: sync failed: writing a batch of demo/" in x and full in x for x in lines)
    # The metrics of what was kept (nothing) are small: when they still fit, the sync's failure
    # is the exit status (1); when even they do not, the store's (3), naming what failed.
    if result.returncode == EXIT_STORE:
        assert lines[-1] == (
            "store: saving the computed metrics at sqlite:///data/streamgauge.db failed: "
            f"{full} to a disk with room"
        )
    else:
        assert result.returncode == EXIT_SYNC_FAILED, result.stderr


# --- PostgreSQL ---------------------------------------------------------------------------------


def test_a_read_only_postgresql_database_is_named_read_only(postgres_url: str) -> None:
    # A standby, or a database set read-only, refuses every write with SQLSTATE 25006.
    from sqlalchemy import make_url

    url = make_url(postgres_url)
    options = f"{url.query['options']} -cdefault_transaction_read_only=on"
    read_only = url.update_query_dict({"options": options})
    with pytest.raises(StoreError) as caught:
        Store.open(read_only.render_as_string(hide_password=False))
    assert str(caught.value).endswith(
        "the database is read-only (a standby?); point store.url at the primary server"
    )
