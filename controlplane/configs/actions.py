"""Configuration versions: compile MySQL into a ConfigSnapshot, record a revision, publish it.

Any save or delete of a camera, zone, binding, detector model or site schedules
``record_and_publish`` to run after the transaction commits (signals below). It compiles the
committed state, and creates a revision only when the content differs from the latest one, so a
transaction touching many rows makes one revision, and a rolled-back transaction makes none.
"""
from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

import redis
from django.db import transaction
from django.db.models import Prefetch
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from analytics.config import (
    BindingConfig,
    CameraConfig,
    ConfigSnapshot,
    DetectorModelConfig,
    LineDirection,
    Schedule,
    Severity,
    ZoneConfig,
    ZoneKind,
)
from controlplane.algorithms.models import Algorithm, AlgorithmBinding
from controlplane.cameras.models import Camera, Site
from controlplane.configs import publish as publisher
from controlplane.configs.models import ConfigRevision
from controlplane.core.actor import acting_as, current_actor
from controlplane.core.fields import decrypt, encrypt
from controlplane.detectors.models import DetectorModel
from controlplane.zones.models import Zone

logger = logging.getLogger(__name__)


def compile_snapshot(version: int = 0) -> ConfigSnapshot:
    """The current configuration, from the database, as the workers will see it."""
    bindings = AlgorithmBinding.objects.select_related("algorithm").order_by("id")
    zones = Zone.objects.order_by("id").prefetch_related(Prefetch("bindings", queryset=bindings))
    cameras = Camera.objects.select_related("site").order_by("id").prefetch_related(Prefetch("zones", queryset=zones))
    camera_configs = []
    for cam in cameras:
        cam_zones = list(cam.zones.all())
        camera_configs.append(
            CameraConfig(
                id=cam.pk,
                name=cam.name,
                stream_url=cam.stream_url,
                # Re-encrypted for the snapshot: workers hold the same keys; nothing in Redis is plain.
                credentials=encrypt(cam.credentials) if cam.credentials else None,
                enabled=cam.enabled,
                segment_seconds=cam.segment_seconds,
                detect_fps=cam.detect_fps,
                detect_width=cam.detect_width,
                detect_height=cam.detect_height,
                retention_hours=cam.retention_hours,
                site=cam.site.name if cam.site else None,
                location=cam.location,
                tags=cam.tags,
                detector_model_id=cam.detector_model_id,
                zones=[
                    ZoneConfig(
                        id=z.pk, name=z.name, kind=ZoneKind(z.kind), points=z.points,
                        direction=LineDirection(z.direction), enabled=z.enabled,
                    )
                    for z in cam_zones
                ],
                bindings=[
                    BindingConfig(
                        id=b.pk,
                        zone_id=z.pk,
                        algorithm=b.algorithm.slug,
                        params=b.params,
                        target_classes=b.target_classes,
                        min_score=b.min_score,
                        schedule=Schedule.model_validate(b.schedule),
                        cooldown_seconds=b.cooldown_seconds,
                        severity=Severity(b.severity),
                        enabled=b.enabled,
                    )
                    for z in cam_zones
                    for b in z.bindings.all()
                ],
            )
        )
    models = [
        DetectorModelConfig(
            id=m.pk, name=m.name, onnx_path=m.onnx_path, sha256=m.sha256, input_width=m.input_width,
            input_height=m.input_height, class_names=m.class_names, is_default=m.is_default,
        )
        for m in DetectorModel.objects.order_by("id")
    ]
    return ConfigSnapshot(version=version, created_at=timezone.now(), cameras=camera_configs, models=models)


def camera_fingerprint(camera: CameraConfig) -> str:
    """A hash of a camera's configuration that is equal exactly when the configuration is.

    Credentials are encrypted with a fresh IV at every compile, so they count by plain value.
    """
    data = camera.model_dump(mode="json")
    if data["credentials"]:
        data["credentials"] = hashlib.sha256(decrypt(data["credentials"]).encode()).hexdigest()
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def content_hash(snapshot: ConfigSnapshot) -> str:
    content = {
        "cameras": {str(c.id): camera_fingerprint(c) for c in snapshot.cameras},
        "models": [m.model_dump(mode="json") for m in snapshot.models],
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def diff(old: ConfigSnapshot | None, new: ConfigSnapshot) -> publisher.Changes:
    """What changed between two snapshots, for the change stream."""
    old_prints = {c.id: camera_fingerprint(c) for c in old.cameras} if old else {}
    new_prints = {c.id: camera_fingerprint(c) for c in new.cameras}
    return publisher.Changes(
        cameras={cid for cid, fp in new_prints.items() if old_prints.get(cid) != fp},
        deleted=set(old_prints) - set(new_prints),
        full=old is None or old.models != new.models,
    )


def latest_revision() -> ConfigRevision | None:
    return ConfigRevision.objects.order_by("-version").first()


def record_revision(*, force: bool = False, restored_from: ConfigRevision | None = None) -> ConfigRevision | None:
    """Create a revision of the current configuration if it changed (or ``force``); None if not."""
    actor = current_actor()
    with transaction.atomic():
        snapshot = compile_snapshot()
        digest = content_hash(snapshot)
        latest = ConfigRevision.objects.select_for_update().order_by("-version").first()
        if latest is not None and latest.content_hash == digest and not force:
            return None
        user = actor.user if getattr(actor.user, "pk", None) else None
        revision = ConfigRevision.objects.create(
            author=user,
            author_name=user.get_username() if user else "system",
            comment=actor.comment,
            snapshot={},
            content_hash=digest,
            restored_from=restored_from,
        )
        revision.snapshot = snapshot.model_copy(update={"version": revision.version}).model_dump(mode="json")
        revision.save(update_fields=["snapshot"])
        previous = latest
        transaction.on_commit(lambda: publish_revision(revision, previous))
    return revision


def publish_revision(revision: ConfigRevision, previous: ConfigRevision | None = None) -> bool:
    """Publish a revision to Redis; a Redis outage is logged, and ``ensure_published`` repairs it."""
    try:
        old = ConfigSnapshot.model_validate(previous.snapshot) if previous else publisher.read_snapshot()
        new = ConfigSnapshot.model_validate(revision.snapshot)
        done = publisher.publish(new, diff(old, new))
    except redis.RedisError as exc:
        logger.warning("config v%s recorded but not published (Redis: %s); will republish", revision.version, exc)
        return False
    if done:
        logger.info("published config v%s", revision.version)
    return done


def ensure_published() -> int | None:
    """Publish the latest revision if Redis lacks it (after a Redis restart, or a failed publish).

    Used by ``manage.py publish_config`` and the supervisor. Returns the version now in Redis.
    """
    revision = latest_revision() or record_revision(force=True)
    assert revision is not None
    if publisher.published_version() != revision.version:
        publish_revision(revision)
    return publisher.published_version()


def record_and_publish() -> None:
    record_revision()


def _on_config_change(sender: Any, **kwargs: Any) -> None:
    if kwargs.get("raw"):  # loaddata
        return
    transaction.on_commit(record_and_publish)


for _model in (Camera, Zone, AlgorithmBinding, DetectorModel, Site):
    post_save.connect(_on_config_change, sender=_model, dispatch_uid=f"config-save-{_model.__name__}")
    post_delete.connect(_on_config_change, sender=_model, dispatch_uid=f"config-delete-{_model.__name__}")


# --- rollback ----------------------------------------------------------------------------------
@transaction.atomic
def restore(revision: ConfigRevision, user: Any) -> ConfigRevision:
    """Make the configuration equal to ``revision`` again, as a new revision.

    Cameras, zones, bindings and models in the revision get their saved values back (objects
    deleted since are re-created with their ids). Zones and bindings added since, on those
    cameras, are deleted. Cameras added since are disabled, not deleted, so their recordings and
    alarms survive; models added since stay registered.
    """
    snap = ConfigSnapshot.model_validate(revision.snapshot)
    comment = f"Rolled back to v{revision.version}"
    with acting_as(user, comment):
        for m in snap.models:
            DetectorModel.objects.update_or_create(
                pk=m.id,
                defaults=dict(name=m.name, onnx_path=m.onnx_path, sha256=m.sha256, input_width=m.input_width,
                              input_height=m.input_height, class_names=m.class_names, is_default=m.is_default),
            )
        algorithms = {a.slug: a for a in Algorithm.objects.all()}
        for cam in snap.cameras:
            site = Site.objects.get_or_create(name=cam.site)[0] if cam.site else None
            camera, _ = Camera.objects.update_or_create(
                pk=cam.id,
                defaults=dict(name=cam.name, stream_url=cam.stream_url, enabled=cam.enabled,
                              segment_seconds=cam.segment_seconds, detect_fps=cam.detect_fps,
                              detect_width=cam.detect_width, detect_height=cam.detect_height,
                              retention_hours=cam.retention_hours, site=site, location=cam.location, tags=cam.tags,
                              detector_model_id=cam.detector_model_id),
            )
            plain = decrypt(cam.credentials) if cam.credentials else ""
            if camera.credentials != plain:
                camera.credentials = plain
                camera.save(update_fields=["credentials"])
            zone_ids = [z.id for z in cam.zones]
            binding_ids = [b.id for b in cam.bindings]
            AlgorithmBinding.objects.filter(zone__camera=camera).exclude(pk__in=binding_ids).delete()
            Zone.objects.filter(camera=camera).exclude(pk__in=zone_ids).delete()
            for z in cam.zones:
                Zone.objects.update_or_create(
                    pk=z.id,
                    defaults=dict(camera=camera, name=z.name, kind=z.kind, points=[list(p) for p in z.points],
                                  direction=z.direction, enabled=z.enabled),
                )
            for b in cam.bindings:
                AlgorithmBinding.objects.update_or_create(
                    pk=b.id,
                    defaults=dict(zone_id=b.zone_id, algorithm=algorithms[b.algorithm], params=b.params,
                                  target_classes=b.target_classes, min_score=b.min_score,
                                  schedule=b.schedule.model_dump(mode="json"), cooldown_seconds=b.cooldown_seconds,
                                  severity=b.severity, enabled=b.enabled),
                )
        for camera in Camera.objects.exclude(pk__in=[c.id for c in snap.cameras]).filter(enabled=True):
            camera.enabled = False
            camera.save(update_fields=["enabled", "updated_at"])
        new = record_revision(force=True, restored_from=revision)
    assert new is not None
    return new
