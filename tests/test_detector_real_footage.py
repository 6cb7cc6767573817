"""The YOLOX-Nano detector (ONNX Runtime, CPU) on the shared footage: the assets README's figures.

Counts exactly; boxes within 3 px and scores within 0.05 (the README's own tolerances).
"""
from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import av
import numpy as np
import pytest

from analytics.detectors import Detections, ModelSpec, create

ASSETS = Path(os.environ.get("PANOPTES_ASSETS", Path(__file__).resolve().parents[2] / "shared" / "assets"))
VEHICLES = [1, 2, 3, 5, 7]  # bicycle, car, motorcycle, bus, truck

# video, frame, persons, vehicles (assets/README.md "Person counts on named frames")
NAMED_FRAMES = [
    ("vtest.avi", 0, 4, 3), ("vtest.avi", 200, 8, 3), ("vtest.avi", 750, 9, 3),
    ("person-bicycle-car-detection.mp4", 34, 0, 1), ("person-bicycle-car-detection.mp4", 320, 1, 0),
    ("person-bicycle-car-detection.mp4", 390, 0, 1),
    ("one-by-one-person-detection.mp4", 0, 0, 0), ("one-by-one-person-detection.mp4", 300, 1, 0),
    ("one-by-one-person-detection.mp4", 1000, 1, 0),
]
# video, frame, class, score, box (assets/README.md, named boxes)
NAMED_BOXES = [
    ("vtest.avi", 0, 0, 0.86, (402, 149, 427, 202)), ("vtest.avi", 0, 0, 0.82, (158, 137, 177, 194)),
    ("vtest.avi", 0, 0, 0.76, (313, 98, 332, 145)), ("vtest.avi", 0, 0, 0.52, (19, 69, 30, 90)),
    ("vtest.avi", 0, 2, 0.81, (457, 32, 479, 59)), ("vtest.avi", 0, 7, 0.75, (407, 26, 454, 62)),
    ("vtest.avi", 0, 2, 0.67, (407, 27, 452, 62)),
    ("person-bicycle-car-detection.mp4", 34, 2, 0.82, (0, 99, 112, 229)),
    ("person-bicycle-car-detection.mp4", 320, 0, 0.81, (107, 31, 150, 108)),
    ("person-bicycle-car-detection.mp4", 390, 2, 0.92, (0, 52, 163, 159)),
    ("one-by-one-person-detection.mp4", 300, 0, 0.90, (382, 3, 544, 372)),
    ("one-by-one-person-detection.mp4", 1000, 0, 0.88, (387, 12, 523, 386)),
]


@cache
def detector() -> object:
    names = (ASSETS / "models" / "coco_classes.txt").read_text().split("\n")
    spec = ModelSpec(str(ASSETS / "models" / "yolox_nano_dynbatch.onnx"), 416, 416, [n for n in names if n])
    return create("onnxruntime", spec)


@cache
def detections(video: str, index: int) -> Detections:
    with av.open(str(ASSETS / "videos" / video)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == index:
                return detector().detect([frame.to_ndarray(format="bgr24")])[0]  # type: ignore[attr-defined,no-any-return]
    raise AssertionError(f"{video} has no frame {index}")


@pytest.mark.parametrize(("video", "index", "persons", "vehicles"), NAMED_FRAMES)
def test_it_counts_the_people_and_vehicles_the_assets_readme_lists(video: str, index: int, persons: int, vehicles: int) -> None:
    found = detections(video, index)
    assert int((found.classes == 0).sum()) == persons
    assert int(np.isin(found.classes, VEHICLES).sum()) == vehicles


@pytest.mark.parametrize(("video", "index", "cls", "score", "box"), NAMED_BOXES)
def test_it_places_the_named_boxes_within_3_px_and_scores_within_0_05(
    video: str, index: int, cls: int, score: float, box: tuple[int, int, int, int]
) -> None:
    found = detections(video, index)
    same_class = found.classes == cls
    distance = np.abs(found.boxes[same_class] - np.asarray(box, np.float32)).max(axis=1)
    best = int(distance.argmin())
    assert distance[best] <= 3
    assert abs(float(found.scores[same_class][best]) - score) <= 0.05


def test_the_static_and_dynamic_batch_models_agree_and_batching_changes_nothing() -> None:
    names = [n for n in (ASSETS / "models" / "coco_classes.txt").read_text().split("\n") if n]
    static = create("onnxruntime", ModelSpec(str(ASSETS / "models" / "yolox_nano.onnx"), 416, 416, names))
    with av.open(str(ASSETS / "videos" / "vtest.avi")) as container:
        frames = [f.to_ndarray(format="bgr24") for _, f in zip(range(8), container.decode(video=0), strict=False)]
    one_by_one = static.detect(frames)
    batched = detector().detect(frames)  # type: ignore[attr-defined]
    for a, b in zip(one_by_one, batched, strict=True):
        np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-3)
        np.testing.assert_array_equal(a.classes, b.classes)
