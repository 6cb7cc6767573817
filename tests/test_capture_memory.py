"""A capture task keeps nothing per recorded segment (issue 19: its worker grew ~1 KB a segment).

The loops run as the capture worker runs them: the Celery task ``capture_camera`` executing in a
thread (``apply`` sets up the worker's task context, so tasks it sends see it as their parent),
recording real RTSP streams into 1 s segments with real MariaDB and Redis. Python objects are
counted by type after a warm-up and again a few hundred segments later: a kind that grows with the
number of segments is kept per segment. Counts, not bytes or timings: they do not depend on the
machine's load or the allocator.
"""
from __future__ import annotations

import gc
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from capture_helpers import clear_lease_grace, wait_for

CAMERAS = 10
WARM_UP_SEGMENTS = 4 * CAMERAS  # every camera connected, settled and past its first segments
MEASURED_SEGMENTS = 300
# A kind kept per segment grows by one (or more) per segment; what is merely in flight in the
# 10 loops at the moment of counting varies by far less than one per four segments.
ALLOWED_GROWTH = MEASURED_SEGMENTS // 4
# The suspects of issue 19, named in the failure message: Celery results of sending tasks,
# PyAV objects, Django query state, log records, the recorder's and the model's segments.
SUSPECTS = ("celery.", "kombu.", "av.", "django.db.", "logging.", "workers.", "controlplane.")


@pytest.fixture
def capture_db(live_db: Any, settings: Any, tmp_path: Path) -> Any:
    settings.STORAGE_ROOT = tmp_path / "storage"
    clear_lease_grace()
    return live_db


def live_objects() -> Counter[str]:
    """Objects tracked by the garbage collector, by qualified type name."""
    gc.collect()
    return Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.get_objects())


class CaptureTasks:
    """``capture_camera`` tasks running in threads, as the capture worker's threads pool runs them."""

    def __init__(self, camera_ids: list[int]) -> None:
        from workers.celery import app
        from workers.tasks import capture_camera

        app.finalize(auto=True)  # binds the tasks once, here: threads finalizing at once race (as a worker never does)
        self.errors: list[BaseException] = []

        def run(camera_id: int) -> None:
            from django.db import connection

            try:
                result = capture_camera.apply(args=[camera_id], throw=True)
                result.get()
            except BaseException as exc:  # surfaced by stop()
                self.errors.append(exc)
            finally:
                connection.close()

        self.threads = [threading.Thread(target=run, args=(cid,), daemon=True) for cid in camera_ids]
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        from workers.capture import SHUTDOWN

        SHUTDOWN.set()  # what the worker's shutdown signal does (workers.tasks)
        try:
            for thread in self.threads:
                thread.join(20)
        finally:
            SHUTDOWN.clear()
        assert not any(t.is_alive() for t in self.threads), "a capture loop did not stop"
        if self.errors:
            raise self.errors[0]


def test_a_capture_task_keeps_no_objects_per_recorded_segment(capture_db: Any, rtsp_server: Any) -> None:
    from controlplane.cameras.models import Camera, Segment

    # Given capture tasks recording 10 cameras into 1 s segments (GOP 1 s), past their warm-up
    ids = [Camera.objects.create(name=f"memory-{i}", stream_url=rtsp_server.url("onebyone"), segment_seconds=1).pk
           for i in range(CAMERAS)]
    tasks = CaptureTasks(ids)
    try:
        def recorded() -> int:
            return Segment.objects.filter(camera_id__in=ids).count()

        wait_for(lambda: recorded() >= WARM_UP_SEGMENTS, timeout=60)
        before, first = live_objects(), recorded()

        # When they record a few hundred more (each one announced to the gpu queue)
        wait_for(lambda: recorded() >= first + MEASURED_SEGMENTS, timeout=120, interval=0.5)
        after, last = live_objects(), recorded()
    finally:
        tasks.stop()

    # Then no kind of object grew with them
    growth = {kind: after[kind] - before[kind] for kind in after if after[kind] - before[kind] >= ALLOWED_GROWTH}
    suspects = {kind: after[kind] - before[kind] for kind in after if kind.startswith(SUSPECTS) and after[kind] > before[kind]}
    assert not growth, f"grew over {last - first} segments: {growth}; suspects that grew at all: {suspects}"
    assert Segment.objects.filter(camera_id__in=ids, announced_at=None).count() <= CAMERAS  # they were announced
