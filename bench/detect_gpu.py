"""Detection on a GPU: the NVDEC + torch FP16 path against its two bare limits, measured in one run.

What it measures (one CUDA GPU with NVDEC, PyNvVideoCodec 2.2.4, torch and onnx2torch; YOLOX-Nano
dynbatch converted by onnx2torch, FP16):
- test stream: 1080p25 H.264 encoded on the CPU by libx264 through PyAV (an H100 has no NVENC) from
  the shared footage (one-by-one-person-detection.mp4, 768x432 at 10 fps, upscaled; each source
  frame held for 2-3 output frames, with fresh sensor-like noise so that no two frames are equal),
  4 Mbit/s, 2 s GOP and no B-frames like an IP camera, cut into --segments files of 5 s, each from
  its own IDR (what the recorder stores);
- NVDEC alone: --threads threads decode whole segments, every frame to NV12 in device memory and
  nothing more, twice: with PyNvVideoCodec's own demuxer exactly as NVIDIA's decode_perf.py sample
  does (the bare limit), and with PyAV demuxing as analytics.decode_nvdec does;
- bare model: ``TorchDetector.forward`` (FP16) on letterboxed batches already on the GPU, batch 1,
  8, 32 and 128;
- pipeline: --threads threads each run ``sample_frames_nvdec`` on segments (NVDEC, NV12 -> BGR on the
  GPU, at --fps) and queue each segment's frames; the main thread batches frames across segments up
  to --batch and runs ``detect_tensor`` (GPU letterbox, FP16 model, the shared post-processing on the
  CPU): what one GPU worker serving many cameras does, minus storing results.
Printed: frames/s of each, the pipeline against the NVDEC bound (NVDEC decodes every frame: a
sampled frame costs 25 / fps decoded ones) and against the bare model at the same batch, and how
many 1080p25 cameras at detect_fps --fps one GPU sustains by each measure.

Run on a CUDA host: ``.venv/bin/python bench/detect_gpu.py [--threads 16] [--fps 5] [--batch 128]
[--segments 8] [--passes 16]``. Without CUDA or PyNvVideoCodec it says so and exits 1.
"""
from __future__ import annotations

import argparse
import os
import queue
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import av
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analytics.decode_nvdec import decode_nvdec, sample_frames_nvdec, stack_images  # noqa: E402
from analytics.detectors import ModelSpec, create  # noqa: E402
from analytics.detectors.torch_backend import letterbox_tensor  # noqa: E402

ASSETS = Path(os.environ.get("PANOPTES_ASSETS", ROOT.parent / "shared" / "assets"))
WIDTH, HEIGHT, RATE, SEGMENT_SECONDS = 1920, 1080, 25, 5
# An IP camera's main stream: 4 Mbit/s capped (VBV), GOP of 2 s, no B-frames. The noise (sigma 3
# grey levels, like a sensor's) makes every frame cost bits; without it the held frames of the 10 fps
# source would be near-empty P-frames (0.5 Mbit/s) that NVDEC decodes faster than camera footage.
X264_PARAMS = "keyint=50:min-keyint=50:scenecut=0:bframes=0:bitrate=4000:vbv-maxrate=4000:vbv-bufsize=8000"


def require_gpu() -> None:
    """Exit 1 with the reason unless torch sees a CUDA GPU and PyNvVideoCodec imports."""
    try:
        import torch
    except ImportError:
        sys.exit("bench/detect_gpu.py needs torch (a CUDA build): it is not installed")
    if not torch.cuda.is_available():
        sys.exit("bench/detect_gpu.py needs a CUDA GPU with NVDEC: torch.cuda.is_available() is False on this host")
    try:
        import PyNvVideoCodec  # noqa: F401
    except Exception as exc:  # ImportError, or RuntimeError when the driver's video libraries are missing
        sys.exit(f"bench/detect_gpu.py needs PyNvVideoCodec (docker/requirements-gpu.txt): it cannot be imported: {exc}")


def make_segments(video: Path, root: Path, count: int, seed: int = 0) -> list[Path]:
    """``count`` 5 s segments of 1080p25 H.264 (libx264 on the CPU) made from ``video``."""
    rng = np.random.default_rng(seed)
    noise = [rng.normal(0, 3, (HEIGHT, WIDTH)).round().astype(np.int16) for _ in range(8)]
    paths: list[Path] = []
    with av.open(str(video)) as source:
        stream = source.streams.video[0]
        source_rate = float(stream.average_rate or 10)
        frames = source.decode(stream)
        held, shown = None, -1
        for index in range(count):
            path = root / f"segment-{index:03d}.mp4"
            with av.open(str(path), "w") as out:
                encoder = out.add_stream("libx264", rate=RATE, options={
                    "preset": "veryfast", "x264-params": X264_PARAMS})
                encoder.width, encoder.height, encoder.pix_fmt = WIDTH, HEIGHT, "yuv420p"
                for k in range(RATE * SEGMENT_SECONDS):
                    n = index * RATE * SEGMENT_SECONDS + k
                    while shown < int(n * source_rate / RATE):  # the source frame on screen at n / 25 s
                        held, shown = next(frames).reformat(width=WIDTH, height=HEIGHT, format="yuv420p"), shown + 1
                    assert held is not None
                    planes = held.to_ndarray()  # (1.5 H, W): Y, then U and V
                    planes[:HEIGHT] = np.clip(planes[:HEIGHT] + noise[n % len(noise)], 0, 255)
                    frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
                    frame.pts = k
                    for packet in encoder.encode(frame):
                        out.mux(packet)
                for packet in encoder.encode(None):
                    out.mux(packet)
            paths.append(path)
    return paths


def run_threads(count: int, jobs: list[Path], work: Callable[[Path], int], setup: Callable[[], Any] | None = None) -> tuple[int, float]:
    """(sum of ``work``'s results, seconds) for ``jobs`` shared out to ``count`` threads."""
    todo: queue.SimpleQueue[Path] = queue.SimpleQueue()
    for job in jobs:
        todo.put(job)
    totals = [0] * count
    errors: list[BaseException] = []
    start_line = threading.Barrier(count + 1)

    def worker(slot: int) -> None:
        context = setup() if setup else None
        start_line.wait()
        with context if context is not None else nullcontext():
            while not errors:
                try:
                    job = todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    totals[slot] += work(job)
                except BaseException as exc:  # reported by the caller, not lost with the thread
                    errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    start_line.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return sum(totals), time.perf_counter() - start


def torch_stream_context() -> Any:
    """Each thread decodes on a CUDA stream of its own (as sample_frames_nvdec's decoder then does)."""
    import torch

    return torch.cuda.stream(torch.cuda.Stream())


def decode_count_nvidia(path: Path) -> int:
    """Every frame of the file, NVIDIA's way (samples/advanced/decode_perf.py): its demuxer, a decoder."""
    import PyNvVideoCodec as nvc

    demuxer = nvc.CreateDemuxer(filename=str(path))
    decoder = nvc.CreateDecoder(gpuid=0, codec=demuxer.GetNvCodecId(), usedevicememory=True)
    return sum(len(decoder.Decode(packet)) for packet in demuxer)


def decode_count_ours(path: Path) -> int:
    """Every frame of the file through analytics.decode_nvdec's demux and decoder, nothing converted."""
    return sum(1 for _ in decode_nvdec(path))


def bare_model(detector: Any, batches: Iterable[int]) -> dict[int, float]:
    """frames/s of the FP16 network alone on letterboxed batches already on the GPU."""
    import torch

    image = torch.full((1, HEIGHT, WIDTH, 3), 114, dtype=torch.uint8, device="cuda")
    letterboxed, _ = letterbox_tensor(image, detector.spec.input_width, detector.spec.input_height)
    rates = {}
    for batch in batches:
        inputs = letterboxed.half().repeat(batch, 1, 1, 1)
        runs = max(10, 2048 // batch)
        for _ in range(3):
            detector.forward(inputs)
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(runs):
            detector.forward(inputs)
        torch.cuda.synchronize()
        rates[batch] = batch * runs / (time.perf_counter() - start)
    return rates


def pipeline(detector: Any, jobs: list[Path], threads: int, fps: float, batch: int) -> tuple[int, float, int]:
    """(sampled frames, seconds, detections): decoder threads feed one detecting thread (this one)."""
    import torch

    ready: queue.Queue[list[Any] | None] = queue.Queue(maxsize=2 * threads)  # bounded: decoders wait for the model

    def decode(path: Path) -> int:
        frames = list(sample_frames_nvdec(path, fps))
        torch.cuda.current_stream().synchronize()  # the frames are done before another stream uses them
        ready.put(frames)
        return len(frames)

    failed: list[BaseException] = []

    def feed() -> None:
        try:
            run_threads(threads, jobs, decode, torch_stream_context)
        except BaseException as exc:
            failed.append(exc)

    feeder = threading.Thread(target=feed)
    start = time.perf_counter()
    feeder.start()
    consumer = torch.cuda.current_stream()
    pending: list[Any] = []
    frames_done = detections = 0

    def detect(chunk: list[Any]) -> int:
        for frame in chunk:  # made on a decoder thread's stream, read on this one: keep the memory till then
            frame.image.record_stream(consumer)
        found = detector.detect_tensor(stack_images(chunk))
        return sum(len(d) for d in found)

    while feeder.is_alive() or not ready.empty():
        try:
            frames = ready.get(timeout=0.05)
        except queue.Empty:
            continue
        pending.extend(frames or [])
        while len(pending) >= batch:
            chunk, pending = pending[:batch], pending[batch:]
            detections += detect(chunk)
            frames_done += len(chunk)
    if pending:
        detections += detect(pending)
        frames_done += len(pending)
    feeder.join()
    if failed:
        raise failed[0]
    return frames_done, time.perf_counter() - start, detections


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=16, help="decoding threads (NVDEC sessions)")
    parser.add_argument("--fps", type=float, default=5.0, help="detect_fps of the pipeline")
    parser.add_argument("--batch", type=int, default=128, help="pipeline batch, across segments")
    parser.add_argument("--segments", type=int, default=8, help="distinct 5 s segments encoded")
    parser.add_argument("--passes", type=int, default=16, help="each segment is decoded this many times per measure")
    parser.add_argument("--video", default="one-by-one-person-detection.mp4")
    args = parser.parse_args()
    require_gpu()
    import PyNvVideoCodec as nvc
    import torch

    names = [n for n in (ASSETS / "models" / "coco_classes.txt").read_text().splitlines() if n]
    spec = ModelSpec(str(ASSETS / "models" / "yolox_nano_dynbatch.onnx"), 416, 416, names, max_batch=args.batch)
    detector = create("torch", spec, device="cuda", half=True)
    tmp = Path(tempfile.mkdtemp(prefix="panoptes-bench-gpu-"))
    start = time.perf_counter()
    segments = make_segments(ASSETS / "videos" / args.video, tmp, args.segments)
    size_mb = sum(p.stat().st_size for p in segments) / len(segments) / 1e6
    print(f"{torch.cuda.get_device_name(0)}, PyNvVideoCodec {nvc.__version__}, torch {torch.__version__}; "
          f"NVDEC engines: {nvc.GetDecoderCaps(gpuid=0, codec=nvc.cudaVideoCodec.H264).get('num_decoder_engines', '?')}")
    print(f"{args.segments} segments of 1080p25 H.264 from {args.video}, {SEGMENT_SECONDS} s each "
          f"({size_mb * 8 / SEGMENT_SECONDS:.1f} Mbit/s), encoded in {time.perf_counter() - start:.1f} s by libx264")
    jobs = segments * args.passes

    # Warm-up: decoder sessions, torch kernels, the page cache.
    run_threads(args.threads, segments[: args.threads], decode_count_nvidia)
    run_threads(args.threads, segments[: args.threads], decode_count_ours, torch_stream_context)
    pipeline(detector, segments[:2], 2, args.fps, args.batch)

    decoded, seconds = run_threads(args.threads, jobs, decode_count_nvidia)
    nvdec_bare = decoded / seconds
    print(f"NVDEC alone, NVIDIA's demuxer, {args.threads} threads: {decoded} frames in {seconds:.2f} s = {nvdec_bare:7.0f} frames/s")
    decoded, seconds = run_threads(args.threads, jobs, decode_count_ours, torch_stream_context)
    nvdec_ours = decoded / seconds
    print(f"NVDEC alone, PyAV demux (ours), {args.threads} threads: {decoded} frames in {seconds:.2f} s = {nvdec_ours:7.0f} frames/s "
          f"({nvdec_ours / nvdec_bare:.2f} of NVIDIA's)")

    model = bare_model(detector, (1, 8, 32, 128) if args.batch in (1, 8, 32, 128) else (1, 8, 32, 128, args.batch))
    for batch, rate in model.items():
        print(f"bare model FP16, batch {batch:3d}: {rate:7.0f} frames/s ({1000 / rate:.3f} ms/frame)")

    sampled, seconds, found = pipeline(detector, jobs, args.threads, args.fps, args.batch)
    rate = sampled / seconds
    needed_decode = rate * RATE / args.fps  # NVDEC decodes every frame of a 25 fps segment
    nvdec_bound = nvdec_bare * args.fps / RATE  # sampled frames/s NVDEC alone could feed
    bound = min(nvdec_bound, model[args.batch])
    print(f"pipeline, {args.threads} decoding threads, batch {args.batch} across segments, detect_fps {args.fps:g}: "
          f"{sampled} frames in {seconds:.2f} s = {rate:7.0f} frames/s ({found} detections)")
    print(f"  NVDEC: it decoded {needed_decode:.0f} frames/s = {needed_decode / nvdec_bare:.2f} of NVDEC alone")
    print(f"  model: {rate / model[args.batch]:.2f} of the bare model at batch {args.batch}")
    print(f"  ratio pipeline / min(NVDEC bound {nvdec_bound:.0f}, model bound {model[args.batch]:.0f}) = {rate / bound:.2f}")
    print(f"cameras of 1080p25 at detect_fps {args.fps:g} per GPU: pipeline {rate / args.fps:.0f}; "
          f"NVDEC alone {nvdec_bare / RATE:.0f}; bare model {model[args.batch] / args.fps:.0f}")


if __name__ == "__main__":
    main()
