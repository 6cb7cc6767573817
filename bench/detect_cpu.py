"""Detection on the CPU: the detect_segment pipeline against its bare limits, measured in one run.

What it measures (ONNX Runtime CPU, YOLOX-Nano dynbatch, the shared footage recorded into 5 s
segments by our own recorder):
- pipeline: what ``workers.detect.detect_segment`` does per segment, minus its database updates:
  ``workers.detect.detect_frames`` (sampled PyAV decode feeding the process's batch queue, whose
  thread runs letterbox -> model -> post-processing while decoding goes on) -> ``.det.npz`` written;
- sequential: the same steps one after the other in one thread (what detect_segment did before the
  batch queue), timed stage by stage to show where the time goes;
- baseline: decode alone (the same sampled frames) + a bare loop of the same ONNX Runtime session
  on the same frames, already letterboxed (``session.run`` only);
- ratio = pipeline time / (decode + bare inference); the goal is <= 1.15. Also where the time goes,
  and throughput of the bare session at batch 1, 8 and 32.

Run: ``.venv/bin/python bench/detect_cpu.py [--fps 5] [--segments 8] [--rounds 5]``. After a warm-up, the
pipeline and the baseline run in interleaved rounds; the median round's ratio is the result.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings")

from analytics.decode import sample_frames  # noqa: E402
from analytics.detectors import ModelSpec, create  # noqa: E402
from analytics.detectors.batching import BatchQueue  # noqa: E402
from analytics.detectors.store import SegmentDetections, detections_path, save  # noqa: E402

ASSETS = Path(os.environ.get("PANOPTES_ASSETS", ROOT.parent / "shared" / "assets"))


def record(video: Path, root: Path, count: int) -> list[Path]:
    """The first ``count`` 5 s segments of a video, cut by our recorder (stream copy)."""
    from workers.recorder import SegmentWriter

    container = av.open(str(video))
    writer = SegmentWriter(container.streams.video[0], root, 1, 5)
    paths: list[Path] = []
    for packet in container.demux(container.streams.video[0]):
        done = writer.write(packet, datetime(2026, 1, 1, tzinfo=UTC))
        if done:
            paths.append(done.path)
            if len(paths) == count:
                break
    return paths


def timed(fn):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fps", type=float, default=5.0)
    parser.add_argument("--segments", type=int, default=8)
    parser.add_argument("--video", default="one-by-one-person-detection.mp4")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    import django

    django.setup()  # workers.recorder reads storage settings
    names = [n for n in (ASSETS / "models" / "coco_classes.txt").read_text().splitlines() if n]
    spec = ModelSpec(str(ASSETS / "models" / "yolox_nano_dynbatch.onnx"), 416, 416, names, max_batch=8)
    detector = create("onnxruntime", spec)
    tmp = Path(tempfile.mkdtemp(prefix="panoptes-bench-"))
    segments = record(ASSETS / "videos" / args.video, tmp, args.segments)

    from workers.detect import detect_frames

    queue = BatchQueue(detector.detect, spec.max_batch)

    def run_pipeline(paths: list[Path]) -> float:
        """What detect_segment does per segment (minus its database updates)."""
        start = time.perf_counter()
        for path in paths:
            frames, results = detect_frames(sample_frames(path, args.fps), queue, spec.max_batch)
            h, w = frames[0].image.shape[:2]
            save(detections_path(path), SegmentDetections(np.asarray([f.time for f in frames]),
                                                          np.asarray([f.index for f in frames]), results, (w, h), "bench"))
        return time.perf_counter() - start

    def run_sequential(paths: list[Path]) -> tuple[float, dict[str, float], int]:
        """The same steps one after the other in one thread, stages timed on the side."""
        stages = {"decode": 0.0, "letterbox": 0.0, "model": 0.0, "postprocess": 0.0, "store": 0.0}
        frames_total, pipeline = 0, 0.0
        for path in paths:
            start = time.perf_counter()
            frames, t = timed(lambda p=path: list(sample_frames(p, args.fps)))
            stages["decode"] += t
            images = [f.image for f in frames]
            results = []
            for i in range(0, len(images), spec.max_batch):
                chunk = images[i : i + spec.max_batch]
                (batch, ratios), t = timed(lambda c=chunk: detector.letterbox(c))
                stages["letterbox"] += t
                raw, t = timed(lambda b=batch: detector.infer(b))
                stages["model"] += t
                post, t = timed(lambda r=raw, q=ratios, c=chunk: [detector.postprocess(r[j], q[j], (f.shape[1], f.shape[0])) for j, f in enumerate(c)])
                stages["postprocess"] += t
                results.extend(post)
            h, w = images[0].shape[:2]
            _, t = timed(lambda p=path, fr=frames, r=results, size=(w, h): save(detections_path(p), SegmentDetections(
                np.asarray([f.time for f in fr]), np.asarray([f.index for f in fr]), r, size, "bench")))
            stages["store"] += t
            pipeline += time.perf_counter() - start
            frames_total += len(frames)
        return pipeline, stages, frames_total

    session, input_name = detector.session, detector.input_name  # type: ignore[attr-defined]

    def run_baseline(paths: list[Path]) -> tuple[float, float]:
        """Decode alone, then the bare session on the same frames, letterboxed beforehand (not timed)."""
        decode_only = 0.0
        letterboxed = []
        for path in paths:
            frames, t = timed(lambda p=path: list(sample_frames(p, args.fps)))
            decode_only += t
            images = [f.image for f in frames]
            letterboxed += [detector.letterbox(images[i : i + spec.max_batch])[0] for i in range(0, len(images), spec.max_batch)]
        _, bare = timed(lambda: [session.run(None, {input_name: b}) for b in letterboxed])
        return decode_only, bare

    run_pipeline(segments[:2])  # warm-up: page cache, the session's first runs
    run_sequential(segments[:2])
    run_baseline(segments[:2])
    rounds = []
    for _ in range(args.rounds):  # interleaved, so every side sees the same machine
        pipeline = run_pipeline(segments)
        sequential, stages, frames_total = run_sequential(segments)
        decode_only, bare = run_baseline(segments)
        rounds.append((pipeline, sequential, decode_only, bare, stages))
    queue.close()
    ratios = sorted(r[0] / (r[2] + r[3]) for r in rounds)
    pipeline, sequential, decode_only, bare, stages = sorted(rounds, key=lambda r: r[0] / (r[2] + r[3]))[len(rounds) // 2]
    baseline = decode_only + bare
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"{len(segments)} segments of {args.video}, {frames_total} frames sampled at {args.fps} fps, batch {spec.max_batch}, "
          f"{args.rounds} interleaved rounds (median round shown)")
    print(f"pipeline       {pipeline:7.2f} s  {frames_total / pipeline:7.1f} frames/s  (decode overlapping the batch queue)")
    print(f"sequential     {sequential:7.2f} s  {frames_total / sequential:7.1f} frames/s  (the same steps in turn)")
    print(f"decode + bare  {baseline:7.2f} s  {frames_total / baseline:7.1f} frames/s  (decode {decode_only:.2f} s, bare model {bare:.2f} s)")
    print(f"ratio pipeline / (decode + bare inference) = {statistics.median(ratios):.3f}  (goal <= 1.15); "
          f"rounds: {', '.join(f'{r:.3f}' for r in ratios)}")
    print(f"ratio sequential / (decode + bare inference) = "
          f"{statistics.median(sorted(r[1] / (r[2] + r[3]) for r in rounds)):.3f}")
    print("where the sequential steps' time goes: " + ", ".join(f"{k} {v / sequential:.0%}" for k, v in stages.items()))

    frame = np.full((1, 3, 416, 416), 114, np.float32)
    for batch in (1, 8, 32):
        inputs = np.repeat(frame, batch, axis=0)
        session.run(None, {input_name: inputs})
        runs = max(2, 64 // batch)
        _, t = timed(lambda i=inputs, n=runs: [session.run(None, {input_name: i}) for _ in range(n)])
        print(f"bare session, batch {batch:2d}: {batch * runs / t:7.1f} frames/s ({t / runs / batch * 1000:.2f} ms/frame)")


if __name__ == "__main__":
    main()
