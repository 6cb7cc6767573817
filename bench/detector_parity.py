"""Backend parity: the same frames through ONNX Runtime (the reference) and another backend.

DESIGN §9: every backend must give the same detections within a tolerance. Per frame, detections
of the same class are paired greedily by IoU (best pair first); the figures are the counts, the
worst IoU of a pair (printed as the IoU deficit, 1 - IoU) and the largest score difference. The
tolerance tests/test_detector_torch.py holds the torch backend to: the same counts, every
detection paired, IoU >= 0.9, score difference <= 0.05.

Frames: 0, 200 and 750 of vtest.avi and 300 of one-by-one-person-detection.mp4 (shared/assets).

Run: ``.venv/bin/python bench/detector_parity.py [--backend torch] [--device cpu|cuda] [--fp16|--fp32]``
(on a GPU host ``--device cuda`` runs torch in FP16; ``--device cpu --fp16`` runs FP16 arithmetic on
the CPU, a stand-in where no GPU is at hand; ``--backend tensorrt`` compares TensorRT).
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analytics.detectors import Detections, ModelSpec, create  # noqa: E402

ASSETS = Path(os.environ.get("PANOPTES_ASSETS", ROOT.parent / "shared" / "assets"))
FRAMES = [("vtest.avi", 0), ("vtest.avi", 200), ("vtest.avi", 750), ("one-by-one-person-detection.mp4", 300)]


@dataclass(frozen=True)
class Parity:
    """One frame: how far ``candidate``'s detections are from ``reference``'s."""

    reference: int  # detections found by each backend
    candidate: int
    paired: int  # pairs of the same class
    min_iou: float  # worst IoU among the pairs (1.0 when there are none)
    max_score_diff: float  # largest |score difference| among the pairs (0.0 when none)

    def within(self, min_iou: float = 0.9, max_score_diff: float = 0.05) -> bool:
        same = self.reference == self.candidate == self.paired
        return same and self.min_iou >= min_iou and self.max_score_diff <= max_score_diff


def iou(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """(len(a), len(b)) IoU of x1, y1, x2, y2 boxes."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=2)
    area_a = (a[:, 2:] - a[:, :2]).prod(axis=1)
    area_b = (b[:, 2:] - b[:, :2]).prod(axis=1)
    out: npt.NDArray[np.float32] = inter / (area_a[:, None] + area_b[None, :] - inter + 1e-9)
    return out


def compare(reference: Detections, candidate: Detections) -> Parity:
    """Pair detections of the same class, best IoU first; unpaired ones show in the counts."""
    ious: list[float] = []
    score_diffs: list[float] = []
    for cls in np.union1d(reference.classes, candidate.classes):
        ra, cb = np.flatnonzero(reference.classes == cls), np.flatnonzero(candidate.classes == cls)
        if not len(ra) or not len(cb):
            continue
        overlap = iou(reference.boxes[ra], candidate.boxes[cb])
        while overlap.size and overlap.max() > 0:
            i, j = np.unravel_index(int(overlap.argmax()), overlap.shape)
            ious.append(float(overlap[i, j]))
            score_diffs.append(abs(float(reference.scores[ra[i]] - candidate.scores[cb[j]])))
            overlap[i, :], overlap[:, j] = -1, -1
    return Parity(len(reference), len(candidate), len(ious), min(ious, default=1.0), max(score_diffs, default=0.0))


def read_frames(names: list[tuple[str, int]] = FRAMES) -> list[npt.NDArray[np.uint8]]:
    frames = []
    for video, index in names:
        with av.open(str(ASSETS / "videos" / video)) as container:
            for i, frame in enumerate(container.decode(video=0)):
                if i == index:
                    frames.append(frame.to_ndarray(format="bgr24"))
                    break
    return frames


def spec() -> ModelSpec:
    names = [n for n in (ASSETS / "models" / "coco_classes.txt").read_text().split("\n") if n]
    return ModelSpec(str(ASSETS / "models" / "yolox_nano_dynbatch.onnx"), 416, 416, names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", default="torch", choices=["torch", "tensorrt"])
    parser.add_argument("--device", default="cpu", help="torch device: cpu (FP32) or cuda (FP16 unless --fp32)")
    precision = parser.add_mutually_exclusive_group()
    precision.add_argument("--fp32", action="store_true", help="torch on cuda: FP32 instead of FP16; tensorrt: FP32 engine")
    precision.add_argument("--fp16", action="store_true", help="torch: FP16 even on the CPU (slow; FP16 numerics without a GPU)")
    args = parser.parse_args()

    frames = read_frames()
    model = spec()
    options: dict[str, object]
    if args.backend == "torch":
        options = {"device": args.device, "half": True if args.fp16 else False if args.fp32 else None}
    else:
        options = {"precision": "fp32" if args.fp32 else "fp16"}
    reference = create("onnxruntime", model).detect(frames)
    candidate_detector = create(args.backend, model, **options)
    candidate = candidate_detector.detect(frames)
    if args.backend == "torch":  # what it really runs: no CUDA means CPU, and FP32 there
        device, half = getattr(candidate_detector, "device", "?"), getattr(candidate_detector, "half", False)
        where = f"torch on {device}, {'FP16' if half else 'FP32'}"
    else:
        where = f"tensorrt, {options['precision']}"
    print(f"onnxruntime (CPU, FP32) vs {where}")
    print(f"{'frame':<40} {'count ort':>9} {'count cand':>10} {'paired':>6} {'IoU deficit':>11} {'score diff':>10}")
    results = [compare(r, c) for r, c in zip(reference, candidate, strict=True)]
    for (video, index), p in zip(FRAMES, results, strict=True):
        label = f"{video}#{index}"
        print(f"{label:<40} {p.reference:>9} {p.candidate:>10} {p.paired:>6} {1 - p.min_iou:>11.2e} {p.max_score_diff:>10.2e}")
    worst_iou = min(p.min_iou for p in results)
    worst_score = max(p.max_score_diff for p in results)
    same = all(p.reference == p.candidate == p.paired for p in results)
    print(
        f"max IoU deficit {1 - worst_iou:.2e}, max score difference {worst_score:.2e}, "
        f"counts {'identical' if same else 'DIFFER'} ({sum(p.reference for p in results)} detections); "
        f"within tolerance (IoU >= 0.9, score diff <= 0.05): {all(p.within() for p in results)}"
    )


if __name__ == "__main__":
    main()
