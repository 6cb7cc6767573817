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


def segments_relpath(camera_id: int) -> str:
    """The folder of all a camera's segments, relative to STORAGE_ROOT."""
    return f"segments/{camera_id}"


def segment_relpath(camera_id: int, start: datetime) -> str:
    """``segments/<camera>/<YYYY-MM-DD>/<HH>/<start>.mp4`` (UTC), relative to STORAGE_ROOT."""
    start = start.astimezone(UTC)
    return f"{segments_relpath(camera_id)}/{start:%Y-%m-%d}/{start:%H}/{start:%Y%m%dT%H%M%S}.{start.microsecond // 1000:03d}Z.mp4"


def snapshot_path(camera_id: int) -> Path:
    """The camera's latest picture, refreshed by its capture loop."""
    return Path(settings.STORAGE_ROOT) / "snapshots" / "live" / f"{camera_id}.jpg"


def keyframe_path(camera_id: int) -> Path:
    """The keyframe the camera's picture is decoded from (workers.snapshots)."""
    return snapshot_path(camera_id).with_suffix(".key")


def spool_dir(storage_root: Path, camera_id: int) -> Path:
    """Where segments left unrecorded by a stopping owner wait for the next one (workers.spool)."""
    return storage_root / "spool" / str(camera_id)


def camera_relpaths(camera_id: int) -> list[str]:
    """Everything stored under a camera's id (its alarms' media aside), relative to STORAGE_ROOT:
    what its deletion leaves behind for the supervisor to remove."""
    root = Path(settings.STORAGE_ROOT)
    owned = [spool_dir(root, camera_id), snapshot_path(camera_id), keyframe_path(camera_id)]
    return [segments_relpath(camera_id), *(str(path.relative_to(root)) for path in owned)]
