"""Shared pre-processing: YOLOX's letterbox (assets/README.md "Preprocessing").

BGR uint8 frames -> resize keeping the aspect ratio (bilinear) -> top-left on a 114 canvas ->
CHW float32 with raw 0-255 values, batched. Used by every backend.
"""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

PAD_VALUE = 114


class Letterbox:
    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height

    def ratio(self, frame_w: int, frame_h: int) -> float:
        return min(self.height / frame_h, self.width / frame_w)

    def __call__(self, frames: Sequence[npt.NDArray[np.uint8]]) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """(batch (N, 3, H, W) float32, ratios (N,)): ratio r maps frame pixels to input pixels."""
        batch = np.full((len(frames), self.height, self.width, 3), PAD_VALUE, np.uint8)
        ratios = np.empty(len(frames), np.float32)
        for i, frame in enumerate(frames):
            h, w = frame.shape[:2]
            r = self.ratio(w, h)
            nw, nh = int(w * r), int(h * r)
            batch[i, :nh, :nw] = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_LINEAR) if (nw, nh) != (w, h) else frame
            ratios[i] = r
        # One transpose and cast for the whole batch (cheaper than per frame).
        return np.ascontiguousarray(batch.transpose(0, 3, 1, 2), dtype=np.float32), ratios
