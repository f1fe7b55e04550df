"""`streamgauge serve` with a webhook source, as a subprocess: started, killed, started again."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml
from tests.fakes.webhook.sender import SECRET

SOURCE = "push"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def write_config(folder: Path, *, threads: int = 8, **source: Any) -> Path:
    """A configuration with one webhook source, its secret from the environment."""
    config = {
        "sources": [
            {"name": SOURCE, "type": "webhook", "secret": "${PUSH_SECRET}", **source},
        ],
        "server": {"threads": threads, "recompute_interval": "1h"},
        "log_level": "WARNING",
    }
    path = folder / "streamgauge.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


class Serve:
    """One `serve` process on a fixed port and data folder; may be killed and started again."""

    def __init__(self, config: Path, data_dir: Path, port: int | None = None) -> None:
        self.config = config
        self.data_dir = data_dir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/webhooks/{SOURCE}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir.parent / "serve.log"
        self._retired_cpu = 0.0  # CPU seconds of the processes killed or stopped before

    def start(self) -> Serve:
        env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMGAUGE_")}
        env["PUSH_SECRET"] = SECRET
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable, "-m", "streamgauge", "serve", "--config", str(self.config),
                    "--data-dir", str(self.data_dir), "--host", "127.0.0.1",
                    "--port", str(self.port),
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        return self

    def wait_up(self, within: float = 60.0) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"serve exited:\n{self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.port}/healthz", timeout=2
                ) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                time.sleep(0.05)
        raise AssertionError("serve did not come up in time")

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=10) as resp:
            text: str = resp.read().decode()
            return text

    def cpu_seconds(self) -> float:
        """CPU time (user and system, every thread) of every process started so far."""
        return self._retired_cpu + self._live_cpu()

    def _live_cpu(self) -> float:
        if self.proc is None or self.proc.poll() is not None:
            return 0.0
        try:
            stat = Path(f"/proc/{self.proc.pid}/stat").read_text()
        except OSError:
            return 0.0
        # the fields after the command's name, which is in parentheses and may hold spaces;
        # utime and stime are the 14th and 15th fields of proc(5), in clock ticks
        fields = stat.rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self._retired_cpu += self._live_cpu()
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self._retired_cpu += self._live_cpu()
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
