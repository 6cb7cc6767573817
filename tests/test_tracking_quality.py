"""Tracking quality on real footage against hand-made ground truth (bench/tracking_quality.py).

vtest.avi frames 380-478 at 5 fps, every person boxed by hand (tests/data/README.md). The floor
is far below what the tracker reaches (MOTA 0.85, IDF1 0.86 when written: bench/RESULTS.md) and
far above what a tracker that gives a new id every frame reaches (MOTA -0.28, IDF1 0.03): the
second test checks that the floor does reject that broken tracker.
"""
from __future__ import annotations

from functools import cache

import pytest

from analytics.detectors import Detections
from bench.tracking_quality import detect as detect_annotated_frames
from bench.tracking_quality import evaluate, fresh_ids, ground_truth, ours

MOTA_FLOOR, IDF1_FLOOR = 0.6, 0.6


@cache
def detections() -> list[tuple[float, Detections]]:
    return detect_annotated_frames()


@pytest.mark.slow
def test_the_tracker_on_real_detections_scores_above_the_floor() -> None:
    scores = evaluate(ours(), detections(), ground_truth())
    assert scores.mota >= MOTA_FLOOR and scores.idf1 >= IDF1_FLOOR, scores
    assert scores.id_switches <= 3, scores


@pytest.mark.slow
def test_the_floor_rejects_a_tracker_that_gives_new_ids_every_frame() -> None:
    scores = evaluate(fresh_ids(), detections(), ground_truth())
    assert scores.mota < MOTA_FLOOR and scores.idf1 < IDF1_FLOOR, scores
