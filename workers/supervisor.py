"""The supervisor's work (beat tasks on the `control` queue; DESIGN §4).

- ``reconcile``: every enabled camera without a live lease and without a pending dispatch gets a
  ``capture_camera`` task; config missing from Redis (a Redis restart) is republished from MySQL;
  segments whose announcement failed are announced again.
- ``apply_retention``: deletes segments older than their camera's retention, except those an
  alarm still needs for its replay, and ``.part`` leftovers of crashed recorders.
"""
from __future__ import annotations

import logging
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import Exists, OuterRef
from django.utils import timezone

from controlplane.alarms.choices import ReplayStatus
from controlplane.alarms.models import Alarm
from controlplane.cameras.models import Camera, Segment
from controlplane.configs import publish as publisher
from controlplane.configs.actions import ensure_published
from controlplane.core.redis import client, key
from workers.capture import announce
from workers.leases import lease_key

logger = logging.getLogger(__name__)

#: Replays need this much around an alarm's event (pre/post-roll are at most 120 s, plus a GOP).
REPLAY_MARGIN = timedelta(seconds=130)
PART_FILE_MAX_AGE = 600  # seconds: a .part file this old belongs to a recorder that died


def reconcile() -> dict[str, int]:
    from workers.tasks import capture_camera

    r = client()
    if publisher.published_version() is None:
        ensure_published()
    snapshot = publisher.read_snapshot()
    dispatched = 0
    for camera in snapshot.cameras if snapshot else []:
        if not camera.enabled or r.exists(lease_key(camera.id)):
            continue
        # A pending dispatch blocks another one until a worker could have claimed the camera.
        if r.set(key("cam", camera.id, "dispatch"), "1", nx=True, ex=max(settings.LEASE_TTL, 3 * settings.RECONCILE_SECONDS)):
            capture_camera.apply_async(args=[camera.id], queue="capture")
            dispatched += 1
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
        expired = (
            Segment.objects.filter(camera=camera, end_time__lt=now - timedelta(hours=camera.retention_hours))
            .exclude(Exists(needed_by_alarm))
            .order_by("seq")
        )
        for segment in expired.iterator():
            (root / segment.path).unlink(missing_ok=True)
            segment.delete()
            deleted += 1
    cutoff = time.time() - PART_FILE_MAX_AGE
    for part in (root / "segments").glob("*/*/*/.*.part"):
        if part.stat().st_mtime < cutoff:
            part.unlink(missing_ok=True)
    if deleted:
        logger.info("retention: deleted %d segment(s)", deleted)
    return deleted
