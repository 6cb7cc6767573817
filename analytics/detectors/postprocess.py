"""Shared post-processing of YOLOX outputs (assets/README.md "Decoding recipe"), vectorised.

1. Decode grid-relative boxes: centre = (t + grid) * stride, size = exp(t) * stride (strides 8/16/32).
2. score = objectness x class probability; one label per anchor (the best class); keep >= threshold.
3. Class-aware NMS (IoU 0.45) by offsetting each class's boxes apart and running one NMS.
4. Scale back by the letterbox ratio (padding is bottom/right, so no offset) and clip to the frame.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from analytics.detectors.base import Detections

STRIDES = (8, 16, 32)


def grid(width: int, height: int) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """(xy offsets (A, 2), strides (A, 1)) of every anchor, in the network's output order."""
    cells, strides = [], []
    for s in STRIDES:
        gh, gw = height // s, width // s
        ys, xs = np.meshgrid(np.arange(gh), np.arange(gw), indexing="ij")
        cells.append(np.stack([xs.ravel(), ys.ravel()], axis=1))
        strides.append(np.full((gh * gw, 1), s))
    return np.concatenate(cells).astype(np.float32), np.concatenate(strides).astype(np.float32)


def nms(boxes: npt.NDArray[np.float32], scores: npt.NDArray[np.float32], iou_threshold: float) -> npt.NDArray[np.intp]:
    """Indices kept by greedy NMS, best score first (numpy: each step suppresses a whole row)."""
    order = np.argsort(-scores, kind="stable")
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1) * (y2 - y1)
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        w = np.clip(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0, None)
        h = np.clip(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0, None)
        inter = w * h
        iou = inter / (areas[i] + areas[rest] - inter + 1e-9)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.intp)


class Postprocess:
    def __init__(self, width: int, height: int, num_classes: int, score_threshold: float, iou_threshold: float) -> None:
        self.cells, self.strides = grid(width, height)
        self.num_classes = num_classes
        self.score_threshold, self.iou_threshold = score_threshold, iou_threshold

    def __call__(self, raw: npt.NDArray[np.float32], ratio: float, frame_size: tuple[int, int]) -> Detections:
        from analytics.detectors.base import Detections

        if raw.shape != (self.cells.shape[0], 5 + self.num_classes):
            raise ValueError(f"model output {raw.shape} does not match the contract ({self.cells.shape[0]}, {5 + self.num_classes})")
        # Class probabilities are sigmoid outputs (<= 1), so a score reaches the threshold only where
        # the objectness does: the 80 class products are computed for those anchors only (a few of
        # 3,549; exactly the same result as computing them all, for a tenth of the work).
        candidates = np.flatnonzero(raw[:, 4] >= self.score_threshold)
        raw = raw[candidates]
        class_scores = raw[:, 5:] * raw[:, 4:5]
        classes = class_scores.argmax(axis=1)
        scores = class_scores[np.arange(len(classes)), classes]
        keep = scores >= self.score_threshold
        if not keep.any():
            return Detections.empty()
        raw, classes, scores, anchors = raw[keep], classes[keep], scores[keep], candidates[keep]
        centre = (raw[:, :2] + self.cells[anchors]) * self.strides[anchors]
        size = np.exp(raw[:, 2:4]) * self.strides[anchors]
        boxes = np.concatenate([centre - size / 2, centre + size / 2], axis=1) / ratio
        # Class-aware NMS in one pass: boxes of different classes are moved apart so they never overlap.
        offset = classes[:, None].astype(np.float32) * (boxes.max() + 1)
        kept = nms(boxes + offset, scores, self.iou_threshold)
        w, h = frame_size
        boxes = boxes[kept]
        np.clip(boxes[:, 0::2], 0, w, out=boxes[:, 0::2])
        np.clip(boxes[:, 1::2], 0, h, out=boxes[:, 1::2])
        return Detections(boxes.astype(np.float32), scores[kept].astype(np.float32), classes[kept].astype(np.int32))
