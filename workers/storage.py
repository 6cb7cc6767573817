"""Where files live under STORAGE_ROOT (DESIGN §3). Light: imported by the web process too."""
from __future__ import annotations

import os
import threading
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings


def write_atomically(path: Path, data: bytes) -> None:
    """Write under a temporary name, then rename: readers never see half a file. The temporary name
    is per process and thread, since a worker's threads may write the same file at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.part")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def segment_relpath(camera_id: int, start: datetime) -> str:
    """``segments/<camera>/<YYYY-MM-DD>/<HH>/<start>.mp4`` (UTC), relative to STORAGE_ROOT."""
    start = start.astimezone(UTC)
    return f"segments/{camera_id}/{start:%Y-%m-%d}/{start:%H}/{start:%Y%m%dT%H%M%S}.{start.microsecond // 1000:03d}Z.mp4"


def snapshot_path(camera_id: int) -> Path:
    """The camera's latest picture, refreshed by its capture loop."""
    return Path(settings.STORAGE_ROOT) / "snapshots" / "live" / f"{camera_id}.jpg"
