"""Detections of one segment, stored compactly next to it as ``<segment>.det.npz``.

Arrays: ``times`` (F,) seconds from the segment's first frame, ``frames`` (F,) decode indices,
``counts`` (F,) detections per frame, then all frames' detections concatenated: ``boxes`` (N, 4)
float32 frame pixels, ``scores`` (N,) float32, ``classes`` (N,) int16; plus ``frame_size``
(width, height) and ``model`` (the model's sha256). Written to a temporary name and renamed, so a
reader never sees half a file; the same input gives the same bytes (re-running is idempotent).
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from analytics.detectors.base import Detections


@dataclass(frozen=True)
class SegmentDetections:
    times: npt.NDArray[np.float64]
    frames: npt.NDArray[np.int32]
    detections: list[Detections]
    frame_size: tuple[int, int]
    model: str

    def __len__(self) -> int:
        return len(self.detections)


def detections_path(segment_path: Path) -> Path:
    return segment_path.with_name(segment_path.stem + ".det.npz")


def save(path: Path, result: SegmentDetections) -> None:
    dets = result.detections
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        times=np.asarray(result.times, np.float64),
        frames=np.asarray(result.frames, np.int32),
        counts=np.asarray([len(d) for d in dets], np.int32),
        boxes=np.concatenate([d.boxes for d in dets]).astype(np.float32) if dets else np.zeros((0, 4), np.float32),
        scores=np.concatenate([d.scores for d in dets]).astype(np.float32) if dets else np.zeros(0, np.float32),
        classes=np.concatenate([d.classes for d in dets]).astype(np.int16) if dets else np.zeros(0, np.int16),
        frame_size=np.asarray(result.frame_size, np.int32),
        model=np.asarray(result.model),
    )
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_bytes(buffer.getvalue())
    os.replace(tmp, path)


def load(path: Path) -> SegmentDetections:
    with np.load(path) as data:
        bounds = np.concatenate([[0], np.cumsum(data["counts"])])
        boxes, scores, classes = data["boxes"], data["scores"], data["classes"].astype(np.int32)
        dets = [Detections(boxes[a:b], scores[a:b], classes[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        width, height = (int(v) for v in data["frame_size"])
        return SegmentDetections(data["times"], data["frames"], dets, (width, height), str(data["model"]))
