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
        # Written straight into the float32 NCHW batch, padding only where no frame lies: a uint8
        # canvas cast and transposed as a whole took 0.55 ms a 768x432 frame, this 0.44 ms.
        batch = np.empty((len(frames), 3, self.height, self.width), np.float32)
        ratios = np.empty(len(frames), np.float32)
        for i, frame in enumerate(frames):
            h, w = frame.shape[:2]
            r = self.ratio(w, h)
            nw, nh = int(w * r), int(h * r)
            resized = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_LINEAR) if (nw, nh) != (w, h) else frame
            batch[i, :, nh:, :] = PAD_VALUE
            batch[i, :, :nh, nw:] = PAD_VALUE
            for c, channel in enumerate(cv2.split(resized)):
                batch[i, c, :nh, :nw] = channel
            ratios[i] = r
        return batch, ratios
