"""The shared letterbox (assets/README.md "Preprocessing") on real frames of several shapes:
top-left content resized bilinearly, 114 everywhere else, CHW float32 with raw 0-255 values."""
from __future__ import annotations

import os
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from analytics.detectors.preprocess import PAD_VALUE, Letterbox

ASSETS = Path(os.environ.get("PANOPTES_ASSETS", Path(__file__).resolve().parents[2] / "shared" / "assets"))


def first_frame(video: str) -> np.ndarray:
    with av.open(str(ASSETS / "videos" / video)) as container:
        return next(container.decode(video=0)).to_ndarray(format="bgr24")  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    wide = first_frame("one-by-one-person-detection.mp4")  # 768 x 432: padded below
    return [
        wide,
        first_frame("vtest.avi"),  # 480 x 360: padded below
        np.ascontiguousarray(wide[:, 200:400]),  # 200 x 432, taller than wide: padded on the right
        np.ascontiguousarray(wide[:416, :416]),  # exactly the input: no resize, no padding
        np.ascontiguousarray(wide[:100, :150]),  # smaller than the input: scaled up
    ]


def test_each_frame_lies_top_left_resized_and_the_rest_is_114(frames: list[np.ndarray]) -> None:
    batch, ratios = Letterbox(416, 416)(frames)
    assert batch.shape == (len(frames), 3, 416, 416) and batch.dtype == np.float32 and batch.flags["C_CONTIGUOUS"]
    for i, frame in enumerate(frames):
        h, w = frame.shape[:2]
        r = min(416 / h, 416 / w)
        assert ratios[i] == pytest.approx(r)
        nw, nh = int(w * r), int(h * r)
        expected = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_LINEAR) if (nw, nh) != (w, h) else frame
        np.testing.assert_array_equal(batch[i, :, :nh, :nw], expected.transpose(2, 0, 1).astype(np.float32))
        padding = np.ones((416, 416), bool)
        padding[:nh, :nw] = False
        assert (batch[i][:, padding] == PAD_VALUE).all()
        assert padding.any() == ((nw, nh) != (416, 416))


def test_an_empty_batch_is_empty() -> None:
    batch, ratios = Letterbox(416, 416)([])
    assert batch.shape == (0, 3, 416, 416) and ratios.shape == (0,)
