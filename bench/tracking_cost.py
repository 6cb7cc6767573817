"""Tracker cost per frame at 10, 50 and 200 objects, against the detector's CPU cost per frame.

What it measures, in one run on one machine:
- tracker: ``ByteTracker.step`` (what CameraAnalyzer calls: tracks as columns) on synthetic scenes (objects of 4 classes moving at up to one box
  size per second in a 1920x1080 frame, 5 fps, a few px of jitter, 5 % of detections missing,
  scores 0.2-1.0 so both association stages run, a few spurious detections), after a warm-up;
  also ``update``, which returns the same tracks as ``Track`` objects (a Python object per track);
- baseline: the ONNX Runtime detector (YOLOX-Nano dynbatch, CPU) on real frames of vtest.avi,
  letterbox + model + post-processing, in batches of 8 as workers.detect runs it; the median of 3
  passes over 32 frames (one pass varied by ±30 % on the shared dev machine);
- ratio = tracker ms/frame / detector ms/frame: what tracking adds to detection's CPU bill.
  Also the size of ``state()`` as JSON, which is stored per camera after every segment.

Run: ``.venv/bin/python bench/tracking_cost.py [--frames 300] [--objects 10 50 200]``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analytics.detectors import Detections, ModelSpec, create  # noqa: E402
from analytics.tracking import ByteTracker  # noqa: E402

ASSETS = Path(os.environ.get("PANOPTES_ASSETS", ROOT.parent / "shared" / "assets"))
FRAME_W, FRAME_H, DT = 1920.0, 1080.0, 0.2


def scene(objects: int, frames: int, seed: int = 0) -> list[Detections]:
    """Detections of ``objects`` boxes moving smoothly (bouncing off the frame edges)."""
    rng = np.random.default_rng(seed)
    size = rng.uniform(30, 120, (objects, 1)) * np.array([[1.0, 2.0]])  # people-like: twice as tall as wide
    pos = rng.uniform([0, 0], [FRAME_W, FRAME_H], (objects, 2))
    vel = rng.uniform(-1, 1, (objects, 2)) * size
    classes = rng.integers(0, 4, objects).astype(np.int32)
    out = []
    for _ in range(frames):
        pos += vel * DT
        bounced = (pos < 0) | (pos > [FRAME_W, FRAME_H])
        vel[bounced] *= -1
        pos = np.clip(pos, 0, [FRAME_W, FRAME_H])
        present = rng.random(objects) > 0.05
        boxes = np.concatenate([pos - size / 2, pos + size / 2], axis=1) + rng.uniform(-3, 3, (objects, 4))
        spurious = rng.integers(0, 3)
        spurious_boxes = np.concatenate([rng.uniform(0, FRAME_W - 60, (spurious, 2)), np.zeros((spurious, 2))], axis=1)
        spurious_boxes[:, 2:] = spurious_boxes[:, :2] + 50
        out.append(Detections(
            np.concatenate([boxes[present], spurious_boxes]).astype(np.float32),
            np.concatenate([rng.uniform(0.2, 1.0, int(present.sum())), rng.uniform(0.1, 0.7, spurious)]).astype(np.float32),
            np.concatenate([classes[present], rng.integers(0, 4, spurious)]).astype(np.int32),
        ))
    return out


def tracker_cost(objects: int, frames: int) -> tuple[float, float, float, int, int]:
    """(step ms/frame, its p95, update ms/frame, live tracks at the end, state JSON bytes)."""
    detections = scene(objects, frames + 20)
    times: dict[str, list[float]] = {"step": [], "update": []}
    for method in times:
        tracker = ByteTracker()
        feed = getattr(tracker, method)
        for i, d in enumerate(detections[:20]):  # warm-up: tracks confirmed, numpy paths hot
            feed(d, i * DT)
        for i, d in enumerate(detections[20:], start=20):
            start = time.perf_counter()
            feed(d, i * DT)
            times[method].append(time.perf_counter() - start)
    ms = np.asarray(times["step"]) * 1000
    return (float(ms.mean()), float(np.percentile(ms, 95)), float(np.mean(times["update"]) * 1000), len(tracker),
            len(json.dumps(tracker.state())))


def detector_cost(count: int = 32, batch: int = 8) -> float:
    """ms/frame of the ONNX Runtime detector (letterbox + model + post-processing) on real frames."""
    names = [n for n in (ASSETS / "models" / "coco_classes.txt").read_text().splitlines() if n]
    detector = create("onnxruntime", ModelSpec(str(ASSETS / "models" / "yolox_nano_dynbatch.onnx"), 416, 416, names, max_batch=batch))
    with av.open(str(ASSETS / "videos" / "vtest.avi")) as container:
        images = [f.to_ndarray(format="bgr24") for _, f in zip(range(count), container.decode(video=0), strict=False)]
    detector.detect(images[:batch])  # warm-up at this batch size
    passes = []
    for _ in range(3):
        start = time.perf_counter()
        detector.detect(images)
        passes.append((time.perf_counter() - start) / len(images) * 1000)
    return float(np.median(passes))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--objects", type=int, nargs="+", default=[10, 50, 200])
    args = parser.parse_args()

    detect_ms = detector_cost()
    print(f"detector (ONNX Runtime CPU, YOLOX-Nano 416, batch 8, vtest.avi 480x360): {detect_ms:.2f} ms/frame")
    print(f"tracker, {args.frames} frames at {1 / DT:.0f} fps per scene:")
    print(f"{'objects':>8} {'ms/frame':>9} {'p95 ms':>8} {'/ detector':>11} {'update ms':>10} {'live tracks':>12} {'state JSON':>11}")
    for objects in args.objects:
        mean, p95, update, live, state_bytes = tracker_cost(objects, args.frames)
        print(f"{objects:>8} {mean:>9.3f} {p95:>8.3f} {mean / detect_ms:>10.1%} {update:>10.3f} {live:>12} {state_bytes / 1024:>9.1f} KiB")


if __name__ == "__main__":
    main()
