"""Fencing on MariaDB: a stale owner's segments are refused; seq never repeats across owners."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest


def _segment(minute: int) -> dict[str, Any]:
    start = datetime(2026, 11, 23, 12, minute, tzinfo=UTC)
    return {"start_time": start, "end_time": start + timedelta(seconds=5), "path": f"segments/x/{minute}.mp4", "size_bytes": 1}


def test_a_stale_epoch_cannot_record_and_seq_continues_across_owners(live_db: Any) -> None:
    from controlplane.cameras.models import Camera, Segment, StaleEpochError

    camera = Camera.objects.create(name="fenced", stream_url="rtsp://10.0.0.1/s")
    old_epoch = Camera.bump_epoch(camera.pk)
    assert Segment.record(camera_id=camera.pk, epoch=old_epoch, **_segment(0)).seq == 1

    new_epoch = Camera.bump_epoch(camera.pk)  # another worker takes the camera over
    with pytest.raises(StaleEpochError):
        Segment.record(camera_id=camera.pk, epoch=old_epoch, **_segment(1))
    assert Segment.record(camera_id=camera.pk, epoch=new_epoch, **_segment(2)).seq == 2
    assert list(Segment.objects.values_list("seq", "epoch")) == [(1, old_epoch), (2, new_epoch)]


def test_saving_a_camera_never_rolls_its_epoch_back(live_db: Any) -> None:
    from controlplane.cameras.models import Camera

    camera = Camera.objects.create(name="c", stream_url="rtsp://10.0.0.1/s")
    Camera.bump_epoch(camera.pk)  # a worker, while an operator edits the stale copy below
    camera.enabled = False
    camera.save()
    camera.refresh_from_db()
    assert camera.epoch == 1 and camera.enabled is False
