"""A real HTTP webhook receiver process (tests/receiver.py) as a fixture, registered in conftest.py."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

RECEIVER = Path(__file__).with_name("receiver.py")


class ReceiverProcess:
    def __init__(self, log: Path, scripts: dict[str, str], tls: tuple[Path, Path] | None = None) -> None:
        self.log = log
        args = [sys.executable, str(RECEIVER), "--port", "0", "--log", str(log)]
        if tls:
            args += ["--tls-cert", str(tls[0]), "--tls-key", str(tls[1])]
        for path, actions in scripts.items():
            args += ["--script", f"{path}={actions}"]
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("PORT "):
            self.process.kill()
            raise RuntimeError(f"the receiver did not start: {line!r}")
        self.port = int(line.split()[1])

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def requests(self, path: str | None = None) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        entries = [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]
        return [e for e in entries if path is None or e["path"] == path]

    def wait_for(self, count: int, path: str | None = None, timeout: float = 20) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.requests(path)
            if len(got) >= count:
                return got
            time.sleep(0.05)
        raise AssertionError(f"{len(self.requests(path))} request(s) to {path or 'any path'} within {timeout} s, wanted {count}")

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(5)


@pytest.fixture
def webhook_receiver(tmp_path: Path, settings: Any) -> Iterator[Callable[..., ReceiverProcess]]:
    """``webhook_receiver({"/a": "500,500,200"})`` starts a receiver; loopback is admitted for webhooks.

    ``webhook_receiver(tls=(cert, key))`` answers HTTPS with that certificate."""
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    started: list[ReceiverProcess] = []

    def start(scripts: dict[str, str] | None = None, tls: tuple[Path, Path] | None = None) -> ReceiverProcess:
        receiver = ReceiverProcess(tmp_path / f"receiver-{len(started)}.jsonl", scripts or {}, tls)
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        receiver.stop()
