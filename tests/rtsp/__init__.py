"""A real RTSP server for tests, benchmarks and the quick start's demo mode.

``RtspServer`` runs ``tests/rtsp/server.py`` in a child process under the *system* python3, because
GStreamer's Python bindings come from Debian packages, not from pip; this module imports nothing
from GStreamer. Under pytest, ``tests/`` is on ``sys.path`` (see ``fixtures_rtsp.py``); a bench script
run from the repository root does ``sys.path.insert(0, "tests")`` first. Then::

    from rtsp import VIDEOS, RtspServer

    with RtspServer(VIDEOS) as server:           # a free port, picked by the server itself
        av.open(server.url("onebyone"), options={"rtsp_transport": "tcp"})
"""
from __future__ import annotations

import ctypes
import os
import re
import selectors
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

SERVER = Path(__file__).with_name("server.py")
SYSTEM_PYTHON = os.environ.get("PANOPTES_GST_PYTHON", "/usr/bin/python3")
APT_PACKAGES = "python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad"
ASSETS = Path(os.environ.get("PANOPTES_ASSETS", Path(__file__).resolve().parents[3] / "shared" / "assets"))
# The real footage (ASSETS/README.md), under the names the fixtures and benchmarks use.
VIDEOS = {
    "onebyone": ASSETS / "videos" / "one-by-one-person-detection.mp4",  # 768x432, 10 fps, GOP 1 s
    "parking": ASSETS / "videos" / "person-bicycle-car-detection.mp4",  # 768x432, 12 fps, GOP 5 s
    "vtest": ASSETS / "videos" / "vtest.avi",  # 480x360, 10 fps, GOP 25 s
}


class RtspServerError(RuntimeError):
    pass


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the parent dies, so a killed test run leaves no server behind."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


class RtspServer:
    """tests/rtsp/server.py as a child process: ``start()``, ``url(name)``, ``stop()``, ``kill()``, ``restart()``.

    ``media`` maps a stream name to a video file. ``port=None`` lets the server pick a free port at
    the first start; ``restart()`` comes back on the same one, as a rebooted camera does.
    ``loop_after`` serves only the first seconds of each file (short loops for tests). ``shared``
    serves all clients of a stream from one pipeline: 50 clients then cost 1.5 % of a core instead
    of 9.5 %, but a client joining late starts mid-stream and waits for the next key frame (up to a GOP).
    """

    def __init__(
        self,
        media: Mapping[str, Path],
        port: int | None = None,
        *,
        user: str | None = None,
        password: str | None = None,
        loop_after: float | None = None,
        shared: bool = False,
        address: str = "127.0.0.1",
        start_timeout: float = 20.0,
    ) -> None:
        for name, path in media.items():
            if not re.fullmatch(r"[\w.-]+", name):
                raise ValueError(f"stream name {name!r}: use letters, digits, '.', '_' or '-'")
            if not Path(path).is_file():
                raise RtspServerError(f"{path}: no such video (set PANOPTES_ASSETS to the assets folder)")
        self.media = {name: Path(path).resolve() for name, path in media.items()}
        self.port = port
        self.user, self.password = user, password
        self.loop_after, self.shared, self.address = loop_after, shared, address
        self.start_timeout = start_timeout
        self.process: subprocess.Popen[str] | None = None
        self._log = tempfile.NamedTemporaryFile(prefix="panoptes-rtsp-", suffix=".log", delete=False)
        self.log_path = Path(self._log.name)  # the server's stderr (GStreamer warnings, errors)

    def command(self) -> list[str]:
        command = [SYSTEM_PYTHON, str(SERVER), "--port", str(self.port or 0), "--address", self.address]
        for name, path in self.media.items():
            command += ["--media", f"{name}={path}"]
        if self.loop_after is not None:
            command += ["--loop-after", str(self.loop_after)]
        if self.shared:
            command.append("--shared")
        if self.user is not None and self.password is not None:
            command += ["--user", self.user, "--password", self.password]
        return command

    def start(self) -> RtspServer:
        """Start the server and wait until it listens; raise RtspServerError with the cause if it cannot."""
        if self.process is not None and self.process.poll() is None:
            raise RtspServerError("already running")
        if not Path(SYSTEM_PYTHON).exists():
            raise RtspServerError(f"{SYSTEM_PYTHON} not found (the RTSP server needs the system python3 and: apt-get install {APT_PACKAGES})")
        # A restart may find the port still held for a moment by the old listener: retry briefly.
        deadline = time.monotonic() + self.start_timeout
        while True:
            line = self._spawn(deadline)
            if line.startswith("READY "):
                self.port = int(line.split()[1])
                return self
            error = self._stderr_tail()
            if "cannot listen" in error and self.port and time.monotonic() < deadline - 1:
                time.sleep(0.2)
                continue
            self.kill()
            if "apt-get install" in error:
                raise RtspServerError(f"RTSP server cannot run: {error}\n(all it needs: apt-get install {APT_PACKAGES})")
            raise RtspServerError(f"RTSP server did not start ({line or 'no READY line'}); its stderr:\n{error}")

    def _spawn(self, deadline: float) -> str:
        """Run the server; return its READY line, or what it said instead."""
        self._log.seek(0)
        self._log.truncate()
        self.process = subprocess.Popen(
            self.command(), stdout=subprocess.PIPE, stderr=self._log, text=True, preexec_fn=_die_with_parent
        )
        assert self.process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            if not selector.select(timeout=max(0.0, deadline - time.monotonic())):
                return "timed out waiting for READY"
        return self.process.stdout.readline().strip()

    def _stderr_tail(self) -> str:
        if self.process is not None:
            try:
                self.process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                pass
        return self.log_path.read_text(errors="replace")[-3000:].strip()

    def url(self, name: str, *, user: str | None = None, password: str | None = None) -> str:
        """rtsp://[user:password@]address:port/name; credentials are percent-encoded."""
        if name not in self.media:
            raise KeyError(f"no stream {name!r} (have: {', '.join(self.media)})")
        if self.port is None:
            raise RtspServerError("not started")
        userinfo = f"{quote(user, safe='')}:{quote(password or '', safe='')}@" if user is not None else ""
        return f"rtsp://{userinfo}{self.address}:{self.port}/{name}"

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM: the server closes its clients' connections and exits."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        self._close_pipe()

    def kill(self) -> None:
        """SIGKILL: the camera vanishes without closing anything (clients see the TCP connection reset)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._close_pipe()

    def _close_pipe(self) -> None:
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()

    def restart(self) -> RtspServer:
        """Stop, then start again on the same port."""
        self.stop()
        return self.start()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def __enter__(self) -> RtspServer:
        return self if self.running else self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
        self._log.close()
        self.log_path.unlink(missing_ok=True)
