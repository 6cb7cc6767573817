"""The torch backend (onnx2torch) against the ONNX Runtime backend on real frames of the shared footage.

Here it runs on the CPU in FP32 (no GPU on these machines); on a GPU host the same tests run
FP16 on CUDA when PANOPTES_TEST_TORCH_DEVICE=cuda. Tolerance (DESIGN §9): the same counts, every
detection paired with one of the same class, IoU >= 0.9, score difference <= 0.05.
Skipped, with the reason, where torch or onnx2torch cannot be imported.
"""
from __future__ import annotations

import dataclasses
import os
import sys
from functools import cache

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (GPU hosts install it themselves; tests/requirements.txt pins the CPU build)")

from analytics.detectors import Detections, Detector, create  # noqa: E402
from analytics.detectors.preprocess import Letterbox  # noqa: E402
from analytics.detectors.torch_backend import import_onnx2torch, letterbox_tensor  # noqa: E402
from bench.detector_parity import ASSETS, FRAMES, compare, read_frames, spec  # noqa: E402

try:
    import_onnx2torch()
except Exception as exc:  # any import failure means: skip, and say why
    pytest.skip(f"onnx2torch cannot be imported: {exc}", allow_module_level=True)

DEVICE = os.environ.get("PANOPTES_TEST_TORCH_DEVICE", "cpu")
# onnx2torch's Slice indexes with a list of slices, which torch >= 2.9 warns may change meaning; the
# parity tests below would fail if it did.
pytestmark = pytest.mark.filterwarnings("ignore:Using a non-tuple sequence for multidimensional indexing:UserWarning")


@cache
def frames() -> list[np.ndarray]:
    return read_frames()


@cache
def detector(model: str = "yolox_nano_dynbatch.onnx") -> Detector:
    return create("torch", dataclasses.replace(spec(), onnx_path=str(ASSETS / "models" / model)), device=DEVICE)


@cache
def reference() -> list[Detections]:
    return create("onnxruntime", spec()).detect(frames())


@pytest.mark.parametrize("index", range(len(FRAMES)), ids=[f"{v}#{i}" for v, i in FRAMES])
def test_torch_finds_what_onnxruntime_finds_on_the_shared_footage(index: int) -> None:
    parity = compare(reference()[index], detector().detect(frames())[index])

    assert parity.reference == parity.candidate == parity.paired
    assert parity.min_iou >= 0.9
    assert parity.max_score_diff <= 0.05


@cache
def fp16_detector() -> Detector:
    return create("torch", spec(), device=DEVICE, half=True)


@pytest.mark.parametrize("index", range(len(FRAMES)), ids=[f"{v}#{i}" for v, i in FRAMES])
def test_fp16_arithmetic_finds_what_onnxruntime_finds(index: int) -> None:
    # FP16 weights and activations, here on the CPU: the rounding the CUDA FP16 path has, though
    # not its kernels (a GPU host runs this on CUDA with PANOPTES_TEST_TORCH_DEVICE=cuda).
    found = fp16_detector()
    assert found.half is True  # type: ignore[attr-defined]
    parity = compare(reference()[index], found.detect(frames())[index])

    assert parity.reference == parity.candidate == parity.paired
    assert parity.min_iou >= 0.9
    assert parity.max_score_diff <= 0.05


def test_it_runs_fp32_on_the_cpu_when_asked_for_cuda_on_a_host_without_it() -> None:
    if torch.cuda.is_available():
        pytest.skip("this host has CUDA")

    found = create("torch", spec())

    assert found.device.type == "cpu"  # type: ignore[attr-defined]
    assert found.half is False  # type: ignore[attr-defined]


def test_a_model_exported_with_a_batch_of_one_is_run_frame_by_frame() -> None:
    static = detector("yolox_nano.onnx")

    together = static.detect(frames())

    for ref, found in zip(reference(), together, strict=True):
        assert compare(ref, found).within()


def test_the_device_letterbox_is_the_shared_letterbox_within_one_grey_level() -> None:
    shared, ratios = Letterbox(416, 416)(frames()[:3])  # the vtest.avi frames: one size

    on_device, ratio = letterbox_tensor(torch.from_numpy(np.stack(frames()[:3])).to(DEVICE), 416, 416)

    assert np.abs(on_device.cpu().numpy() - shared).max() <= 1
    assert ratio == pytest.approx(float(ratios[0]))


def test_frames_already_on_the_device_give_the_same_detections() -> None:
    vtest = frames()[:3]

    found = detector().detect_tensor(torch.from_numpy(np.stack(vtest)).to(DEVICE))  # type: ignore[attr-defined]

    for ref, got in zip(reference()[:3], found, strict=True):
        assert compare(ref, got).within()


def test_onnx2torch_is_imported_without_leaving_a_torchvision_stand_in_behind() -> None:
    import_onnx2torch()

    module = sys.modules.get("torchvision")
    assert module is None or type(module).__name__ != "_Unavailable"


def test_the_parity_check_catches_a_moved_box_a_changed_score_and_a_missing_detection() -> None:
    ref = reference()[0]
    moved = Detections(ref.boxes + np.float32(5), ref.scores, ref.classes)
    rescored = Detections(ref.boxes, ref.scores - np.float32(0.06), ref.classes)
    missing = Detections(ref.boxes[1:], ref.scores[1:], ref.classes[1:])

    assert compare(ref, ref).within()
    assert not compare(ref, moved).within()  # persons ~20 px wide: 5 px costs more than 0.1 IoU
    assert not compare(ref, rescored).within()
    assert not compare(ref, missing).within()
