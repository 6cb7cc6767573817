"""Ordered per-camera analysis of detected segments (the `analysis` queue's task body; DESIGN §5).

1. One segment of a camera at a time (a Redis lock per camera; a busy camera defers the task).
2. Segments apply in ``seq`` order: an earlier seq than expected is a duplicate and is dropped; a
   later one is deferred until the missing one is analysed, or skipped when it is ``bad``; after
   ``PANOPTES_ANALYSIS_GAP_WAIT`` seconds the gap is declared and the tracker reset.
3. Tracker and rule state live in Redis with the last applied seq, so analysis continues across
   segments and workers. Alarms are created once: their dedup key is unique in the database, so a
   re-run (a crash before the state was saved) finds them and creates nothing.
"""
from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from redis import RedisError

from analytics.analysis import CameraAnalyzer, event_box
from analytics.detectors.store import detections_path, load
from analytics.rules import Event
from controlplane.alarms.choices import AlarmAction, AlarmEventType
from controlplane.alarms.models import Alarm, AlarmHistory
from controlplane.algorithms.models import AlgorithmBinding
from controlplane.cameras.models import DetectState, Segment
from controlplane.core.redis import client, key
from controlplane.panel.events import publish_alarm
from controlplane.zones.models import Zone
from workers.config import CameraGone, camera_config_at, detector_model
from workers.delivery import create_deliveries
from workers.dispatch import send

logger = logging.getLogger(__name__)


class Defer(Exception):
    """Not now: try this segment again in ``countdown`` seconds."""

    def __init__(self, reason: str, countdown: float) -> None:
        super().__init__(reason)
        self.countdown = countdown


def state_key(camera_id: int) -> str:
    return key("analysis", camera_id)


def load_state(camera_id: int) -> dict[str, Any]:
    raw = client().get(state_key(camera_id))
    return json.loads(raw) if raw else {}


def analyze_segment(segment_id: int) -> str:
    segment = Segment.objects.filter(pk=segment_id).first()
    if segment is None:
        return "gone"
    lock = client().lock(key("analysis", segment.camera_id, "lock"), timeout=300, blocking=False)
    if not lock.acquire():
        raise Defer(f"camera {segment.camera_id} is being analysed", 1)
    try:
        return apply_in_order(segment)
    finally:
        lock.release()


def apply_in_order(segment: Segment) -> str:
    state = load_state(segment.camera_id)
    if "last_seq" in state:
        expected = state["last_seq"] + 1
    else:
        # A camera's first analysis starts at its earliest recent segment (one recorded within the
        # gap wait before this one): older ones were recorded before analysis ran at all.
        recent = segment.created_at - timedelta(seconds=settings.ANALYSIS_GAP_WAIT)
        expected = Segment.objects.filter(camera_id=segment.camera_id, seq__lte=segment.seq, created_at__gte=recent) \
            .order_by("seq").values_list("seq", flat=True).first() or segment.seq
    if segment.seq < expected:
        return "duplicate"
    gap = False
    while segment.seq > expected:
        missing = Segment.objects.filter(camera_id=segment.camera_id, seq=expected).first()
        waited = (timezone.now() - segment.created_at).total_seconds()
        if missing is not None and missing.detect_state == DetectState.BAD:
            expected, gap = expected + 1, True  # nothing to analyse in it: tracks cannot bridge it
        elif waited >= settings.ANALYSIS_GAP_WAIT:
            logger.warning("camera %s: seq %s..%s never arrived; declaring a gap", segment.camera_id, expected, segment.seq - 1)
            expected, gap = segment.seq, True
        else:
            raise Defer(f"waiting for seq {expected}", 2)
    if segment.detect_state == DetectState.PENDING:
        raise Defer("not detected yet", 2)
    if segment.detect_state == DetectState.BAD:
        save_state(segment.camera_id, {**state, "last_seq": segment.seq, "reset": True})
        return "bad"
    return apply(segment, state, reset=gap or segment.discontinuity or state.get("reset", False))


def apply(segment: Segment, state: dict[str, Any], reset: bool) -> str:
    try:
        version, camera = camera_config_at(segment.camera_id, segment.start_time)  # the config of the segment's time
    except CameraGone:
        return "gone"
    detections = load(detections_path(Path(settings.STORAGE_ROOT) / segment.path))
    model = detector_model(camera.detector_model_id)
    analyzer = CameraAnalyzer(camera, model.class_names, detections.frame_size, state.get("analyzer"))
    if reset:
        analyzer.reset_tracking()
    events = analyzer.feed(segment.start_time.timestamp(), detections)
    zones = {z.id: [list(p) for p in z.points] for z in camera.zones}
    binding_zone = {b.id: zones.get(b.zone_id) for b in camera.bindings}  # the zone as configured then
    created = [create_alarm(segment, camera.name, e, model.class_names,
                            {"frame_size": list(detections.frame_size), "zone_points": binding_zone.get(e.binding_id)})
               for e in events]
    save_state(segment.camera_id, {"last_seq": segment.seq, "config_version": version, "analyzer": analyzer.state()})
    return f"applied ({sum(created)} alarm(s))"


def save_state(camera_id: int, state: dict[str, Any]) -> None:
    client().set(state_key(camera_id), json.dumps(state))


def create_alarm(segment: Segment, camera_name: str, event: Event, class_names: list[str],
                 context: dict[str, Any] | None = None) -> bool:
    """The alarm of one event, once, with its outbox rows in the same transaction (DESIGN §6).

    ``context``: the detection frame size (the box's pixels) and the zone as configured then.
    """
    binding = AlgorithmBinding.objects.select_related("zone", "algorithm").filter(pk=event.binding_id).first()
    if binding is None:
        return False  # deleted since the snapshot was published
    zone = Zone.objects.filter(pk=binding.zone_id).first()
    try:
        with transaction.atomic():
            alarm = Alarm.objects.create(
                camera_id=segment.camera_id, zone=zone, binding=binding, algorithm=binding.algorithm.slug,
                zone_name=zone.name if zone else "", dedup_key=event.dedup_key, severity=binding.severity,
                event_time=datetime.fromtimestamp(event.time, UTC),
                object_class=class_names[event.object_class] if event.object_class is not None else "",
                score=event.score,
                details={**event.details, "box": event_box(event), "episode": event.episode, "segment": segment.pk,
                         "segment_seq": segment.seq, **(context or {})},
            )
            AlarmHistory.objects.create(alarm=alarm, action=AlarmAction.CREATED, to_status=alarm.status, at=alarm.created_at)
            create_deliveries(alarm, AlarmEventType.CREATED)
            transaction.on_commit(lambda: announce_alarm(alarm))
    except IntegrityError:
        return False  # created by an earlier run of this segment
    logger.info("alarm %s: %s on camera %s (%s)", alarm.pk, alarm.algorithm, camera_name, alarm.zone_name)
    return True


def announce_alarm(alarm: Alarm) -> None:
    """Phase one, at once: the alarms stream (live panel) and the `alarms` queue (snapshot, deliveries)."""
    try:
        client().xadd(key("alarms", "events"), {"alarm": alarm.pk, "type": "alarm.created", "camera": alarm.camera_id},
                      maxlen=10_000, approximate=True)
    except RedisError as exc:
        logger.warning("alarm %s: not put on the alarms stream (%s)", alarm.pk, exc)
    publish_alarm(alarm.pk, AlarmEventType.CREATED)  # open panels and integrator sockets (controlplane.panel)
    send("panoptes.alarm_created", alarm.pk)
