"""Retention (the supervisor's beat task): expired segments go with their files, segments a pending
replay needs stay, and what deleted cameras and alarms left on storage is swept."""
from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from test_alarm_delivery import make_alarm

from analytics.detectors.store import detections_path
from workers.storage import segment_relpath
from workers.supervisor import ORPHAN_MIN_AGE, PART_FILE_MAX_AGE, apply_retention


def age(path: Path, seconds: float) -> Path:
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


@pytest.fixture
def storage(live_db: Any, settings: Any, tmp_path: Path) -> Path:
    settings.STORAGE_ROOT = tmp_path
    return tmp_path


def record(camera: Any, start: Any, root: Path) -> Any:
    """A 5 s segment's row, its video and its detections file, as capture and detection leave them."""
    from controlplane.cameras.models import Camera, Segment

    relative = segment_relpath(camera.pk, start)
    video = root / relative
    video.parent.mkdir(parents=True, exist_ok=True)
    video.write_bytes(b"video")
    detections_path(video).write_bytes(b"detections")
    return Segment.record(camera_id=camera.pk, epoch=Camera.bump_epoch(camera.pk), start_time=start,
                          end_time=start + timedelta(seconds=5), path=relative, size_bytes=5)


def test_expired_segments_go_with_their_detections_and_emptied_folders(storage: Path) -> None:
    from django.utils import timezone

    from controlplane.cameras.models import Camera, Segment

    camera = Camera.objects.create(name="gate", stream_url="rtsp://10.0.0.1/s", retention_hours=24)
    now = timezone.now()
    old = record(camera, now - timedelta(hours=30), storage)
    fresh = record(camera, now - timedelta(hours=1), storage)

    assert apply_retention(now) == 1

    assert list(Segment.objects.values_list("pk", flat=True)) == [fresh.pk]
    gone = storage / old.path
    assert not gone.exists() and not detections_path(gone).exists()
    assert not gone.parent.exists() and not gone.parent.parent.exists()  # its hour and day folders, emptied
    assert (storage / fresh.path).exists() and detections_path(storage / fresh.path).exists()
    assert (storage / "segments" / str(camera.pk)).is_dir()


def test_segments_a_pending_replay_needs_are_kept_until_it_is_cut(storage: Path) -> None:
    from django.utils import timezone

    from controlplane.alarms.choices import ReplayStatus
    from controlplane.alarms.models import Alarm
    from controlplane.cameras.models import Camera, Segment

    camera = Camera.objects.create(name="dock", stream_url="rtsp://10.0.0.1/s", retention_hours=1)
    now = timezone.now()
    start = now - timedelta(hours=5)
    needed = record(camera, start, storage)
    alarm = make_alarm(camera, event_time=start + timedelta(seconds=2))
    assert alarm.replay_status == ReplayStatus.PENDING

    assert apply_retention(now) == 0
    assert Segment.objects.filter(pk=needed.pk).exists() and (storage / needed.path).exists()

    Alarm.objects.filter(pk=alarm.pk).update(replay_status=ReplayStatus.READY)
    assert apply_retention(now) == 1
    assert not (storage / needed.path).exists()


def test_leftovers_of_deleted_cameras_and_alarms_are_swept_once_they_are_old(storage: Path) -> None:
    from django.utils import timezone

    from controlplane.alarms.models import Alarm
    from controlplane.cameras.models import Camera, StorageLeftover

    kept = Camera.objects.create(name="kept", stream_url="rtsp://10.0.0.1/a")
    deleted = Camera.objects.create(name="deleted", stream_url="rtsp://10.0.0.1/b")
    now = timezone.now()
    files: dict[str, list[Path]] = {}
    for name, camera in (("kept", kept), ("deleted", deleted)):
        segment = record(camera, now - timedelta(minutes=30), storage)
        spooled = storage / "spool" / str(camera.pk) / "x.mp4.json"
        spooled.parent.mkdir(parents=True)
        live = storage / "snapshots" / "live"
        live.mkdir(parents=True, exist_ok=True)
        alarm = make_alarm(camera)
        media = [storage / "alarms" / str(alarm.pk // 1000) / f"{alarm.pk}{suffix}" for suffix in (".jpg", ".mp4")]
        Alarm.objects.filter(pk=alarm.pk).update(snapshot_path=str(media[0].relative_to(storage)),
                                                  replay_path=str(media[1].relative_to(storage)))
        files[name] = [storage / segment.path, spooled, live / f"{camera.pk}.jpg", live / f"{camera.pk}.key", *media]
        for path in files[name][1:]:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"x")
    alone = make_alarm(kept, snapshot_path="alarms/0/alone.jpg")  # an alarm deleted on its own
    (storage / alone.snapshot_path).write_bytes(b"x")
    never_here = storage / "segments" / "999"  # a camera this database never had: not its to delete
    never_here.mkdir()
    deleted_id = deleted.pk
    deleted.delete()  # its segments and alarms go with it (cascade), its files stay
    Alarm.objects.filter(pk=alone.pk).delete()
    assert StorageLeftover.objects.count() == 4 + 2 + 1

    # Just deleted: left alone (a capture loop may still be writing its last file),
    apply_retention(now)
    assert all(path.exists() for path in files["deleted"]) and (storage / alone.snapshot_path).exists()

    # and swept once the listing is old; nothing else is touched.
    StorageLeftover.objects.update(deleted_at=now - timedelta(seconds=ORPHAN_MIN_AGE + 60))
    apply_retention(now)
    assert not any(path.exists() for path in files["deleted"]) and not (storage / alone.snapshot_path).exists()
    assert not (storage / "segments" / str(deleted_id)).exists() and not (storage / "spool" / str(deleted_id)).exists()
    assert all(path.exists() for path in files["kept"]) and never_here.is_dir()
    assert not StorageLeftover.objects.exists()


def test_a_delete_that_rolls_back_lists_nothing(storage: Path) -> None:
    from django.db import transaction

    from controlplane.cameras.models import Camera, StorageLeftover

    camera = Camera.objects.create(name="gate", stream_url="rtsp://10.0.0.1/a")
    with pytest.raises(RuntimeError), transaction.atomic():
        camera.delete()
        raise RuntimeError("changed my mind")
    assert Camera.objects.filter(name="gate").exists() and not StorageLeftover.objects.exists()


def test_part_files_of_dead_recorders_are_removed_when_old(storage: Path) -> None:
    folder = storage / "segments" / "1" / "2026-11-23" / "12"
    folder.mkdir(parents=True)
    dead = folder / ".20261123T120000.000Z.mp4.part"
    dead.write_bytes(b"x")
    age(dead, PART_FILE_MAX_AGE + 60)
    writing = folder / ".20261123T120005.000Z.mp4.part"
    writing.write_bytes(b"x")
    apply_retention()
    assert writing.exists() and not dead.exists()



def test_a_camera_whose_segment_cannot_be_removed_does_not_stop_the_others(storage: Path, caplog: Any) -> None:
    from django.utils import timezone

    from controlplane.cameras.models import Camera, Segment

    now = timezone.now()
    stuck = Camera.objects.create(name="a-stuck", stream_url="rtsp://10.0.0.1/a", retention_hours=1)  # first by name
    fine = Camera.objects.create(name="b-fine", stream_url="rtsp://10.0.0.1/b", retention_hours=1)
    blocked = record(stuck, now - timedelta(hours=3), storage)
    (storage / blocked.path).unlink()
    (storage / blocked.path).mkdir()  # where the video should be, a folder with something in it: unlink fails
    (storage / blocked.path / "x").write_bytes(b"x")
    later = record(stuck, now - timedelta(hours=2), storage)
    other = record(fine, now - timedelta(hours=3), storage)

    assert apply_retention(now) == 2

    assert list(Segment.objects.values_list("pk", flat=True)) == [blocked.pk]  # kept, to be tried again
    assert not (storage / later.path).exists() and not (storage / other.path).exists()
    assert f"camera {stuck.pk} segment {blocked.seq}" in caplog.text


def test_reconcile_dispatches_the_other_cameras_when_one_dispatch_fails(live_db: Any, monkeypatch: Any, caplog: Any) -> None:
    from controlplane.cameras.models import Camera
    from workers import supervisor, tasks

    cameras = [Camera.objects.create(name=f"cam{i}", stream_url=f"rtsp://10.0.0.{i + 1}/s") for i in range(3)]
    sent: list[int] = []

    def apply_async(args: list[int], queue: str) -> None:
        # A broker that refuses one message cannot be made here: this stands in for it.
        if args[0] == cameras[0].pk:
            raise ConnectionError("broker refused the message")
        sent.append(args[0])

    monkeypatch.setattr(tasks.capture_camera, "apply_async", apply_async)

    assert supervisor.reconcile()["dispatched"] == 2

    assert sorted(sent) == [cameras[1].pk, cameras[2].pk]
    assert f"camera {cameras[0].pk} not dispatched" in caplog.text
