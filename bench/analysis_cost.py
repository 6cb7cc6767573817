"""Analysis cost per 5 s segment per camera (tracking + rules + state), against detection's cost.

What it measures, in one run on one machine, per load of 10, 50 and 200 objects per frame:
- analysis: what ``workers.analyze.apply`` does with one segment, less the database and Redis
  round trips: parse the camera's saved state (JSON), build ``CameraAnalyzer`` from it (masks,
  tracker, one rule per binding), ``feed`` the segment's 25 frames (5 s at 5 fps: mask zones,
  ``ByteTracker.update``, every rule), and serialise the new state to JSON. The camera has 13
  zones: a mask and two zones for each of the six algorithms (intrusion, loitering, line crossing,
  crowding, absence, stationary vehicle), 12 bindings, on a 1920x1080 frame;
- detections: ``bench/tracking_cost.scene`` (objects of 4 classes, person/bicycle/car/motorcycle,
  moving at up to one box size per second, 5 % missed, scores 0.2-1.0, a few spurious boxes);
- baseline: the ONNX Runtime detector (YOLOX-Nano dynbatch, CPU, batch 8) on real vtest.avi
  frames, letterbox + model + post-processing (median of 3 passes over 32 frames), times the
  segment's 25 frames: detection's cost for the same segment (decoding, which detection also pays,
  is left out, so the ratio is high);
- ratio = analysis / detection per segment (the issue's target: under 5 %). Also the tracker
  alone per segment (``ByteTracker.step``, as ``feed`` calls it, on the same frames) and the saved
  state's size.

Run: ``.venv/bin/python bench/analysis_cost.py [--segments 24] [--objects 10 50 200]``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analytics.analysis import CameraAnalyzer  # noqa: E402
from analytics.config import BindingConfig, CameraConfig, ZoneConfig  # noqa: E402
from analytics.detectors.store import SegmentDetections  # noqa: E402
from analytics.tracking import ByteTracker  # noqa: E402
from bench.tracking_cost import FRAME_H, FRAME_W, detector_cost, scene  # noqa: E402

ASSETS = Path(os.environ.get("PANOPTES_ASSETS", ROOT.parent / "shared" / "assets"))
SEGMENT_SECONDS, FPS = 5.0, 5.0
FRAMES = int(SEGMENT_SECONDS * FPS)
WARMUP_SEGMENTS = 4

PERSON, VEHICLES = ["person"], ["car", "motorcycle", "bus", "truck"]
ALGORITHMS: dict[str, tuple[dict[str, Any], list[str]]] = {  # catalog defaults, short enough to fire within the run
    "intrusion": ({"min_dwell": 1.0}, PERSON),
    "loitering": ({"threshold": 10.0}, PERSON),
    "line_crossing": ({"min_distance": 0.02}, PERSON),
    "crowding": ({"min_count": 5, "min_duration": 5.0}, PERSON),
    "absence": ({"threshold": 60.0, "min_count": 1}, PERSON),
    "stationary_vehicle": ({"threshold": 30.0, "max_movement": 0.02}, VEHICLES),
}


def camera() -> CameraConfig:
    """A camera with a mask and two zones and bindings per algorithm, spread over the frame."""
    zones = [ZoneConfig(id=1, name="mask", kind="mask", points=[(0.0, 0.0), (0.15, 0.0), (0.15, 0.15), (0.0, 0.15)])]
    bindings = []
    for n, (slug, (params, classes)) in enumerate(ALGORITHMS.items()):
        for k in range(2):
            zone_id = 2 + 2 * n + k
            x, y = 0.1 + 0.4 * k, 0.05 + 0.12 * n
            if slug == "line_crossing":
                zone = ZoneConfig(id=zone_id, name=f"z{zone_id}", kind="line", points=[(x + 0.2, 0.05), (x + 0.2, 0.95)])
            else:
                zone = ZoneConfig(id=zone_id, name=f"z{zone_id}", kind="polygon",
                                  points=[(x, y), (x + 0.35, y), (x + 0.4, y + 0.3), (x - 0.05, y + 0.3)])
            zones.append(zone)
            bindings.append(BindingConfig(id=zone_id, zone_id=zone_id, algorithm=slug, params=params, target_classes=classes,
                                          min_score=0.5, cooldown_seconds=0, severity="medium"))
    return CameraConfig(id=1, name="bench", stream_url="rtsp://bench/1", enabled=True, segment_seconds=5, detect_fps=FPS,
                        retention_hours=24, zones=zones, bindings=bindings)


def segments(objects: int, count: int) -> list[SegmentDetections]:
    frames = scene(objects, count * FRAMES)
    times = np.arange(FRAMES) / FPS
    return [SegmentDetections(times, np.arange(FRAMES, dtype=np.int32), frames[i * FRAMES:(i + 1) * FRAMES],
                              (int(FRAME_W), int(FRAME_H)), "bench") for i in range(count)]


def analysis_cost(objects: int, count: int, class_names: list[str]) -> dict[str, float]:
    """Per segment: ms of the whole analysis, of its state load/save, of the tracker alone; events; state KiB."""
    cam = camera()
    segs = segments(objects, WARMUP_SEGMENTS + count)
    raw = json.dumps({})
    total, state_io, events = [], [], 0
    for i, seg in enumerate(segs):
        start = 1_800_000_000.0 + i * SEGMENT_SECONDS
        t0 = time.perf_counter()
        saved = json.loads(raw)  # workers.analyze.load_state
        analyzer = CameraAnalyzer(cam, class_names, seg.frame_size, saved.get("analyzer"))
        t1 = time.perf_counter()
        found = analyzer.feed(start, seg)
        t2 = time.perf_counter()
        raw = json.dumps({"last_seq": i, "config_version": 1, "analyzer": analyzer.state()})  # workers.analyze.save_state
        t3 = time.perf_counter()
        if i >= WARMUP_SEGMENTS:
            total.append(t3 - t0)
            state_io.append((t1 - t0) + (t3 - t2))
            events += len(found)
    tracker = ByteTracker()
    tracker_times = []
    for i, seg in enumerate(segs):
        t0 = time.perf_counter()
        for offset, d in zip(seg.times, seg.detections, strict=True):
            tracker.step(d, i * SEGMENT_SECONDS + float(offset))
        if i >= WARMUP_SEGMENTS:
            tracker_times.append(time.perf_counter() - t0)
    ms = np.asarray(total) * 1000
    return {"ms": float(ms.mean()), "p95": float(np.percentile(ms, 95)), "state_ms": float(np.mean(state_io) * 1000),
            "tracker_ms": float(np.mean(tracker_times) * 1000), "events": events / count, "state_kib": len(raw) / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--segments", type=int, default=24, help="measured segments per load (after 4 of warm-up)")
    parser.add_argument("--objects", type=int, nargs="+", default=[10, 50, 200])
    args = parser.parse_args()

    class_names = [n for n in (ASSETS / "models" / "coco_classes.txt").read_text().splitlines() if n]
    detect_ms = detector_cost() * FRAMES
    print(f"detection of one segment ({FRAMES} frames, ONNX Runtime CPU, YOLOX-Nano 416, batch 8): {detect_ms:.1f} ms")
    print(f"analysis per {SEGMENT_SECONDS:.0f} s segment at {FPS:.0f} fps, 13 zones / 12 bindings, {args.segments} segments per load:")
    print(f"{'objects':>8} {'ms/seg':>8} {'p95':>8} {'/ detect':>9} {'tracker':>8} {'state io':>9} {'events':>7} {'state':>10}")
    for objects in args.objects:
        r = analysis_cost(objects, args.segments, class_names)
        print(f"{objects:>8} {r['ms']:>8.1f} {r['p95']:>8.1f} {r['ms'] / detect_ms:>8.1%} {r['tracker_ms']:>8.1f} "
              f"{r['state_ms']:>9.1f} {r['events']:>7.1f} {r['state_kib']:>6.1f} KiB")


if __name__ == "__main__":
    main()
