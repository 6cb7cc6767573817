"""Capture under faults, with real Celery worker processes, beat, Redis/RabbitMQ and MariaDB.

Two capture workers, a control worker and beat run as separate processes against the test
database; the camera is a real RTSP stream of the shared footage.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from capture_helpers import clear_lease_grace, wait_for, worker_env

pytestmark = pytest.mark.slow

BROKERS = {"redis": "redis://127.0.0.1:6379/14", "rabbitmq": "amqp://guest:guest@127.0.0.1:5672//"}
ROOT = Path(__file__).resolve().parent.parent


class Fleet:
    """Worker processes for one test: capture-a, capture-b, control and beat."""

    def __init__(self, tmp: Path, env: dict[str, str]) -> None:
        self.tmp, self.env = tmp, env
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *args: str) -> None:
        log = (self.tmp / f"{name}.log").open("wb")
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "workers", *args], cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )

    def start_all(self) -> None:
        for name in ("capture-a", "capture-b"):
            self.start(name, "worker", "-Q", "capture", "-P", "threads", "-c", "4", "-n", f"{name}@%h", "-l", "INFO")
        self.start("control", "worker", "-Q", "control", "-P", "solo", "-n", "control@%h", "-l", "INFO")
        self.start("beat", "beat", "-l", "INFO", "-s", str(self.tmp / "beat-schedule"))

    def name_of(self, pid: int) -> str:
        return next(name for name, p in self.procs.items() if p.pid == pid)

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGCONT)
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _purge(broker: str) -> None:
    from kombu import Connection

    with Connection(broker) as conn:
        channel = conn.default_channel
        for queue in ("capture", "control"):
            try:
                channel.queue_purge(queue)
            except Exception:  # the queue does not exist yet
                channel = conn.channel()


@pytest.fixture(params=sorted(BROKERS))
def fleet(request: Any, live_db: Any, settings: Any, tmp_path: Path) -> Iterator[Fleet]:
    from django.db import connection

    if connection.vendor != "mysql":
        pytest.skip("worker processes need a database server they can share with the test (MariaDB)")
    broker = BROKERS[request.param]
    _purge(broker)
    clear_lease_grace()
    settings.STORAGE_ROOT = tmp_path / "storage"
    env = worker_env(settings, tmp_path, broker)
    fleet = Fleet(tmp_path, env)
    try:
        yield fleet
    finally:
        fleet.stop()


def _owner(camera_id: int) -> tuple[int, int] | None:
    """(pid, epoch) of the camera's owner, from its lease."""
    from controlplane.core.redis import client
    from workers.leases import current_owner

    owner = current_owner(client(), camera_id)
    if owner is None or owner.endswith(":0"):
        return None
    name, epoch = owner.rsplit(":", 1)
    return int(name.split("/")[1]), int(epoch)


def _recording_camera(rtsp_server: Any, fleet: Fleet) -> tuple[Any, int, int]:
    from controlplane.cameras.models import Camera, Segment

    camera = Camera.objects.create(name="faulty", stream_url=rtsp_server.url("onebyone"), segment_seconds=2)
    fleet.start_all()
    pid, epoch = wait_for(lambda: _owner(camera.pk), timeout=30)
    wait_for(lambda: Segment.objects.filter(camera=camera, epoch=epoch).count() >= 2, timeout=20)
    return camera, pid, epoch


def _check_segments(camera: Any, storage: Path) -> list[Any]:
    from controlplane.cameras.models import Segment

    segments = list(Segment.objects.filter(camera=camera).order_by("seq"))
    assert [s.seq for s in segments] == list(range(1, len(segments) + 1))  # no repeats, no holes
    for s in segments:
        assert not s.path.endswith(".part")
        assert (storage / s.path).stat().st_size == s.size_bytes  # every recorded file is complete
    return segments


def test_after_a_kill_9_another_worker_records_the_camera_within_ttl_plus_a_reconcile(
    fleet: Fleet, rtsp_server: Any, settings: Any
) -> None:
    from controlplane.cameras.models import Segment

    camera, pid, epoch = _recording_camera(rtsp_server, fleet)
    time.sleep(1)  # mid-segment: a partial file is being written
    os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()

    new_pid, new_epoch = wait_for(lambda: (o := _owner(camera.pk)) and o[0] != pid and o, timeout=30)
    took_over = time.monotonic() - killed_at
    print(f"took over after {took_over:.1f} s")
    wait_for(lambda: Segment.objects.filter(camera=camera, epoch=new_epoch).exists(), timeout=15)

    assert fleet.name_of(new_pid) != fleet.name_of(pid) and new_epoch > epoch
    # TTL + one reconcile period, plus a second for beat's tick and the task's delivery.
    assert took_over <= settings.LEASE_TTL + settings.RECONCILE_SECONDS + 1.5, took_over
    segments = _check_segments(camera, Path(settings.STORAGE_ROOT))
    assert {s.epoch for s in segments} == {epoch, new_epoch}


def test_a_frozen_owner_loses_the_camera_and_none_of_its_later_segments_is_accepted(
    fleet: Fleet, rtsp_server: Any, settings: Any
) -> None:
    from controlplane.cameras.models import Segment

    camera, pid, epoch = _recording_camera(rtsp_server, fleet)
    os.kill(pid, signal.SIGSTOP)
    frozen_at = time.time()
    try:
        new_pid, new_epoch = wait_for(lambda: (o := _owner(camera.pk)) and o[0] != pid and o, timeout=30)
        wait_for(lambda: Segment.objects.filter(camera=camera, epoch=new_epoch).count() >= 2, timeout=20)
    finally:
        os.kill(pid, signal.SIGCONT)
    resumed_at = time.time()
    time.sleep(4)  # the old owner runs again, with a segment it had in progress

    late = Segment.objects.filter(camera=camera, epoch=epoch, created_at__gt=_aware(frozen_at + 0.5))
    assert not late.exists()
    assert _owner(camera.pk) == (new_pid, new_epoch)
    assert f"camera {camera.pk}: stopped (lease lost)" in fleet.log(fleet.name_of(pid))
    assert Segment.objects.filter(camera=camera, epoch=new_epoch, created_at__gt=_aware(resumed_at)).exists()
    _check_segments(camera, Path(settings.STORAGE_ROOT))


def test_disabling_stops_recording_within_seconds_and_enabling_resumes_it(fleet: Fleet, rtsp_server: Any, settings: Any) -> None:
    from controlplane.cameras.models import Segment
    from controlplane.core.redis import client
    from workers.status import read_status

    camera, pid, epoch = _recording_camera(rtsp_server, fleet)
    camera.enabled = False
    camera.save()
    wait_for(lambda: _owner(camera.pk) is None and read_status(client(), [camera.pk])[camera.pk]["state"] == "stopped", timeout=4)
    count = Segment.objects.filter(camera=camera).count()
    time.sleep(4)
    assert Segment.objects.filter(camera=camera).count() == count  # nothing recorded while disabled

    camera.enabled = True
    camera.save()
    _, new_epoch = wait_for(lambda: _owner(camera.pk), timeout=15)
    wait_for(lambda: Segment.objects.filter(camera=camera, epoch=new_epoch).exists(), timeout=15)
    _check_segments(camera, Path(settings.STORAGE_ROOT))


def _aware(ts: float) -> Any:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC)
