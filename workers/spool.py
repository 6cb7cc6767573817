"""Finished segments left unrecorded when their owner stopped while the database was down.

A capture loop that stops (worker shutdown, camera disabled) first keeps trying to record its
held segments for a few seconds (workers.capture.FINAL_FLUSH_SECONDS). What is still held then is
written here, one small JSON file per segment under ``STORAGE_ROOT/spool/<camera>/``, next to the
complete video files, which stay where they are. The camera's next owner records them when it
claims the camera (``CaptureLoop.claim``), in the same transaction that takes its new epoch, and
only those whose epoch is still the camera's current one: that is exactly what the old owner
itself would have been allowed to record at that moment, so fencing holds (a file from an owner
that was replaced is never recorded). Only a host that sees the same storage can find them.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from workers.recorder import FinishedSegment
from workers.storage import spool_dir, write_atomically


@dataclass(frozen=True)
class SpooledSegment:
    entry: Path  # the JSON file
    epoch: int
    fields: dict[str, Any]  # Segment.record's fields: start_time, end_time, path, size_bytes, discontinuity

    @property
    def path(self) -> str:
        return str(self.fields["path"])


def spool(storage_root: Path, camera_id: int, epoch: int, segment: FinishedSegment) -> Path:
    """Write one entry (under a temporary name, then renamed: never read half-written)."""
    entry = spool_dir(storage_root, camera_id) / f"{segment.path.name}.json"
    data = {
        "epoch": epoch, "path": segment.relative_path, "start_time": segment.start_time.isoformat(),
        "end_time": segment.end_time.isoformat(), "size_bytes": segment.size_bytes, "discontinuity": segment.discontinuity,
    }
    write_atomically(entry, json.dumps(data).encode())
    return entry


def spooled(storage_root: Path, camera_id: int) -> list[SpooledSegment]:
    """A camera's entries, oldest segment first."""
    found = []
    for entry in spool_dir(storage_root, camera_id).glob("*.json"):
        data = json.loads(entry.read_text())
        fields = {
            "path": data["path"], "start_time": datetime.fromisoformat(data["start_time"]),
            "end_time": datetime.fromisoformat(data["end_time"]), "size_bytes": int(data["size_bytes"]),
            "discontinuity": bool(data["discontinuity"]),
        }
        found.append(SpooledSegment(entry, int(data["epoch"]), fields))
    return sorted(found, key=lambda s: s.fields["start_time"])
