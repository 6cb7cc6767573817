"""The ByteTrack-style tracker (analytics.tracking): rules, hypothesis properties, and real footage.

Pure logic: no database, no services. Synthetic scenes are generated with the time steps detection
really produces (detect_fps sampling, so dt between 0.1 and 0.5 s) and a few pixels of box jitter.
"""
from __future__ import annotations

import base64
import json
import math
import os
from collections import Counter
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from unittest.mock import patch

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.detectors import Detections
from analytics.tracking import ByteTracker, Track

ASSETS = Path(os.environ.get("PANOPTES_ASSETS", Path(__file__).resolve().parents[2] / "shared" / "assets"))
PERSON, CAR = 0, 2

Box = tuple[float, float, float, float]


def dets(boxes: Sequence[Box] = (), scores: Sequence[float] = (), classes: Sequence[int] = ()) -> Detections:
    if not boxes:
        return Detections.empty()
    scores = list(scores) or [0.9] * len(boxes)
    classes = list(classes) or [PERSON] * len(boxes)
    return Detections(np.asarray(boxes, np.float32), np.asarray(scores, np.float32), np.asarray(classes, np.int32))


def box_at(cx: float, cy: float, w: float, h: float) -> Box:
    return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


def feed(tracker: ByteTracker, frames: Sequence[tuple[float, Detections]]) -> list[list[Track]]:
    return [tracker.update(d, t) for t, d in frames]


# -- scene generation ---------------------------------------------------------------------------

@st.composite
def time_steps(draw: st.DrawFn, min_frames: int = 12, max_frames: int = 50) -> list[float]:
    """Frame times from 0 with steps of 0.1-0.5 s (detection sampling at 2-10 fps, uneven)."""
    steps = draw(st.lists(st.floats(0.1, 0.5), min_size=min_frames - 1, max_size=max_frames - 1))
    return [0.0, *np.cumsum(steps).tolist()]


@st.composite
def motions(draw: st.DrawFn) -> dict[str, float]:
    """A smooth trajectory: size (40-150 px wide, at least 40 px tall), speed (at most 0.6 box sizes
    per second), heading, turn and growth. At 40 px and up, "a few px" of jitter is what a detector
    does; on a 15 px box the same 3 px would be 20 % noise, which is no smooth motion to track."""
    width = draw(st.floats(40, 150))
    height = draw(st.floats(max(40, width / 2), 3 * width))
    return {
        "cx": draw(st.floats(200, 1000)), "cy": draw(st.floats(200, 600)), "w": width, "h": height,
        # At most 0.6 sizes/s: at 0.5 s between frames that is 0.3 of the box, still overlapping it well
        # before the filter has learnt the velocity (0.8 failed rarely: IoU-gated tracking's own limit).
        "speed": min(width, height) * draw(st.floats(0, 0.6)), "heading": draw(st.floats(0, 2 * math.pi)),
        # rad/s: 0 is a straight line, 0.5 a quarter circle in 3 s. Faster, a 40 px box at 0.8 sizes/s
        # would circle within its own size, which no tracker predicts from 2 fps (seen at 1.0).
        "turn": draw(st.floats(-0.5, 0.5)),
        # Log size change over the whole clip (walking towards the camera); never shrinking below the
        # 40 px the docstring promises.
        "growth": draw(st.floats(0, math.log(1.4))),
    }


def trajectory(m: dict[str, float], times: Sequence[float]) -> list[Box]:
    """Boxes along the motion, integrated finely (a curve, not a polygon of the frame times)."""
    boxes, cx, cy, heading, last = [], m["cx"], m["cy"], m["heading"], 0.0
    for t in times:
        for _ in range(10):
            step = (t - last) / 10
            cx += m["speed"] * math.cos(heading) * step
            cy += m["speed"] * math.sin(heading) * step
            heading += m["turn"] * step
        last = t
        scale = math.exp(m["growth"] * t / max(times[-1], 1e-9))
        boxes.append(box_at(cx, cy, m["w"] * scale, m["h"] * scale))
    return boxes


def jittered(boxes: Sequence[Box], seed: int, px: float = 3.0) -> list[Box]:
    noise = np.random.default_rng(seed).uniform(-px, px, (len(boxes), 4))
    return [tuple(float(v) for v in np.asarray(b) + n) for b, n in zip(boxes, noise, strict=True)]  # type: ignore[misc]


def ids_per_object(outputs: list[list[Track]], objects: list[list[Box]]) -> list[set[int]]:
    """For each object, the ids of the tracks whose box was that object's detection."""
    found: list[set[int]] = [set() for _ in objects]
    for frame, tracks in enumerate(outputs):
        for track in tracks:
            owner = [k for k, boxes in enumerate(objects) if np.allclose(track.box, boxes[frame], atol=1e-3)]
            assert len(owner) == 1
            found[owner[0]].add(track.id)
    return found


# -- the rules, one at a time -------------------------------------------------------------------

def test_a_new_track_is_unconfirmed_until_its_third_consecutive_match() -> None:
    tracker = ByteTracker()
    outs = feed(tracker, [(0.2 * i, dets([box_at(100 + 5 * i, 100, 40, 80)])) for i in range(4)])
    assert [(o[0].id, o[0].hits, o[0].confirmed) for o in outs] == [(1, 1, False), (1, 2, False), (1, 3, True), (1, 4, True)]
    assert outs[3][0].first_seen == 0.0 and outs[3][0].last_seen == pytest.approx(0.6)


def test_an_unconfirmed_track_missed_in_the_next_frame_is_dropped() -> None:
    tracker = ByteTracker()
    first = tracker.update(dets([box_at(100, 100, 40, 80)]), 0.0)
    assert tracker.update(dets(), 0.2) == []
    again = tracker.update(dets([box_at(100, 100, 40, 80)]), 0.4)
    assert again[0].id != first[0].id and again[0].hits == 1
    assert len(tracker) == 1


def test_the_returned_box_and_score_are_the_detections_not_the_prediction() -> None:
    tracker = ByteTracker()
    tracker.update(dets([box_at(100, 100, 40, 80)]), 0.0)
    (track,) = tracker.update(dets([(81.5, 61.25, 122.0, 139.0)], [0.77]), 0.2)
    assert track.box == (81.5, 61.25, 122.0, 139.0)
    assert track.score == pytest.approx(0.77)
    assert all(type(v) is float for v in track.box)


def test_only_a_confident_detection_starts_a_track() -> None:
    tracker = ByteTracker(high_score=0.5, new_track_score=0.6)
    assert tracker.update(dets([box_at(100, 100, 40, 80)], [0.55]), 0.0) == []
    assert tracker.update(dets([box_at(100, 100, 40, 80)], [0.3]), 0.2) == []
    assert [t.id for t in tracker.update(dets([box_at(100, 100, 40, 80)], [0.65]), 0.4)] == [1]


def test_low_score_detections_carry_a_tracked_object_through_an_occlusion() -> None:
    tracker = ByteTracker()
    feed(tracker, [(0.2 * i, dets([box_at(100 + 4 * i, 100, 40, 80)], [0.9])) for i in range(4)])
    occluded = feed(tracker, [(0.2 * i, dets([box_at(100 + 4 * i, 100, 40, 80)], [0.2])) for i in range(4, 9)])
    assert [o[0].id for o in occluded] == [1] * 5
    assert occluded[-1][0].hits == 9


def test_low_score_detections_neither_confirm_nor_revive_a_track() -> None:
    tracker = ByteTracker()
    tracker.update(dets([box_at(100, 100, 40, 80)], [0.9]), 0.0)
    assert tracker.update(dets([box_at(100, 100, 40, 80)], [0.3]), 0.2) == []  # unconfirmed: dropped
    assert len(tracker) == 0
    feed(tracker, [(0.4 + 0.2 * i, dets([box_at(100, 100, 40, 80)], [0.9])) for i in range(3)])
    assert tracker.update(dets(), 1.2) == []  # confirmed track 2 is now lost
    assert tracker.update(dets([box_at(100, 100, 40, 80)], [0.3]), 1.4) == []  # a low detection does not revive it
    assert [t.id for t in tracker.update(dets([box_at(100, 100, 40, 80)], [0.9]), 1.6)] == [2]  # a high one does


def test_a_track_never_changes_class() -> None:
    tracker = ByteTracker()
    feed(tracker, [(0.2 * i, dets([box_at(100, 100, 40, 80)], classes=[PERSON])) for i in range(3)])
    (car,) = tracker.update(dets([box_at(100, 100, 40, 80)], classes=[CAR]), 0.6)
    assert car.id == 2 and car.cls == CAR


def test_a_pause_longer_than_lost_seconds_between_frames_ends_every_track() -> None:
    tracker = ByteTracker(lost_seconds=2.0)
    feed(tracker, [(0.2 * i, dets([box_at(100, 100, 40, 80)])) for i in range(3)])
    assert [t.id for t in tracker.update(dets([box_at(100, 100, 40, 80)]), 0.4 + 1.9)] == [1]
    assert [t.id for t in tracker.update(dets([box_at(100, 100, 40, 80)]), 2.3 + 2.1)] == [2]


def test_detections_with_non_finite_numbers_are_ignored() -> None:
    tracker = ByteTracker()
    out = tracker.update(dets([box_at(100, 100, 40, 80), (math.nan, 0, 10, 10), (0, 0, 10, 10)], [0.9, 0.9, math.nan]), 0.0)
    assert [t.box for t in out] == [box_at(100, 100, 40, 80)]


def test_time_going_backwards_is_refused() -> None:
    tracker = ByteTracker()
    tracker.update(dets(), 5.0)
    with pytest.raises(ValueError, match="backwards"):
        tracker.update(dets(), 4.9)


def test_reset_forgets_the_tracks_but_ids_keep_increasing() -> None:
    tracker = ByteTracker()
    feed(tracker, [(0.2 * i, dets([box_at(100, 100, 40, 80), box_at(400, 100, 40, 80)])) for i in range(3)])
    tracker.reset()
    assert len(tracker) == 0
    outs = tracker.update(dets([box_at(100, 100, 40, 80)]), 0.0)  # a reset tracker accepts any time
    assert [t.id for t in outs] == [3]
    assert ByteTracker.restore(json.loads(json.dumps(tracker.state()))).update(dets([box_at(700, 100, 40, 80)]), 0.2)[-1].id == 4


# Seen at 3.0 s, then not until 3.0 + gap s (frames every 0.2 s keep coming, empty).
@pytest.mark.parametrize("gap", [0.4, 1.0, 1.8])
def test_an_object_missing_for_less_than_lost_seconds_gets_its_id_back(gap: float) -> None:
    tracker = ByteTracker(lost_seconds=2.0)
    times = np.round(np.arange(0, 8, 0.2), 6).tolist()
    boxes = trajectory({"cx": 200, "cy": 300, "w": 60, "h": 150, "speed": 30, "heading": 0.3, "turn": 0, "growth": 0}, times)
    frames = [(t, dets() if 3.0 < t < 3.0 + gap - 1e-6 else dets([b])) for t, b in zip(times, boxes, strict=True)]
    ids = {track.id for out in feed(tracker, frames) for track in out}
    assert ids == {1}


@pytest.mark.parametrize("gap", [2.2, 3.0, 6.0])
def test_an_object_missing_for_more_than_lost_seconds_gets_a_new_id(gap: float) -> None:
    tracker = ByteTracker(lost_seconds=2.0)
    times = np.round(np.arange(0, 12, 0.2), 6).tolist()
    frames = [(t, dets() if 3.0 < t < 3.0 + gap - 1e-6 else dets([box_at(300, 300, 60, 150)])) for t in times]
    outs = feed(tracker, frames)
    assert [t.id for t in outs[-1]] == [2]
    assert outs[-1][0].first_seen == pytest.approx(3.0 + gap)


# -- properties ---------------------------------------------------------------------------------

@settings(max_examples=150, deadline=None)
@given(times=time_steps(), motion=motions(), seed=st.integers(0, 2**32 - 1),
       scores=st.lists(st.floats(0.15, 1.0), min_size=50, max_size=50))
def test_a_single_object_moving_smoothly_keeps_one_id(
    times: list[float], motion: dict[str, float], seed: int, scores: list[float]
) -> None:
    boxes = jittered(trajectory(motion, times), seed)
    # Confident for the three frames that confirm it; after that any score, low ones included.
    frame_scores = [max(s, 0.6) if i < 3 else s for i, s in enumerate(scores[: len(times)])]
    outs = feed(ByteTracker(), [(t, dets([b], [s])) for t, b, s in zip(times, boxes, frame_scores, strict=True)])
    assert all(len(out) == 1 for out in outs)
    assert {out[0].id for out in outs} == {1}
    assert outs[-1][0].hits == len(times) and outs[-1][0].confirmed


@settings(max_examples=100, deadline=None)
@given(times=time_steps(20, 50), size=st.floats(40, 120), speed=st.floats(0.1, 0.8), dy=st.floats(-0.3, 0.3),
       seed=st.integers(0, 2**32 - 1))
def test_two_objects_of_different_classes_crossing_paths_never_swap(
    times: list[float], size: float, speed: float, dy: float, seed: int
) -> None:
    duration = times[-1]
    # Head-on, meeting half way through: the boxes overlap completely at the crossing.
    v = size * speed
    a = {"cx": 500 - v * duration / 2, "cy": 300, "w": size, "h": size * 2, "speed": v, "heading": dy, "turn": 0, "growth": 0}
    b = {**a, "cx": 500 + v * duration / 2, "heading": math.pi - dy}
    objects = [jittered(trajectory(a, times), seed), jittered(trajectory(b, times), seed + 1)]
    frames = [(t, dets([objects[0][i], objects[1][i]], [0.9, 0.8], [PERSON, CAR])) for i, t in enumerate(times)]
    outs = feed(ByteTracker(), frames)
    assert ids_per_object(outs, objects) == [{1}, {2}]
    assert all({(t.id, t.cls) for t in out} == {(1, PERSON), (2, CAR)} for out in outs)


@settings(max_examples=100, deadline=None)
@given(times=time_steps(), first=motions(), second=motions(), seed=st.integers(0, 2**32 - 1))
def test_two_objects_of_the_same_class_far_apart_keep_their_ids(
    times: list[float], first: dict[str, float], second: dict[str, float], seed: int
) -> None:
    second = {**second, "cx": first["cx"] + 2000}  # far apart: never within reach of each other
    objects = [jittered(trajectory(first, times), seed), jittered(trajectory(second, times), seed + 1)]
    outs = feed(ByteTracker(), [(t, dets([objects[0][i], objects[1][i]])) for i, t in enumerate(times)])
    assert ids_per_object(outs, objects) == [{1}, {2}]


@st.composite
def busy_scenes(draw: st.DrawFn) -> list[tuple[float, Detections]]:
    """Several objects of a few classes, some missing in some frames, scores high and low, plus clutter."""
    times = draw(time_steps(10, 40))
    objects = [(trajectory(draw(motions()), times), draw(st.sampled_from([PERSON, CAR, 7]))) for _ in range(draw(st.integers(1, 6)))]
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    frames = []
    for i, t in enumerate(times):
        present = [(boxes[i], cls) for boxes, cls in objects if rng.random() > 0.15]
        clutter = [(box_at(*rng.uniform(0, 1200, 2), *rng.uniform(20, 100, 2)), int(rng.integers(0, 3))) for _ in range(rng.integers(0, 3))]
        items = present + clutter
        boxes = jittered([b for b, _ in items], int(rng.integers(1 << 30)))
        frames.append((t, dets(boxes, rng.uniform(0.05, 1.0, len(items)).tolist(), [c for _, c in items])))
    return frames


@settings(max_examples=150, deadline=None)
@given(frames=busy_scenes(), split=st.floats(0, 1), params=st.fixed_dictionaries({
    "confirm_hits": st.integers(1, 4), "lost_seconds": st.floats(0.3, 3.0), "match_iou": st.floats(0.1, 0.5)}))
def test_state_and_restore_mid_sequence_continue_exactly_as_if_never_stopped(
    frames: list[tuple[float, Detections]], split: float, params: dict[str, float]
) -> None:
    k = int(split * len(frames))
    straight = ByteTracker(**params)  # type: ignore[arg-type]
    expected = feed(straight, frames)

    before = ByteTracker(**params)  # type: ignore[arg-type]
    assert feed(before, frames[:k]) == expected[:k]
    saved = json.dumps(before.state(), allow_nan=False)
    resumed = ByteTracker.restore(json.loads(saved))
    assert feed(resumed, frames[k:]) == expected[k:]
    assert resumed.state() == straight.state()


@settings(max_examples=100, deadline=None)
@given(frames=busy_scenes(), resets=st.sets(st.integers(0, 40), max_size=3))
def test_ids_are_never_reused(frames: list[tuple[float, Detections]], resets: set[int]) -> None:
    tracker = ByteTracker(lost_seconds=0.5)
    seen: set[int] = set()
    ended: set[int] = set()
    for i, (t, d) in enumerate(frames):
        if i in resets:
            tracker.reset()
            ended |= seen
        out = tracker.update(d, t)
        for track in out:
            if track.hits == 1:  # a new track: an id above every id given before
                assert track.id not in seen and track.id > max(seen, default=0)
            assert track.id not in ended
        seen |= {track.id for track in out}
        live = set(tracker.state()["tracks"]["id"])
        ended |= seen - live


# -- real detections ----------------------------------------------------------------------------

@cache
def one_by_one_detections() -> list[tuple[float, Detections]]:
    """YOLOX-Nano (ONNX Runtime, CPU) on one-by-one-person-detection.mp4 at 5 fps, 5-45 s (~6 s)."""
    from analytics.decode import sample_frames
    from analytics.detectors import ModelSpec, create

    names = [n for n in (ASSETS / "models" / "coco_classes.txt").read_text().split("\n") if n]
    # Down to 0.1 so ByteTrack's low-score stage sees what it is meant for (the default keeps >= 0.3).
    detector = create("onnxruntime", ModelSpec(str(ASSETS / "models" / "yolox_nano_dynbatch.onnx"), 416, 416, names, score_threshold=0.1))
    frames = []
    for frame in sample_frames(ASSETS / "videos" / "one-by-one-person-detection.mp4", 5):
        if frame.time > 45:
            break
        if frame.time >= 5:
            frames.append(frame)
    found = detector.detect([f.image for f in frames])
    return [(f.time, d) for f, d in zip(frames, found, strict=True)]


@pytest.mark.slow
def test_on_real_footage_each_visit_is_one_confirmed_track_and_the_next_visit_another() -> None:
    # assets/README.md: one person at a time; visits over frames 60-194 and 228-447 (10 fps), i.e.
    # about 6-19.4 s and 22.8-44.7 s, 3.4 s apart: more than lost_seconds, so a new id is right.
    tracker = ByteTracker()
    visits: dict[str, list[Track]] = {"first": [], "second": []}
    frames_with_a_person = Counter[str]()
    for t, d in one_by_one_detections():
        out = [track for track in tracker.update(d, t) if track.cls == PERSON]
        visit = "first" if 6.5 <= t <= 19 else "second" if 23.5 <= t <= 44 else None
        if visit:
            frames_with_a_person[visit] += bool(((d.classes == PERSON) & (d.scores >= 0.1)).any())
            visits[visit] += [track for track in out if track.confirmed]
    ids = {name: Counter(track.id for track in tracks) for name, tracks in visits.items()}
    for name in visits:
        (main, count), *others = ids[name].most_common()
        assert len(others) <= 1, f"{name} visit split into {ids[name]}"
        assert count >= 0.9 * frames_with_a_person[name], f"{name} visit: track {main} in {count} of {frames_with_a_person[name]} frames"
    assert not set(ids["first"]) & set(ids["second"])


# -- the fast paths against the plain computations they replace -----------------------------------

def full_filter(mean: np.ndarray, cov: np.ndarray, steps: list[tuple[float, np.ndarray | None]]) -> tuple[np.ndarray, np.ndarray]:
    """The textbook 8 x 8 Kalman filter (F, Q, H, R as ByteTrack writes them, per second): predict by
    each dt, then update with the measurement when there is one."""
    from analytics.tracking import kalman as k

    for dt, z in steps:
        f = np.eye(8)
        f[:4, 4:] = dt * np.eye(4)
        h = mean[3]
        q = np.array([k.POSITION_WEIGHT * h] * 2 + [k.PROCESS_ASPECT_STD, k.POSITION_WEIGHT * h]
                     + [k.VELOCITY_WEIGHT * h / k.REFERENCE_DT] * 2
                     + [k.PROCESS_ASPECT_VELOCITY_STD / k.REFERENCE_DT, k.VELOCITY_WEIGHT * h / k.REFERENCE_DT]) ** 2
        mean, cov = f @ mean, f @ cov @ f.T + np.diag(q * dt / k.REFERENCE_DT)
        if z is not None:
            hm = np.eye(4, 8)
            h = mean[3]
            r = np.diag(np.array([k.POSITION_WEIGHT * h] * 2 + [k.MEASUREMENT_ASPECT_STD, k.POSITION_WEIGHT * h]) ** 2)
            s = hm @ cov @ hm.T + r
            gain = cov @ hm.T @ np.linalg.inv(s)
            mean, cov = mean + gain @ (z - hm @ mean), cov - gain @ s @ gain.T
    return mean, cov


@settings(max_examples=100, deadline=None)
@given(motion=motions(), times=time_steps(3, 20), seed=st.integers(0, 2**32 - 1), missed=st.sets(st.integers(1, 19)))
def test_the_kalman_filter_kept_as_four_pairs_equals_the_full_8x8_filter(
    motion: dict[str, float], times: list[float], seed: int, missed: set[int]
) -> None:
    from analytics.tracking import kalman

    boxes = jittered(trajectory(motion, times), seed)
    z = kalman.xyxy_to_xyah(np.asarray(boxes))
    mean, cov = kalman.initiate(z[:1])
    full_cov = np.zeros((8, 8))
    i = np.arange(4)
    full_cov[i, i], full_cov[i + 4, i + 4] = cov[0, kalman.VALUE], cov[0, kalman.VELOCITY]
    steps = [(b - a, None if n in missed else z[n]) for n, (a, b) in enumerate(zip(times, times[1:], strict=False), start=1)]
    expected_mean, expected_cov = full_filter(mean[0], full_cov, steps)
    for dt, m in steps:
        mean, cov = kalman.predict(mean, cov, dt)
        if m is not None:
            mean, cov = kalman.update(mean, cov, m[None])
    np.testing.assert_allclose(mean[0], expected_mean, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(cov[0], [np.diag(expected_cov)[:4], expected_cov[i, i + 4], np.diag(expected_cov)[4:]], rtol=1e-9, atol=1e-9)
    off_pairs = np.ones((8, 8), bool)
    off_pairs[i, i] = off_pairs[i + 4, i + 4] = off_pairs[i, i + 4] = off_pairs[i + 4, i] = False
    assert np.abs(expected_cov[off_pairs]).max() <= 1e-9 * np.abs(expected_cov).max()  # the rest stays zero


@settings(max_examples=50, deadline=None)
@given(frames=busy_scenes(), split=st.floats(0, 1))
def test_a_state_saved_by_version_1_continues_as_the_current_one(frames: list[tuple[float, Detections]], split: float) -> None:
    from analytics.tracking import kalman

    k = int(split * len(frames))
    tracker = ByteTracker()
    feed(tracker, frames[:k])
    current = json.loads(json.dumps(tracker.state()))
    # Version 1 kept means as lists of floats, and each covariance as the upper triangle of the full
    # 8 x 8 matrix; version 2 keeps the base64 of their float64 bytes, 12 numbers a covariance.
    mean = np.frombuffer(base64.b64decode(current["tracks"]["mean"]), "<f8").reshape(-1, 8)
    cov = np.frombuffer(base64.b64decode(current["tracks"]["cov"]), "<f8").reshape(-1, 3, 4)
    full = np.zeros((len(cov), 8, 8))
    i = np.arange(4)
    full[:, i, i], full[:, i, i + 4], full[:, i + 4, i], full[:, i + 4, i + 4] = cov[:, 0], cov[:, 1], cov[:, 1], cov[:, 2]
    old = {**current, "version": 1, "tracks": {**current["tracks"], "mean": mean.tolist(),
                                                 "cov": full[:, kalman.TRIU[0], kalman.TRIU[1]].tolist()}}
    assert feed(ByteTracker.restore(old), frames[k:]) == feed(ByteTracker.restore(current), frames[k:])


boxes_in_a_frame = st.lists(st.tuples(st.floats(0, 1900), st.floats(0, 1000), st.floats(0, 150), st.floats(0, 300), st.integers(0, 2)),
                            max_size=90)


@settings(max_examples=200, deadline=None)
@given(tracks=boxes_in_a_frame, detections=boxes_in_a_frame, min_iou=st.floats(0.05, 0.9), copies=st.integers(0, 30),
       seed=st.integers(0, 2**32 - 1))
def test_overlapping_pairs_are_the_gated_pairs_of_the_whole_iou_matrix(
    tracks: list[tuple[float, ...]], detections: list[tuple[float, ...]], min_iou: float, copies: int, seed: int
) -> None:
    from analytics.tracking import matching

    a = np.asarray([(x, y, x + w, y + h) for x, y, w, h, _ in tracks], np.float64).reshape(-1, 4)
    b = np.asarray([(x, y, x + w, y + h) for x, y, w, h, _ in detections], np.float32).reshape(-1, 4)
    # Detections near the tracks, shifted by whole pixels either way (so exact and touching ones too).
    near = a[:copies] + np.random.default_rng(seed).integers(-40, 41, (len(a[:copies]), 4))
    b = np.concatenate([b, near.astype(np.float32)])
    a_cls = np.asarray([c for *_, c in tracks], np.int64)
    b_cls = np.concatenate([np.asarray([c for *_, c in detections], np.int64), a_cls[:copies]])
    iou = np.where(a_cls[:, None] == b_cls[None, :], matching.iou_matrix(a, b), 0.0)
    r, c = np.nonzero(iou >= min_iou)
    expected = sorted(zip(r.tolist(), c.tolist(), iou[r, c].tolist(), strict=True))
    for dense_up_to in (0, matching.DENSE_UP_TO):  # the sorted sweep, and the whole matrix for small frames
        with patch.object(matching, "DENSE_UP_TO", dense_up_to):
            rows, cols, values = matching.overlapping_pairs(a, a_cls, b, b_cls, min_iou)
        assert sorted(zip(rows.tolist(), cols.tolist(), values.tolist(), strict=True)) == expected


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 12), st.integers(1, 12), st.data())
def test_assigning_isolated_pairs_first_finds_the_solvers_matching(rows: int, cols: int, data: st.DataObject) -> None:
    from scipy.optimize import linear_sum_assignment

    from analytics.tracking.matching import FORBIDDEN, assign

    allowed = np.asarray(data.draw(st.lists(st.lists(st.booleans(), min_size=cols, max_size=cols), min_size=rows, max_size=rows)))
    iou = np.asarray(data.draw(st.lists(st.lists(st.floats(0.2, 1.0), min_size=cols, max_size=cols), min_size=rows, max_size=rows)))
    r, c = np.nonzero(allowed)
    got_r, got_c = assign(r.astype(np.intp), c.astype(np.intp), iou[r, c])
    cost = np.where(allowed, 1.0 - iou, FORBIDDEN)
    want_r, want_c = linear_sum_assignment(cost)
    keep = allowed[want_r, want_c]
    # The same number of pairs and the same total IoU (the matching itself may differ only on exact ties).
    assert len(got_r) == int(keep.sum()) and len(set(got_r.tolist())) == len(got_r) and len(set(got_c.tolist())) == len(got_c)
    assert allowed[got_r, got_c].all()
    assert iou[got_r, got_c].sum() == pytest.approx(iou[want_r[keep], want_c[keep]].sum(), abs=1e-9)
