"""A camera's saved analysis state over a long run: bounded by its live tracks, alarms unchanged.

Rule state used to keep every track id a camera ever saw (dwell visits, line sides, stops), so the
state saved after each segment grew with the camera's lifetime. Now rules forget the tracks the
tracker has dropped; these tests feed ten minutes of people walking through a zone and across a
line, and cars stopping in a car park, one after another, segment by segment through JSON as
workers.analyze does, and compare with the rules fed the same tracks without ever forgetting.
"""
from __future__ import annotations

import json
from typing import Any

import numpy as np

from analytics.analysis import CameraAnalyzer
from analytics.config import BindingConfig, CameraConfig, ZoneConfig
from analytics.detectors import Detections
from analytics.detectors.store import SegmentDetections
from analytics.rules import Event, build
from analytics.tracking import ByteTracker
from analytics.zones import ZoneShape

CLASSES = ["person", "bicycle", "car"]
PERSON, CAR = 0, 2
FRAME = (1280, 720)
FPS, SEGMENT_FRAMES = 5.0, 25  # 5 s segments
START = 1_800_000_000.0
BINDINGS: list[tuple[str, dict[str, Any], int, list[str]]] = [  # algorithm, params, zone id, classes
    ("intrusion", {"min_dwell": 1.0}, 1, ["person"]),
    ("loitering", {"threshold": 3.0}, 1, ["person"]),
    ("crowding", {"min_count": 3, "min_duration": 1.0}, 1, ["person"]),
    ("absence", {"threshold": 1.0, "min_count": 1}, 1, ["person"]),
    ("line_crossing", {"min_distance": 0.02}, 2, ["person"]),
    ("stationary_vehicle", {"threshold": 2.0, "max_movement": 0.02}, 3, ["car"]),
]


def camera() -> CameraConfig:
    zones = [
        ZoneConfig(id=1, name="floor", kind="polygon", points=[(0.3, 0.5), (0.7, 0.5), (0.7, 0.9), (0.3, 0.9)]),
        ZoneConfig(id=2, name="door", kind="line", points=[(0.5, 0.3), (0.5, 1.0)]),
        ZoneConfig(id=3, name="car park", kind="polygon", points=[(0.0, 0.0), (1.0, 0.0), (1.0, 0.4), (0.0, 0.4)]),
    ]
    bindings = [BindingConfig(id=10 + k, zone_id=zone, algorithm=slug, params=params, target_classes=classes,
                              min_score=0.3, cooldown_seconds=0, severity="medium")
                for k, (slug, params, zone, classes) in enumerate(BINDINGS)]
    return CameraConfig(id=1, name="long run", stream_url="rtsp://test/1", enabled=True, segment_seconds=5, detect_fps=FPS,
                        retention_hours=24, zones=zones, bindings=bindings)


def scene(minutes: float, seed: int = 0) -> list[Detections]:
    """People walking left to right (1 box width per second, through the floor zone and across the
    door line; a new one every 2-8 s, so sometimes three on the floor and sometimes nobody), and
    cars that drive into the car park, stand 3-6 s and drive on."""
    rng = np.random.default_rng(seed)
    frames = int(minutes * 60 * FPS)
    objects: list[tuple[int, int, float, float, int]] = []  # (first frame, class, y, px per frame, frames standing)
    first = 0
    while first < frames:
        objects.append((first, PERSON, rng.uniform(0.6, 0.85) * FRAME[1], 80 / FPS, 0))
        first += int(rng.integers(10, 40))
    first = 5
    while first < frames:
        objects.append((first, CAR, rng.uniform(0.15, 0.3) * FRAME[1], 120 / FPS, int(rng.integers(15, 30))))
        first += int(rng.integers(30, 60))
    out = []
    for i in range(frames):
        boxes, classes = [], []
        for start, cls, y, speed, stand in objects:
            age = i - start
            moving = age if age < 10 else 10 if age < 10 + stand else age - stand
            x = 0.2 * FRAME[0] + speed * moving
            if age < 0 or x > 0.8 * FRAME[0]:
                continue
            w, h = (80, 200) if cls == PERSON else (120, 60)
            boxes.append((x - w / 2, y - h, x + w / 2, y))
            classes.append(cls)
        jitter = rng.uniform(-2, 2, (len(boxes), 4))
        out.append(Detections(np.asarray(boxes, np.float32).reshape(-1, 4) + jitter.astype(np.float32),
                              rng.uniform(0.6, 1.0, len(boxes)).astype(np.float32), np.asarray(classes, np.int32)))
    return out


def segments(frames: list[Detections]) -> list[SegmentDetections]:
    times = np.arange(SEGMENT_FRAMES) / FPS
    return [SegmentDetections(times, np.arange(SEGMENT_FRAMES, dtype=np.int32), frames[k:k + SEGMENT_FRAMES], FRAME, "test")
            for k in range(0, len(frames) - SEGMENT_FRAMES + 1, SEGMENT_FRAMES)]


def key(event: Event) -> tuple[Any, ...]:
    details = {k: v for k, v in event.details.items() if k != "track"}  # the alarm's box context: added by the analyzer
    return event.dedup_key, event.time, event.track_id, event.episode, event.box, json.dumps(details, sort_keys=True)


def per_track_ids(rule_state: dict[str, Any]) -> set[int]:
    """Track ids a rule's saved state mentions (dwell visits, line sides, stops, reported tracks)."""
    ids = {int(k) for name in ("entered", "visits", "sides", "crossings", "stops", "stop_numbers") for k in rule_state.get(name, {})}
    reported = rule_state.get("reported")  # a list of ids, or a zone-level rule's flag
    return ids | set(reported) if isinstance(reported, list) else ids


def test_a_cameras_saved_state_stays_as_small_as_its_live_tracks_over_a_long_run() -> None:
    # Given ten minutes of people and cars passing through, one after another,
    cam, frames = camera(), scene(10)

    # when it is analysed segment by segment, the state saved and loaded as JSON in between,
    raw, sizes = "{}", []
    for n, seg in enumerate(segments(frames)):
        analyzer = CameraAnalyzer(cam, CLASSES, FRAME, json.loads(raw).get("analyzer"))
        analyzer.feed(START + n * SEGMENT_FRAMES / FPS, seg)
        raw = json.dumps({"analyzer": analyzer.state()})
        sizes.append(len(raw))
        state = json.loads(raw)["analyzer"]

        # then rules hold per-track state only of tracks the tracker still knows,
        live = set(state["tracker"]["tracks"]["id"])
        for saved in state["rules"].values():
            assert per_track_ids(saved["state"]) <= live

    # and the state's size stays that of a few live tracks, not of the hundreds seen.
    assert state["tracker"]["next_id"] > 150  # objects seen over the run
    assert max(sizes[len(sizes) // 2:]) <= 1.5 * max(sizes[:len(sizes) // 4])
    assert max(sizes) < 16 * 1024


def test_forgetting_dropped_tracks_changes_no_alarm() -> None:
    # Given the same ten minutes,
    cam, frames = camera(), scene(10)

    # when the camera is analysed segment by segment (rules forget dropped tracks after each),
    raw, analysed = "{}", []
    for n, seg in enumerate(segments(frames)):
        analyzer = CameraAnalyzer(cam, CLASSES, FRAME, json.loads(raw).get("analyzer"))
        analysed += analyzer.feed(START + n * SEGMENT_FRAMES / FPS, seg)
        raw = json.dumps({"analyzer": analyzer.state()})

    # and the same tracker and rules run in one go, never forgetting anything,
    zones = {z.id: ZoneShape(z, FRAME) for z in cam.zones}
    rules = [build(b, zones[b.zone_id], CLASSES) for b in cam.bindings]
    tracker, straight = ByteTracker(), []
    for i, dets in enumerate(frames[:len(segments(frames)) * SEGMENT_FRAMES]):
        t = START + (i // SEGMENT_FRAMES) * SEGMENT_FRAMES / FPS + (i % SEGMENT_FRAMES) / FPS
        tracks = tracker.update(dets, t)
        for rule in rules:
            straight += rule.update(t, tracks)

    # then both raise the same alarms, in the same order, of every algorithm.
    assert [key(e) for e in analysed] == [key(e) for e in straight]
    assert {e.binding_id for e in analysed} == {10 + k for k in range(len(BINDINGS))}
