"""Per-camera capture status in Redis, read by the API (DESIGN §4).

A hash ``<prefix>:cam:<id>:status`` refreshed by the owner about once a second; it expires
shortly after its owner stops refreshing it, so a dead worker's camera shows as ``unknown``.
"""
from __future__ import annotations

import time
from enum import StrEnum
from typing import Any

import redis

from controlplane.core.redis import key

STATUS_TTL = 30  # seconds a status outlives its last refresh


class CaptureState(StrEnum):
    CONNECTING = "connecting"
    STREAMING = "streaming"
    BACKOFF = "backoff"
    STOPPED = "stopped"
    UNKNOWN = "unknown"  # no live status (no owner, or the owner died)


def status_key(camera_id: int) -> str:
    return key("cam", camera_id, "status")


def write_status(client: redis.Redis, camera_id: int, fields: dict[str, Any]) -> None:
    values: dict[Any, Any] = {k: ("" if v is None else str(v)) for k, v in fields.items()}
    values["updated_at"] = f"{time.time():.3f}"
    with client.pipeline(transaction=False) as pipe:
        pipe.hset(status_key(camera_id), mapping=values)
        pipe.expire(status_key(camera_id), STATUS_TTL)
        pipe.execute()


def read_status(client: redis.Redis, camera_ids: list[int]) -> dict[int, dict[str, str]]:
    with client.pipeline(transaction=False) as pipe:
        for cid in camera_ids:
            pipe.hgetall(status_key(cid))
        rows = pipe.execute()
    result = {}
    for cid, row in zip(camera_ids, rows, strict=True):
        decoded = {k.decode(): v.decode() for k, v in row.items()}
        result[cid] = decoded or {"state": CaptureState.UNKNOWN.value}
    return result
