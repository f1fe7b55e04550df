"""`streamgauge replay` and `sync` on a webhook source normalize what it kept."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.fakes.webhook.sender import SECRET, as_body
from tests.fakes.webhook.serve import SOURCE, write_config
from tests.fakes.webhook.spec_examples import example

from streamgauge.cli import main
from streamgauge.store import Store


def _keep(store: Store, event: dict[str, object], key: str) -> None:
    assert store.receive_event(
        source=SOURCE,
        dedup_key=key,
        content_type="application/json",
        headers={},
        body=as_body(event),
    )


def test_replay_normalizes_kept_events_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PUSH_SECRET", SECRET)
    config = write_config(tmp_path)
    args = ["--config", str(config), "--data-dir", str(tmp_path / "data")]
    broken = example("service.deployed", "0.5.1")
    del broken["subject"]["content"]["environment"]
    with Store.open(f"sqlite:///{tmp_path / 'data' / 'streamgauge.db'}") as store:
        _keep(store, broken, "k1")
        _keep(store, example("service.deployed", "0.4.1"), "k2")
    # a sync normalizes both: one deployment, one malformed event
    assert main(["sync", *args]) == 0
    assert "push: 1 new, 0 changed, 0 unchanged, 1 skipped" in capsys.readouterr().out
    assert main(["replay", *args, "--source", SOURCE]) == 0
    out = capsys.readouterr().out
    assert "push: 1 malformed events normalized again: 0 new" in out
    assert "1 still malformed" in out
    assert main(["replay", *args, "--source", SOURCE, "--status", "normalized"]) == 0
    assert "1 normalized events normalized again: 0 new, 0 changed, 1 unchanged" in (
        capsys.readouterr().out
    )


def test_replay_names_the_webhook_sources_when_the_source_is_unknown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PUSH_SECRET", SECRET)
    args = ["--config", str(write_config(tmp_path)), "--data-dir", str(tmp_path / "data")]
    assert main(["replay", *args, "--source", "nope"]) == 2
    assert "no enabled webhook source named nope (known: push)" in capsys.readouterr().err


def test_a_short_secret_is_a_config_error_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PUSH_SECRET", "short")
    args = ["--config", str(write_config(tmp_path)), "--data-dir", str(tmp_path / "data")]
    assert main(["check-config", *args]) == 2
    err = capsys.readouterr().err
    assert "sources[0].secret: must be at least 16 characters" in err
    assert "short" not in err  # the value itself is never echoed
