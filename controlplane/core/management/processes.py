"""Run several role processes in the foreground and stop them together (used by ``quickstart``).

Each role (the web panel today; capture, GPU, analysis and beat workers later) is a child
process in its own session, so stopping a role also stops whatever it forked (runserver's
reloader, Celery's pool). Ctrl-C or SIGTERM stops every role; a role that exits by itself stops
the others, so a half-running quick start never lingers.
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from types import FrameType

logger = logging.getLogger(__name__)

# How long a role gets to exit after SIGTERM before it is killed: runserver stops at once,
# Celery workers finish their current task within their own time limits.
STOP_GRACE_SECONDS = 10.0
POLL_SECONDS = 0.2


@dataclass(frozen=True)
class Role:
    """One process of the platform: a name for messages and the command line that runs it."""

    name: str
    argv: tuple[str, ...]


class RoleExited(Exception):
    """A role stopped by itself (crash, or a port already in use)."""

    def __init__(self, role: Role, returncode: int) -> None:
        super().__init__(f"{role.name} exited with code {returncode}")
        self.role = role
        self.returncode = returncode


class Supervisor:
    """Starts roles, waits until a signal or until one of them exits, then stops them all."""

    def __init__(self, roles: Sequence[Role]) -> None:
        self.roles = list(roles)
        self.procs: list[tuple[Role, subprocess.Popen[bytes]]] = []
        self.stopping = False

    def run(self) -> None:
        """Block until stopped by SIGINT/SIGTERM (returns) or a role exits (raises RoleExited)."""
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            for role in self.roles:
                self.start(role)
            while not self.stopping:
                self.check_exited()
                time.sleep(POLL_SECONDS)
        finally:
            self.stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def start(self, role: Role) -> None:
        logger.debug("starting %s: %s", role.name, " ".join(role.argv))
        self.procs.append((role, subprocess.Popen(role.argv, start_new_session=True)))

    def check_exited(self) -> None:
        for role, proc in self.procs:
            if proc.poll() is not None:
                raise RoleExited(role, proc.returncode)

    def stop_all(self) -> None:
        # Every group, also of a role that already exited: its children may still run.
        for _, proc in self.procs:
            self._signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for _, proc in self.procs:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._signal_group(proc, signal.SIGKILL)
                proc.wait()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    @staticmethod
    def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
