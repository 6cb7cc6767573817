"""Publishing compiled configuration to Redis, where workers read it (DESIGN §7).

Keys (under REDIS_PREFIX, default ``panoptes``):
- ``config:version``          the published version (int)
- ``config:snapshot``         the whole ConfigSnapshot as JSON
- ``config:camera:<id>``      {"version": N, "camera": CameraConfig} per camera (deleted when the camera goes)
- ``config:changes``          a stream of events {version, scope: full|camera, camera_id, deleted}

A publish never moves the version backwards: an older revision arriving late is ignored.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

import redis

from analytics.config import ConfigSnapshot
from controlplane.core.redis import client, key

logger = logging.getLogger(__name__)

STREAM_MAXLEN = 10_000  # events kept: workers that fall further behind reload the whole snapshot


@dataclass(frozen=True)
class Changes:
    """What a new version changes: cameras changed or added, cameras deleted, global (models) change."""

    cameras: set[int] = field(default_factory=set)
    deleted: set[int] = field(default_factory=set)
    full: bool = False


def publish(new: ConfigSnapshot, changes: Changes) -> bool:
    """Write ``new`` to Redis unless a newer version is already there. True if written.

    One event per changed or deleted camera; a "full" event when something global changed (or
    nothing camera-specific did), so a worker can reload everything.
    """
    r = client()
    changed, deleted, global_change = changes.cameras, changes.deleted, changes.full
    events: list[dict[Any, Any]] = [
        {"version": str(new.version), "scope": "camera", "camera_id": str(cid), "deleted": "0"} for cid in sorted(changed)
    ] + [{"version": str(new.version), "scope": "camera", "camera_id": str(cid), "deleted": "1"} for cid in sorted(deleted)]
    if global_change or not events:
        events.append({"version": str(new.version), "scope": "full", "camera_id": "", "deleted": "0"})
    version_key = key("config", "version")
    with r.pipeline() as pipe:
        while True:
            try:
                pipe.watch(version_key)  # type: ignore[no-untyped-call]
                current = pipe.get(version_key)
                if current is not None and int(current) >= new.version:
                    return False
                pipe.multi()
                pipe.set(key("config", "snapshot"), new.model_dump_json())
                for cam in new.cameras:
                    pipe.set(key("config", "camera", cam.id), json.dumps({"version": new.version, "camera": cam.model_dump(mode="json")}))
                for cid in deleted:
                    pipe.delete(key("config", "camera", cid))
                for event in events:
                    pipe.xadd(key("config", "changes"), event, maxlen=STREAM_MAXLEN, approximate=True)
                pipe.set(version_key, new.version)
                pipe.execute()
                return True
            except redis.WatchError:
                continue


def published_version() -> int | None:
    raw = client().get(key("config", "version"))
    return int(raw) if raw is not None else None


def read_snapshot() -> ConfigSnapshot | None:
    raw = client().get(key("config", "snapshot"))
    return ConfigSnapshot.model_validate_json(raw) if raw else None
