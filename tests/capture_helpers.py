"""Shared by the capture tests: run a CaptureLoop in a thread and wait for things to happen."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any


def wait_for(predicate: Callable[[], Any], timeout: float, interval: float = 0.1) -> Any:
    """Poll until ``predicate()`` is truthy; return it, or fail naming what did not happen."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"not within {timeout} s: {getattr(predicate, '__doc__', None) or predicate}")


def clear_lease_grace() -> None:
    """Tell the leases Redis has been up for long (a fresh test prefix looks like a restart)."""
    from controlplane.core.redis import client, key

    client().set(key("lease", "boot"), 0)


class LoopThread:
    """A CaptureLoop running in a thread, as the capture worker's threads pool runs it."""

    def __init__(self, camera_id: int) -> None:
        from django.db import connection

        from workers.capture import CaptureLoop

        self.stop = threading.Event()
        self.loop = CaptureLoop(camera_id, stop=self.stop)
        self.error: BaseException | None = None

        def run() -> None:
            try:
                self.loop.run()
            except BaseException as exc:  # surfaced by join()
                self.error = exc
            finally:
                connection.close()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def join(self, timeout: float = 15) -> None:
        self.stop.set()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the capture loop did not stop"
        if self.error:
            raise self.error

    def __enter__(self) -> LoopThread:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.join()
