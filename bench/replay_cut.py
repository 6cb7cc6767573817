"""Replay cut time: ``workers.replay.cut`` vs ``ffmpeg -ss -t -c copy`` on the same segments (issue 6).

The footage (one-by-one-person-detection.mp4 at its own 768x432, and the 1080p25 version that
bench/capture_cpu.py makes) is recorded into 5 s segments by the real recorder
(``workers.recorder.SegmentWriter``, stream copy), then a 30 s window (15 s + 15 s around an event
at 32.5 s, so it starts mid-segment and mid-GOP) is cut from them, ``--repeat`` times each:

- ours: ``workers.replay.cut`` (open each segment, keep the GOP before the window start, remux);
- ffmpeg: Debian's ``ffmpeg -ss 15 -t 30 -f concat -i <segments> -c copy``, the usual way to cut
  by stream copy (input seeking, so it also starts at the keyframe before the window).

Prints wall and CPU seconds per cut (median), their ratio ours/ffmpeg, and both clips' durations.
ffmpeg's figures include starting the ffmpeg process (tens of ms), which is what running it costs;
ours run in the already-started worker, as in production.

    .venv/bin/python bench/replay_cut.py
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def record(source: Path, storage: Path, seconds: int) -> list[tuple[datetime, datetime, str]]:
    """(start, end, relative path) of 5 s segments of the first ``seconds`` of ``source``."""
    import av

    from workers.recorder import SegmentWriter

    t0 = datetime(2026, 11, 23, 12, tzinfo=UTC)
    with av.open(str(source)) as container:
        stream = container.streams.video[0]
        writer = SegmentWriter(stream, storage, 1, 5)
        out = []
        for packet in container.demux(stream):
            done = writer.write(packet, t0)
            if done:
                out.append((done.start_time, done.end_time, done.relative_path))
                if (done.end_time - t0).total_seconds() >= seconds:
                    break
        return out


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def probe(path: Path) -> float:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
                         capture_output=True, text=True, check=True).stdout
    return float(out.strip())


def bench(name: str, source: Path, work: Path, repeat: int) -> tuple[float, float, float, float]:
    from controlplane.cameras.models import Segment
    from workers.replay import cut

    storage = work / name
    parts = record(source, storage, 60)
    segments = [Segment(camera_id=1, seq=i, epoch=1, start_time=s, end_time=e, path=p, size_bytes=0)
                for i, (s, e, p) in enumerate(parts, 1)]
    event = parts[0][0] + timedelta(seconds=32.5)  # the window starts mid-segment, mid-GOP
    start, end = event - timedelta(seconds=15), event + timedelta(seconds=15)
    inside = [s for s in segments if s.end_time > start and s.start_time < end]
    os.environ["STORAGE_ROOT"] = str(storage)
    from django.conf import settings

    settings.STORAGE_ROOT = storage
    listing = work / f"{name}.txt"
    listing.write_text("".join(f"file '{storage / s.path}'\n" for s in inside))
    offset = (start - inside[0].start_time).total_seconds()

    ours_wall, ours_cpu, ffmpeg_wall, ffmpeg_cpu = [], [], [], []
    ours_out, ffmpeg_out = work / f"{name}-ours.mp4", work / f"{name}-ffmpeg.mp4"
    for _ in range(repeat):  # interleaved, so both see the same machine
        w, c = time.perf_counter(), time.process_time()
        clip = cut(inside, start, end, ours_out)
        ours_wall.append(time.perf_counter() - w)
        ours_cpu.append(time.process_time() - c)
        w, c = time.perf_counter(), children_cpu()
        subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-ss", f"{offset:.3f}", "-t", "30",
                        "-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(ffmpeg_out)], check=True)
        ffmpeg_wall.append(time.perf_counter() - w)
        ffmpeg_cpu.append(children_cpu() - c)
    mw, mc, fw, fc = (statistics.median(v) for v in (ours_wall, ours_cpu, ffmpeg_wall, ffmpeg_cpu))
    print(f"{name}: {len(inside)} segments, window {offset:.2f}-{offset + 30:.2f} s of them, {repeat} cuts each")
    print(f"  ours   wall {mw * 1000:7.1f} ms  cpu {mc * 1000:7.1f} ms  clip {clip.seconds:.2f} s (probe {probe(ours_out):.2f} s)")
    print(f"  ffmpeg wall {fw * 1000:7.1f} ms  cpu {fc * 1000:7.1f} ms  clip probe {probe(ffmpeg_out):.2f} s")
    print(f"  ratio ours/ffmpeg: wall {mw / fw:.2f}, cpu {mc / fc:.2f}")
    return mw, mc, fw, fc


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="panoptes-replay-bench-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings")
    os.environ["PANOPTES_VAR_DIR"] = str(work / "var")
    import django

    django.setup()
    from capture_cpu import prepare_streams

    streams = prepare_streams(["432p", "1080p"], fps=25, seconds=60)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; ffmpeg: "
          + subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout.split("\n")[0])
    for name, path in streams.items():
        bench(name, path, work, args.repeat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
