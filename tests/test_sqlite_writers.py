"""The embedded SQLite default takes one capture worker's dozens of writer threads (bench/RESULTS.md)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Run in a process of its own: Django set up on a fresh SQLite file (the suite itself runs on MariaDB).
WRITERS = """
import json, threading
import django
django.setup()
from django.core.management import call_command
from django.db import DatabaseError, connection
from datetime import UTC, datetime, timedelta
call_command("migrate", verbosity=0)
from controlplane.cameras.models import Camera, Segment

cameras = [Camera.objects.create(name=f"c{i}", stream_url=f"rtsp://10.0.0.1/{i}") for i in range(24)]
epochs = {c.pk: Camera.bump_epoch(c.pk) for c in cameras}
errors = []
start = datetime(2026, 11, 23, 12, tzinfo=UTC)

def record(camera_id):
    try:
        for k in range(15):  # what a capture loop does per segment: Segment.record, then mark it announced
            t = start + timedelta(seconds=5 * k)
            row = Segment.record(camera_id=camera_id, epoch=epochs[camera_id], start_time=t, end_time=t + timedelta(seconds=5),
                                 path=f"segments/{camera_id}/{k}.mp4", size_bytes=1)
            Segment.objects.filter(pk=row.pk).update(announced_at=t)
            Segment.objects.filter(camera_id=camera_id).count()  # a reader meanwhile
    except DatabaseError as exc:
        errors.append(str(exc))
    finally:
        connection.close()

threads = [threading.Thread(target=record, args=(c.pk,)) for c in cameras]
for t in threads: t.start()
for t in threads: t.join()
mode = connection.cursor().execute("PRAGMA journal_mode").fetchone()[0]
print(json.dumps({"errors": errors[:3], "failed": len(errors), "rows": Segment.objects.count(), "journal_mode": mode}))
"""


def test_many_threads_record_segments_on_sqlite_without_database_is_locked(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PANOPTES_ENV")}
    env.update({"PANOPTES_VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "controlplane.settings", "PYTHONPATH": str(ROOT)})
    result = subprocess.run([sys.executable, "-c", WRITERS], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])

    assert outcome["failed"] == 0, outcome["errors"]
    assert outcome["rows"] == 24 * 15
    assert outcome["journal_mode"] == "wal"
