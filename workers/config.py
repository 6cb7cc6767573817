"""Workers read configuration from Redis, never from MySQL (DESIGN §7).

The last good copy of each camera's config is kept on local disk, so a worker keeps working (and
can start) while Redis is unreachable. A config that fails validation is refused and the
previous one stays in force.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

import redis
from django.conf import settings
from pydantic import ValidationError

from analytics.config import CameraConfig, ConfigSnapshot, DetectorModelConfig
from controlplane.core.redis import client, key
from workers.storage import write_atomically

logger = logging.getLogger(__name__)


class CameraGone(Exception):
    """The published configuration no longer has this camera."""


def _cache_path(camera_id: int) -> Path:
    return Path(settings.VAR_DIR) / "worker-cache" / f"camera-{camera_id}.json"


def _remember(camera_id: int, raw: bytes) -> None:
    write_atomically(_cache_path(camera_id), raw)


def camera_config(camera_id: int) -> tuple[int, CameraConfig]:
    """(version, config) of a camera: from Redis, else from the local copy. CameraGone if deleted."""
    try:
        r = client()
        raw: Any = r.get(key("config", "camera", camera_id))
        published: Any = r.get(key("config", "version"))
    except redis.RedisError as exc:
        path = _cache_path(camera_id)
        if not path.exists():
            raise
        logger.warning("camera %s: Redis unreachable (%s); using the local copy of its config", camera_id, exc)
        raw, published = path.read_bytes(), b"1"
    if raw is None:
        if published is None:
            raise redis.RedisError("no configuration published yet (run manage.py publish_config)")
        raise CameraGone(camera_id)
    data = json.loads(raw)
    try:
        config = CameraConfig.model_validate(data["camera"])
    except ValidationError as exc:
        raise ValueError(f"camera {camera_id}: published config v{data['version']} is invalid: {exc}") from None
    _remember(camera_id, raw)
    return int(data["version"]), config


def camera_config_at(camera_id: int, when: datetime) -> tuple[int, CameraConfig]:
    """(version, config) of a camera as it was in force at ``when``: the latest revision created at
    or before it. Used by workers.analyze so that a segment is analysed with the zones and bindings
    of its own time, also when it is re-analysed or analysed late, after an edit.

    The published config (Redis) is used whenever it is that revision, which is the live case, so
    only a segment older than the latest change costs a read of its revision from the database
    (analysis writes there anyway). With no revision that old, or one without this camera (it did
    not exist yet), or one that no longer validates, the published config is used.
    CameraGone if the camera is no longer published.
    """
    from controlplane.configs.models import ConfigRevision  # a Django model: only the analysis worker needs it

    version, current = camera_config(camera_id)
    in_force = ConfigRevision.objects.filter(created_at__lte=when).order_by("-created_at", "-version") \
        .values_list("version", flat=True).first()
    if in_force is None or in_force == version:
        return version, current
    snapshot = ConfigRevision.objects.filter(pk=in_force).values_list("snapshot", flat=True).first()
    try:
        then = ConfigSnapshot.model_validate(snapshot).camera(camera_id)
    except ValidationError as exc:
        logger.warning("camera %s: revision v%s no longer validates (%s); using v%s", camera_id, in_force, exc, version)
        return version, current
    return (in_force, then) if then is not None else (version, current)


def detector_model(model_id: int | None) -> DetectorModelConfig:
    """The camera's model, or the default one, from the published snapshot (local copy if Redis is down)."""
    path = Path(settings.VAR_DIR) / "worker-cache" / "snapshot.json"
    try:
        raw: Any = client().get(key("config", "snapshot"))
        if raw is None:
            raise redis.RedisError("no configuration published yet (run manage.py publish_config)")
        write_atomically(path, raw)
    except redis.RedisError:
        if not path.exists():
            raise
        raw = path.read_bytes()
    models = ConfigSnapshot.model_validate_json(raw).models
    chosen = next((m for m in models if m.id == model_id), None) or next((m for m in models if m.is_default), None)
    if chosen is None:
        raise LookupError("no detector model is registered (manage.py register_model, or the assets' migration)")
    return chosen
