"""Tracking quality against hand-made ground truth: MOTA, IDF1 and ID switches (motmetrics).

What it measures, in one run:
- ground truth: ``tests/data/vtest_f380-478_5fps.gt.txt`` (MOT format, every person in vtest.avi
  frames 380-478, every 2nd frame = 5 fps, 10 s; how it was made: ``tests/data/README.md``);
- ours: the YOLOX-Nano detector (ONNX Runtime, CPU, the product's score threshold 0.3) on those
  frames, then ``ByteTracker`` with its defaults, fed at t = frame / 10 s; the hypotheses are its
  confirmed person tracks in each frame (what the rules see);
- baselines on the same detections: ``fresh-ids`` gives every detection a new id every frame (a
  broken tracker: the floor tests/test_tracking_quality.py asserts must reject it), and
  ``all-detections`` is every person detection with the id our tracker gave it, confirmed or not
  (what tracking could reach with this detector: the difference is the cost of confirmation).

A pair matches when IoU >= 0.5 (MOTChallenge's threshold). motmetrics 1.4's own IoU helper calls
``np.asfarray``, gone in numpy 2, so distances are computed here (analytics.tracking.matching).

Run: ``.venv/bin/python bench/tracking_quality.py``.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analytics.detectors import Detections, ModelSpec, create  # noqa: E402
from analytics.tracking import ByteTracker  # noqa: E402
from analytics.tracking.matching import iou_matrix  # noqa: E402

ASSETS = Path(os.environ.get("PANOPTES_ASSETS", ROOT.parent / "shared" / "assets"))
GROUND_TRUTH = ROOT / "tests" / "data" / "vtest_f380-478_5fps.gt.txt"
FIRST_FRAME, LAST_FRAME, STEP, FPS = 380, 478, 2, 10.0  # MOT frame k is decoded frame FIRST_FRAME + STEP * (k - 1)
PERSON = 0
MIN_IOU = 0.5

Boxes = npt.NDArray[np.float64]
# (detections of a frame, time) -> (ids, x1 y1 x2 y2 boxes) of the hypotheses in that frame
Tracker = Callable[[Detections, float], tuple[list[int], Boxes]]


@dataclass(frozen=True)
class Scores:
    mota: float
    idf1: float
    id_switches: int
    false_positives: int
    misses: int
    objects: int  # ground-truth boxes


def ground_truth(path: Path = GROUND_TRUTH) -> dict[int, tuple[list[int], Boxes]]:
    """MOT rows ``frame,id,x,y,w,h,...`` -> frame -> (ids, x1 y1 x2 y2 boxes)."""
    rows = np.loadtxt(path, delimiter=",", ndmin=2)
    out = {}
    for frame in range(1, (LAST_FRAME - FIRST_FRAME) // STEP + 2):
        r = rows[rows[:, 0] == frame]
        out[frame] = ([int(i) for i in r[:, 1]], np.column_stack([r[:, 2], r[:, 3], r[:, 2] + r[:, 4], r[:, 3] + r[:, 5]]))
    return out


def frames() -> Iterator[tuple[int, float, npt.NDArray[np.uint8]]]:
    """(MOT frame number from 1, time in s, BGR image) of the annotated frames."""
    with av.open(str(ASSETS / "videos" / "vtest.avi")) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index > LAST_FRAME:
                break
            if index >= FIRST_FRAME and (index - FIRST_FRAME) % STEP == 0:
                yield (index - FIRST_FRAME) // STEP + 1, index / FPS, frame.to_ndarray(format="bgr24")  # type: ignore[misc]


def detect(score_threshold: float = 0.3) -> list[tuple[float, Detections]]:
    """(time, detections) of each annotated frame: YOLOX-Nano, ONNX Runtime on the CPU."""
    names = [n for n in (ASSETS / "models" / "coco_classes.txt").read_text().splitlines() if n]
    detector = create("onnxruntime", ModelSpec(str(ASSETS / "models" / "yolox_nano_dynbatch.onnx"), 416, 416, names,
                                               score_threshold=score_threshold, max_batch=8))
    decoded = list(frames())
    found = detector.detect([image for _, _, image in decoded])
    return [(t, d) for (_, t, _), d in zip(decoded, found, strict=True)]


def ours(confirmed_only: bool = True) -> Tracker:
    tracker = ByteTracker()

    def step(d: Detections, t: float) -> tuple[list[int], Boxes]:
        tracks = [tr for tr in tracker.update(d, t) if tr.cls == PERSON and (tr.confirmed or not confirmed_only)]
        return [tr.id for tr in tracks], np.asarray([tr.box for tr in tracks], np.float64).reshape(-1, 4)

    return step


def fresh_ids() -> Tracker:
    """A broken tracker: every person detection, a new id every frame."""
    next_id = iter(range(1, 1 << 30))

    def step(d: Detections, t: float) -> tuple[list[int], Boxes]:
        boxes = np.asarray(d.boxes, np.float64)[np.asarray(d.classes) == PERSON]
        return [next(next_id) for _ in range(len(boxes))], boxes

    return step


def evaluate(tracker: Tracker, detections: list[tuple[float, Detections]], truth: dict[int, tuple[list[int], Boxes]]) -> Scores:
    import motmetrics as mm  # a bench/test dependency only (tests/requirements.txt)

    acc = mm.MOTAccumulator(auto_id=False)
    for frame, (t, d) in enumerate(detections, start=1):
        gt_ids, gt_boxes = truth[frame]
        hyp_ids, hyp_boxes = tracker(d, t)
        iou = iou_matrix(gt_boxes, hyp_boxes)
        acc.update(gt_ids, hyp_ids, np.where(iou >= MIN_IOU, 1.0 - iou, np.nan), frameid=frame)
    summary = mm.metrics.create().compute(
        acc, metrics=["mota", "idf1", "num_switches", "num_false_positives", "num_misses", "num_objects"], name="x")
    row = summary.loc["x"]
    return Scores(float(row["mota"]), float(row["idf1"]), int(row["num_switches"]), int(row["num_false_positives"]),
                  int(row["num_misses"]), int(row["num_objects"]))


def main() -> None:
    truth = ground_truth()
    detections = detect()
    print(f"ground truth: {GROUND_TRUTH.relative_to(ROOT)}: {len(truth)} frames, "
          f"{sum(len(ids) for ids, _ in truth.values())} boxes, {len({i for ids, _ in truth.values() for i in ids})} people")
    print(f"{'tracker':<16} {'MOTA':>7} {'IDF1':>7} {'ID sw.':>7} {'FP':>5} {'misses':>7}")
    for name, tracker in (("ours", ours()), ("all-detections", ours(confirmed_only=False)), ("fresh-ids", fresh_ids())):
        s = evaluate(tracker, detections, truth)
        print(f"{name:<16} {s.mota:>7.3f} {s.idf1:>7.3f} {s.id_switches:>7} {s.false_positives:>5} {s.misses:>7}")


if __name__ == "__main__":
    main()
