"""NVDEC decoding for detection (analytics.decode_nvdec) and the sampling rule it shares with PyAV.

Three layers, each run where it can be:
- the sampling rule (analytics.sampling): pure, everywhere, and held to analytics.decode's sampling
  on the shared footage;
- what needs no GPU: bad files fail before any GPU library is touched; the NV12 -> BGR conversion
  runs on PyAV's own NV12 frames on the CPU (torch), against PyAV's BGR, and its frames go through
  the torch backend's on-device path (detect_tensor) to the detections ONNX Runtime finds;
- NVDEC itself, only where CUDA and PyNvVideoCodec exist (skipped elsewhere, saying what could not
  run): the same frames and times as the PyAV path on the shared footage, pixels within a tolerance.
Nothing here stands in for NVDEC.
"""
from __future__ import annotations

import dataclasses
import os
from functools import cache
from pathlib import Path

import av
import numpy as np
import pytest

from analytics.decode import CorruptSegment, sample_frames
from analytics.decode_nvdec import YuvMatrix, sample_frames_nvdec
from analytics.sampling import SampleClock, sample

ASSETS = Path(os.environ.get("PANOPTES_ASSETS", Path(__file__).resolve().parent.parent.parent / "shared" / "assets"))
VIDEOS = ASSETS / "videos"
ONE_BY_ONE, PARKING, VTEST = "one-by-one-person-detection.mp4", "person-bicycle-car-detection.mp4", "vtest.avi"
# (video, fps) where PyAV decodes every frame (stream rate / fps < 3, so no NONREF skipping) and the
# two paths must pick the same frames: 10 fps at 5 and 4, 12 fps at 5, and the AVI's odd pts.
NO_SKIP = [(ONE_BY_ONE, 5.0), (ONE_BY_ONE, 4.0), (PARKING, 5.0), (VTEST, 5.0)]

needs_assets = pytest.mark.skipif(not VIDEOS.is_dir(), reason=f"the shared footage is not at {VIDEOS}")


@cache
def frame_times(video: str) -> list[float | None]:
    """Every decoded frame's time, as analytics.decode computes it (all frames, nothing skipped)."""
    with av.open(str(VIDEOS / video)) as container:
        return [None if f.pts is None or f.time_base is None else float(f.pts * f.time_base) for f in container.decode(video=0)]


# The sampling rule -----------------------------------------------------------------------------

def test_a_25_fps_stream_sampled_at_5_fps_keeps_every_fifth_frame() -> None:
    times = [i / 25 for i in range(50)]

    picked = sample(times, 5)

    assert [i for i, _ in picked] == list(range(0, 50, 5))
    assert [t for _, t in picked] == pytest.approx([i / 5 for i in range(10)])


def test_times_count_from_the_first_frame_that_has_a_timestamp() -> None:
    picked = sample([None, 10.0, 10.1, 10.5, 10.6, 11.0], 2)

    assert picked == [(1, 0.0), (3, pytest.approx(0.5)), (5, pytest.approx(1.0))]  # index counts the frame without one


def test_a_gap_is_filled_once_by_the_next_frame_and_the_slots_it_skipped_stay_empty() -> None:
    picked = sample([0.0, 0.2, 1.3, 1.4, 1.6], 5)  # slots every 0.2 s; nothing between 0.2 and 1.3

    assert [t for _, t in picked] == pytest.approx([0.0, 0.2, 1.3, 1.4, 1.6])
    assert sample([0.0, 0.1, 0.15, 0.25], 5) == [(0, 0.0), (3, pytest.approx(0.25))]


def test_a_frame_a_microsecond_early_still_fills_its_slot() -> None:
    assert [i for i, _ in sample([0.0, 0.2 - 5e-7, 0.4 - 5e-7], 5)] == [0, 1, 2]


def test_a_frame_out_of_order_before_the_next_slot_is_not_a_sample() -> None:
    assert [i for i, _ in sample([0.0, 0.3, 0.1, 0.4], 5)] == [0, 1, 3]


def test_a_wild_timestamp_does_not_spin_the_clock() -> None:
    clock = SampleClock(5)
    clock.take(0.0)

    assert clock.take(1e12) == 1e12
    assert clock.take(1e12 + 0.01) is None  # the slot 1e12 filled is behind it


def test_the_rate_must_be_positive() -> None:
    with pytest.raises(ValueError):
        SampleClock(0)


@needs_assets
@pytest.mark.parametrize(("video", "fps"), NO_SKIP)
def test_the_rule_picks_what_the_pyav_path_picks_on_the_shared_footage(video: str, fps: float) -> None:
    pyav = [(f.index, f.time) for f in sample_frames(VIDEOS / video, fps)]

    assert sample(frame_times(video), fps) == pyav


# Bad files fail before any GPU library is needed -------------------------------------------------

@pytest.mark.parametrize("content", [b"", b"not a video at all\n" * 100], ids=["zero-length", "not-a-video"])
def test_an_unreadable_segment_is_corrupt(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "segment.mp4"
    path.write_bytes(content)

    with pytest.raises(CorruptSegment):
        next(sample_frames_nvdec(path, 5))


def test_a_file_without_video_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "audio.mp4"
    with av.open(str(path), "w") as container:
        audio = container.add_stream("aac", rate=8000)
        for i in range(4):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 8000, i * 1024
            for packet in audio.encode(frame):
                container.mux(packet)
        for packet in audio.encode(None):
            container.mux(packet)

    with pytest.raises(CorruptSegment, match="no video stream"):
        next(sample_frames_nvdec(path, 5))


# The colour conversion, on the CPU on PyAV's NV12 frames -------------------------------------------

def nv12_frames(video: str, indices: set[int]) -> list[tuple[np.ndarray, av.VideoFrame]]:
    """(NV12 as NVDEC lays it out: (h * 3/2, w) uint8, PyAV's frame) for the given frame indices."""
    out = []
    with av.open(str(VIDEOS / video)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in indices:
                out.append((frame.reformat(format="nv12").to_ndarray(), frame))
            if i >= max(indices):
                break
    return out


def test_the_matrix_follows_what_the_stream_signals() -> None:
    assert YuvMatrix.for_stream(2, 0).name == "bt601"  # unspecified: BT.601, limited
    assert YuvMatrix.for_stream(6, 1) == YuvMatrix("bt601", 0.299, 0.114, False)
    assert YuvMatrix.for_stream(1, 1).name == "bt709"
    assert YuvMatrix.for_stream(9, 0).name == "bt2020"
    assert YuvMatrix.for_stream(2, 2).full_range
    assert YuvMatrix.for_stream(2, 0, "yuvj420p").full_range


def test_limited_range_black_and_white_map_to_0_and_255() -> None:
    torch = pytest.importorskip("torch", reason="torch is not installed")
    from analytics.decode_nvdec import nv12_to_bgr

    nv12 = torch.full((6, 4), 128, dtype=torch.uint8)
    nv12[:4, :2], nv12[:4, 2:] = 16, 235  # Y: black left, white right; U = V = 128

    bgr = nv12_to_bgr(nv12)

    assert bgr.shape == (4, 4, 3)
    assert bgr[:, :2].eq(0).all() and bgr[:, 2:].eq(255).all()


@needs_assets
@pytest.mark.parametrize("video", [ONE_BY_ONE, PARKING, VTEST])
def test_the_nv12_conversion_is_within_3_grey_levels_of_pyavs_bgr(video: str) -> None:
    torch = pytest.importorskip("torch", reason="torch is not installed")
    from analytics.decode_nvdec import nv12_to_bgr

    with av.open(str(VIDEOS / video)) as container:
        context = container.streams.video[0].codec_context
        matrix = YuvMatrix.for_stream(context.colorspace, context.color_range, context.format.name if context.format else "")
    for nv12, frame in nv12_frames(video, {0, 150, 300}):
        ours = nv12_to_bgr(torch.from_numpy(nv12), matrix).numpy().astype(int)
        diff = np.abs(ours - frame.to_ndarray(format="bgr24").astype(int))

        # swscale's integer tables round down; the exact matrix is 0.2-1.3 levels brighter on average
        assert diff.max() <= 3 and diff.mean() <= 1.5

        resized = nv12_to_bgr(torch.from_numpy(nv12), matrix, (416, 234)).numpy().astype(int)
        diff = np.abs(resized - frame.to_ndarray(format="bgr24", width=416, height=234).astype(int))
        assert resized.shape == (234, 416, 3)
        assert diff.mean() <= 2 and np.percentile(diff, 99) <= 10  # two bilinear resamplers: edges differ


@needs_assets
@pytest.mark.filterwarnings("ignore:Using a non-tuple sequence for multidimensional indexing:UserWarning")  # onnx2torch's Slice
def test_converted_frames_stacked_on_the_device_give_the_detections_onnxruntime_finds() -> None:
    torch = pytest.importorskip("torch", reason="torch is not installed")
    from analytics.decode_nvdec import GpuSampledFrame, nv12_to_bgr, stack_images
    from analytics.detectors import create
    from analytics.detectors.torch_backend import import_onnx2torch
    from bench.detector_parity import compare, spec

    try:
        import_onnx2torch()
    except Exception as exc:  # not installed, or failing to import: skip, and say why
        pytest.skip(f"onnx2torch cannot be imported: {exc}")
    device = os.environ.get("PANOPTES_TEST_TORCH_DEVICE", "cpu")
    pairs = nv12_frames(VTEST, {0, 200, 750})  # frames the assets README names, far from the 0.3 threshold
    matrix = YuvMatrix.for_stream(1, 1)  # vtest.avi says BT.709
    frames = [GpuSampledFrame(0.0, 0, nv12_to_bgr(torch.from_numpy(nv12).to(device), matrix)) for nv12, _ in pairs]
    reference = create("onnxruntime", spec()).detect([f.to_ndarray(format="bgr24") for _, f in pairs])
    model = dataclasses.replace(spec(), onnx_path=str(ASSETS / "models" / "yolox_nano_dynbatch.onnx"))

    found = create("torch", model, device=device).detect_tensor(stack_images(frames))  # type: ignore[attr-defined]

    for ref, got in zip(reference, found, strict=True):
        assert compare(ref, got).within()


# NVDEC itself: only where CUDA and PyNvVideoCodec exist ----------------------------------------------

@cache
def nvdec_unavailable() -> str:
    """Why NVDEC cannot run here ("" when it can)."""
    try:
        import torch
    except ImportError:
        return "torch is not installed, so the NVDEC path did not run here"
    if not torch.cuda.is_available():
        return "no CUDA GPU on this host (torch.cuda.is_available() is False): NVDEC decoding did not run here"
    try:
        import PyNvVideoCodec  # noqa: F401
    except Exception as exc:  # ImportError, or RuntimeError when the driver's video libraries are missing
        return f"PyNvVideoCodec cannot be imported ({exc}): NVDEC decoding did not run here"
    return ""


needs_nvdec = pytest.mark.skipif(bool(nvdec_unavailable()), reason=nvdec_unavailable() or "NVDEC is available")


@needs_nvdec
@needs_assets
@pytest.mark.parametrize(("video", "fps"), NO_SKIP)
def test_nvdec_gives_the_frames_times_and_pixels_of_the_pyav_path(video: str, fps: float) -> None:
    pyav = list(sample_frames(VIDEOS / video, fps))

    nvdec = list(sample_frames_nvdec(VIDEOS / video, fps))

    assert [(f.index, f.time) for f in nvdec] == [(f.index, f.time) for f in pyav]
    for ours, theirs in zip(nvdec, pyav, strict=True):
        assert ours.image.is_cuda and ours.image.shape == theirs.image.shape
        diff = np.abs(ours.image.cpu().numpy().astype(int) - theirs.image.astype(int))
        # H.264 decoding is bit-exact, so what is left is the colour conversion (see above)
        assert diff.max() <= 4 and diff.mean() <= 1.5


@needs_nvdec
@needs_assets
def test_nvdec_follows_the_rule_over_every_frame_where_pyav_skips_unreferenced_ones() -> None:
    nvdec = [(f.index, f.time) for f in sample_frames_nvdec(VIDEOS / ONE_BY_ONE, 2)]  # 10 fps / 2: PyAV skips

    assert nvdec == sample(frame_times(ONE_BY_ONE), 2)


@needs_nvdec
@needs_assets
def test_nvdec_frames_are_resized_on_the_gpu() -> None:
    pyav = list(sample_frames(VIDEOS / PARKING, 5, (416, 234)))

    nvdec = list(sample_frames_nvdec(VIDEOS / PARKING, 5, (416, 234)))

    assert [f.time for f in nvdec] == [f.time for f in pyav]
    for ours, theirs in zip(nvdec, pyav, strict=True):
        assert ours.image.is_cuda and tuple(ours.image.shape) == (234, 416, 3)
        assert np.abs(ours.image.cpu().numpy().astype(int) - theirs.image.astype(int)).mean() <= 2


@needs_nvdec
@needs_assets
@pytest.mark.filterwarnings("ignore:Using a non-tuple sequence for multidimensional indexing:UserWarning")  # onnx2torch's Slice
def test_nvdec_frames_give_the_detections_onnxruntime_finds_on_pyav_frames() -> None:
    from analytics.decode_nvdec import stack_images
    from analytics.detectors import create
    from bench.detector_parity import compare, spec

    wanted = {0, 300, 1000}  # one-by-one frames the assets README names: 0, 1 and 1 persons
    frames = [f for f in sample_frames_nvdec(VIDEOS / ONE_BY_ONE, 10) if f.index in wanted]
    reference = create("onnxruntime", spec()).detect([f.image for f in sample_frames(VIDEOS / ONE_BY_ONE, 10) if f.index in wanted])
    model = dataclasses.replace(spec(), onnx_path=str(ASSETS / "models" / "yolox_nano_dynbatch.onnx"))

    found = create("torch", model, device="cuda").detect_tensor(stack_images(frames))  # type: ignore[attr-defined]

    assert [len(d) for d in found] == [len(d) for d in reference]
    for ref, got in zip(reference, found, strict=True):
        assert compare(ref, got).within()
