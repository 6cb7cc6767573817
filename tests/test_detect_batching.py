"""The batch queue in front of a process's detector (analytics/detectors/batching.py).

The queue's own logic is tested with a plain function as the detector (it records the batches it is
given); then the real ONNX Runtime detector on the shared footage: segments detected by concurrent
threads through one queue get exactly the detections each gets alone, in shared batches.
"""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from analytics.decode import sample_frames
from analytics.detectors import Detections, ModelSpec, create
from analytics.detectors.batching import BatchQueue

ASSETS = Path(os.environ.get("PANOPTES_ASSETS", Path(__file__).resolve().parents[2] / "shared" / "assets"))


class Recorder:
    """A detector stand-in: one detection per frame whose score is the frame's number."""

    def __init__(self, delay: float = 0.0, fail_on: int | None = None) -> None:
        self.batches: list[list[int]] = []
        self.delay = delay
        self.fail_on = fail_on

    def __call__(self, frames: list[int]) -> list[Detections]:
        self.batches.append(list(frames))
        time.sleep(self.delay)
        if self.fail_on is not None and self.fail_on in frames:
            raise RuntimeError(f"frame {self.fail_on} broke the model")
        return [Detections(np.zeros((1, 4), np.float32), np.array([f], np.float32), np.zeros(1, np.int32)) for f in frames]


def detect_concurrently(queue: BatchQueue[Any], segments: list[list[Any]]) -> dict[int, list[Detections]]:
    """Each segment detected by a thread of its own through the queue (as the gpu worker's threads
    do), then the queue closed; the detections by segment number."""
    results: dict[int, list[Detections]] = {}
    threads = [threading.Thread(target=lambda n=n: results.__setitem__(n, queue.detect(segments[n])))
               for n in range(len(segments))]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        queue.close()
    return results


def numbers(results: list[Detections]) -> list[int]:
    return [int(d.scores[0]) for d in results]


def test_results_come_back_in_order_and_batches_never_exceed_the_maximum() -> None:
    model = Recorder()
    queue = BatchQueue(model, max_batch=8)
    try:
        assert numbers(queue.detect(list(range(21)))) == list(range(21))
        assert queue.detect([]) == []
    finally:
        queue.close()
    assert [len(b) for b in model.batches] == [8, 8, 5]


def test_frames_of_concurrent_callers_share_batches() -> None:
    model = Recorder(delay=0.05)  # while one batch runs, the other callers' frames queue up
    queue = BatchQueue(model, max_batch=8)
    results = detect_concurrently(queue, [[n * 100 + i for i in range(5)] for n in range(6)])
    assert {n: numbers(r) for n, r in results.items()} == {n: [n * 100 + i for i in range(5)] for n in range(6)}
    sizes = [len(b) for b in model.batches]
    assert sum(sizes) == 30 and max(sizes) == 8
    assert len(sizes) <= 5  # 6 callers of 5 frames alone would be 6 batches of 5
    assert any(len({f // 100 for f in b}) > 1 for b in model.batches)  # frames of two segments in one batch


def test_max_wait_holds_a_small_batch_for_more_frames() -> None:
    model = Recorder()
    queue = BatchQueue(model, max_batch=8, max_wait=0.5)
    try:
        first = queue.submit([1, 2, 3])
        time.sleep(0.05)
        second = queue.submit([4, 5, 6, 7, 8])  # fills the batch before the wait ends
        assert numbers(first.result(timeout=5)) == [1, 2, 3]
        assert numbers(second.result(timeout=5)) == [4, 5, 6, 7, 8]
    finally:
        queue.close()
    assert model.batches == [[1, 2, 3, 4, 5, 6, 7, 8]]


def test_a_failing_batch_fails_its_callers_and_the_queue_goes_on() -> None:
    model = Recorder(fail_on=13)
    queue = BatchQueue(model, max_batch=4)
    try:
        broken = queue.submit(list(range(10, 20)))  # 10-13 fail; 14-19 are not run for nobody
        with pytest.raises(RuntimeError, match="frame 13 broke"):
            broken.result(timeout=5)
        assert numbers(queue.detect([1, 2])) == [1, 2]
    finally:
        queue.close()
    assert not any(14 in b for b in model.batches)


def test_closed_queue_refuses_work() -> None:
    queue = BatchQueue(Recorder(), max_batch=4)
    queue.close()
    with pytest.raises(RuntimeError, match="closed"):
        queue.submit([1])


def test_real_detector_gives_each_segment_its_own_detections_in_shared_batches() -> None:
    names = [n for n in (ASSETS / "models" / "coco_classes.txt").read_text().splitlines() if n]
    detector = create("onnxruntime", ModelSpec(str(ASSETS / "models" / "yolox_nano_dynbatch.onnx"), 416, 416, names,
                                               max_batch=8))
    frames = [f.image for f in sample_frames(ASSETS / "videos" / "one-by-one-person-detection.mp4", 5)][:60]
    segments = [frames[i : i + 10] for i in range(0, 60, 10)]  # 6 "segments" of 10 frames
    alone = [detector.detect(s) for s in segments]
    sizes: list[int] = []

    def run(batch: list[np.ndarray]) -> list[Detections]:
        sizes.append(len(batch))
        return detector.detect(batch)

    queue = BatchQueue(run, max_batch=8)
    together = detect_concurrently(queue, segments)
    assert sum(sizes) == 60 and max(sizes) == 8
    assert sum(len(d) for s in alone for d in s) > 20  # people are found at all
    for n in range(6):
        for a, b in zip(alone[n], together[n], strict=True):
            # ONNX Runtime on the CPU gives the same numbers whatever else shares the batch.
            assert np.array_equal(a.boxes, b.boxes) and np.array_equal(a.scores, b.scores)
            assert np.array_equal(a.classes, b.classes)
