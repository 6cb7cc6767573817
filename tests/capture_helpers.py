"""Shared by the capture tests: run a CaptureLoop in a thread and wait for things to happen."""
from __future__ import annotations

import socket
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
    """A CaptureLoop running in a thread, as the capture worker's threads pool runs it.

    ``database_port``: the loop's thread reaches the database through this port (a TcpProxy).
    """

    def __init__(self, camera_id: int, database_port: int | None = None) -> None:
        from django.db import connection

        from workers.capture import CaptureLoop

        self.stop = threading.Event()
        self.loop = CaptureLoop(camera_id, stop=self.stop)
        self.error: BaseException | None = None

        def run() -> None:
            try:
                if database_port is not None:  # this thread's connection only
                    connection.settings_dict = {**connection.settings_dict, "HOST": "127.0.0.1", "PORT": str(database_port)}
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


class TcpProxy:
    """A real TCP forwarder (to MariaDB) that a test cuts and restores: a database outage for one thread.

    ``cut()`` drops every open connection and refuses new ones (accepted, then closed at once, as
    a server going down does); ``refused`` counts connection attempts while cut.
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.up = True
        self.refused = 0
        self.open: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            if not self.up:
                self.refused += 1
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            with self._lock:
                self.open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for s in (source, sink):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self) -> None:
        self.up = False
        with self._lock:
            for s in self.open:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self.open.clear()

    def restore(self) -> None:
        self.up = True

    def close(self) -> None:
        self.cut()
        self.listener.close()


def worker_env(settings: Any, tmp: Any, broker: str, **extra: str) -> dict[str, str]:
    """The environment of worker processes that share this test's database, Redis prefix and storage."""
    import os

    from django.db import connection

    db = connection.settings_dict
    return {
        **os.environ,
        "DATABASE_URL": f"mysql://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "PANOPTES_REDIS_PREFIX": settings.REDIS_PREFIX,
        "PANOPTES_VAR_DIR": str(tmp / "var"),
        "STORAGE_ROOT": str(settings.STORAGE_ROOT),
        "SECRET_KEY": settings.SECRET_KEY,
        "PANOPTES_FIELD_KEYS": ",".join(settings.FIELD_ENCRYPTION_KEYS),
        "CELERY_BROKER_URL": broker,
        **extra,
    }
