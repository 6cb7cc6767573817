"""Where files live under STORAGE_ROOT (DESIGN §3). Light: imported by the web process too."""
from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings


def segment_relpath(camera_id: int, start: datetime) -> str:
    """``segments/<camera>/<YYYY-MM-DD>/<HH>/<start>.mp4`` (UTC), relative to STORAGE_ROOT."""
    start = start.astimezone(UTC)
    return f"segments/{camera_id}/{start:%Y-%m-%d}/{start:%H}/{start:%Y%m%dT%H%M%S}.{start.microsecond // 1000:03d}Z.mp4"


def snapshot_path(camera_id: int) -> Path:
    """The camera's latest picture, refreshed by its capture loop."""
    return Path(settings.STORAGE_ROOT) / "snapshots" / "live" / f"{camera_id}.jpg"
