"""The supervisor's work (beat tasks on the `control` queue; DESIGN §4).

- ``reconcile``: every enabled camera without a live lease and without a pending dispatch gets a
  ``capture_camera`` task; config missing from Redis (a Redis restart) is republished from MySQL;
  segments whose announcement failed are announced again.
- ``apply_retention``: deletes segments older than their camera's retention (the video, its
  detections file, and hour/day folders left empty), except those an alarm still needs for its
  replay, and ``.part`` leftovers of crashed recorders; and what deleted cameras and alarms left on
  storage (listed at deletion as StorageLeftover): segment and spool folders, live pictures, alarm media.

Every loop over cameras, segments or leftovers logs what fails for one of them, with its id, and
goes on with the others: one camera must never stop another camera's recording or retention
(a segment file that could not be removed once stopped retention for all, and the disks filled).
"""
from __future__ import annotations

import logging
import shutil
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import Exists, OuterRef
from django.utils import timezone

from analytics.detectors.store import detections_path
from controlplane.alarms.choices import ReplayStatus
from controlplane.alarms.models import Alarm
from controlplane.cameras.models import Camera, Segment, StorageLeftover
from controlplane.configs import publish as publisher
from controlplane.configs.actions import ensure_published
from controlplane.core.redis import client, key
from workers.capture import announce
from workers.leases import lease_key

logger = logging.getLogger(__name__)

#: Replays need this much around an alarm's event (pre/post-roll are at most 120 s, plus a GOP).
REPLAY_MARGIN = timedelta(seconds=130)
PART_FILE_MAX_AGE = 600  # seconds: a .part file this old belongs to a recorder that died
# Seconds a deleted camera's or alarm's files are left alone: a capture loop notices the deletion
# within a second or two, so the sweep never races the last file it writes.
ORPHAN_MIN_AGE = 600


def reconcile() -> dict[str, int]:
    from workers.tasks import capture_camera

    r = client()
    if publisher.published_version() is None:
        ensure_published()
    snapshot = publisher.read_snapshot()
    dispatched = 0
    for camera in snapshot.cameras if snapshot else []:
        try:
            if not camera.enabled or r.exists(lease_key(camera.id)):
                continue
            # A pending dispatch blocks another one until a worker could have claimed the camera.
            if r.set(key("cam", camera.id, "dispatch"), "1", nx=True, ex=max(settings.LEASE_TTL, 3 * settings.RECONCILE_SECONDS)):
                capture_camera.apply_async(args=[camera.id], queue="capture")
                dispatched += 1
        except Exception:  # kombu and redis raise many kinds; the next cameras still get theirs
            logger.exception("reconcile: camera %s not dispatched; going on with the others", camera.id)
    reannounced = 0
    stale = timezone.now() - timedelta(seconds=30)
    for segment in Segment.objects.filter(announced_at=None, created_at__lt=stale).order_by("id")[:500]:
        announce(segment)
        reannounced += 1
    if dispatched or reannounced:
        logger.info("reconcile: dispatched %d camera(s), re-announced %d segment(s)", dispatched, reannounced)
    return {"dispatched": dispatched, "reannounced": reannounced}


def apply_retention(now: Any = None) -> int:
    """Delete expired segments (rows and files); returns how many."""
    now = now or timezone.now()
    root = Path(settings.STORAGE_ROOT)
    needed_by_alarm = Alarm.objects.filter(
        camera_id=OuterRef("camera_id"),
        replay_status=ReplayStatus.PENDING,
        event_time__gte=OuterRef("start_time") - REPLAY_MARGIN,
        event_time__lte=OuterRef("end_time") + REPLAY_MARGIN,
    )
    deleted = 0
    for camera in Camera.objects.only("id", "retention_hours"):
        try:
            deleted += expire_segments(camera, now, root, needed_by_alarm)
        except Exception:
            logger.exception("retention: camera %s failed; going on with the other cameras", camera.pk)
    cutoff = time.time() - PART_FILE_MAX_AGE
    for part in (root / "segments").glob("*/*/*/.*.part"):
        try:
            if part.stat().st_mtime < cutoff:
                part.unlink(missing_ok=True)
        except OSError as exc:  # renamed by its recorder since the glob, or not ours to remove
            logger.warning("retention: %s not removed (%s)", part, exc)
    orphans = sweep_deleted(root)
    if deleted or orphans:
        logger.info("retention: deleted %d segment(s); removed %d leftover(s) of deleted cameras and alarms", deleted, orphans)
    return deleted


def expire_segments(camera: Camera, now: Any, root: Path, needed_by_alarm: Any) -> int:
    """Delete one camera's segments older than its retention; returns how many.

    A segment whose files cannot be removed keeps its row (so it is tried again next time) and
    the camera's later segments still go.
    """
    expired = (
        Segment.objects.filter(camera=camera, end_time__lt=now - timedelta(hours=camera.retention_hours))
        .exclude(Exists(needed_by_alarm))
        .order_by("seq")
    )
    deleted = 0
    for segment in expired.iterator():
        try:
            remove_segment_files(root / segment.path)
        except OSError as exc:
            logger.warning("retention: camera %s segment %s: files not removed (%s); kept for the next run",
                           camera.pk, segment.seq, exc)
            continue
        segment.delete()
        deleted += 1
    return deleted


def remove_segment_files(path: Path) -> None:
    """A segment's video and detections, then its hour and day folders if that emptied them
    (retention is at least an hour, so no recorder is writing there)."""
    path.unlink(missing_ok=True)
    detections_path(path).unlink(missing_ok=True)
    for folder in (path.parent, path.parent.parent):
        try:
            folder.rmdir()
        except OSError:  # not empty (or already gone)
            break


def sweep_deleted(root: Path) -> int:
    """Remove the files of deleted cameras and alarms (``StorageLeftover``, listed when they were
    deleted) once the listing is ORPHAN_MIN_AGE old; returns how many paths were removed."""
    cutoff = timezone.now() - timedelta(seconds=ORPHAN_MIN_AGE)
    removed = 0
    for leftover in StorageLeftover.objects.filter(deleted_at__lt=cutoff).order_by("pk")[:5000]:
        relative = Path(leftover.path)
        try:
            if relative.is_absolute() or ".." in relative.parts or not relative.parts:
                logger.warning("retention: not removing %r: not a path under the storage root", leftover.path)
            elif (root / relative).is_dir():
                shutil.rmtree(root / relative, ignore_errors=True)
            else:
                (root / relative).unlink(missing_ok=True)
        except OSError as exc:  # kept, and tried again next time; the other leftovers go on
            logger.warning("retention: leftover %s not removed (%s)", leftover.path, exc)
            continue
        leftover.delete()
        removed += 1
    return removed
