"""CPU per camera: our capture worker against ``ffmpeg -c copy -f segment`` on the same RTSP streams.

What it measures, for each stream (the shared footage at its own 768x432, and 720p and 1080p
versions made from it once and cached under var/bench/):
1. ours: a real capture worker process (``celery -A workers worker -Q capture -P threads -c N``)
   recording N cameras of that stream into 5 s segments (a throwaway SQLite or MariaDB database,
   Redis prefix and broker database, see capture_harness.py); its CPU (utime + stime, with
   children) over ``--seconds`` after ``--warmup`` seconds of streaming;
2. the baseline: N ``ffmpeg -rtsp_transport tcp -i URL -c copy -f segment -segment_time 5
   -reset_timestamps 1`` processes (the system's ffmpeg) on the same URLs, over a window as long.
Once before the streams, the same worker with no camera: its fixed cost (``idle``).
The RTSP server (tests/rtsp, ``shared=True``) serves every client of a stream from one pipeline;
its CPU and the whole machine's load are printed so a reader can tell the machine was not saturated.

How to read the output: ``%/cam`` is percent of one core per camera; ``ratio`` is ours / ffmpeg
(goal: at most 1.5); ``cams/core`` is 100 / (%/cam); ``switches/s/cam`` counts context switches
(threads put to sleep and woken), the kernel's share of the cost. ``segments`` counts the files
each side finished in the window, next to the number expected (N x seconds / 5), to show both
did the work. The Markdown table at the end is for RESULTS.md.

    .venv/bin/python bench/capture_cpu.py                 # 8 cameras per stream, 60 s windows
    .venv/bin/python bench/capture_cpu.py --cameras 2 --seconds 15 --warmup 5 --streams 432p
    .venv/bin/python bench/capture_cpu.py --worker-env PANOPTES_SNAPSHOT_SECONDS=3600   # what snapshots cost
    .venv/bin/python bench/capture_cpu.py --perf /tmp/perf --py-spy /tmp/spy            # where the time goes
"""
from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from capture_harness import CACHE, Sandbox, Window, footage, measure, print_log_problems, print_profile, rtsp_server

SEGMENT_SECONDS = 5
# Camera-like versions of the footage: (width, height, bitrate). The 768x432 original is 10 fps,
# GOP 1 s, ~190 kbit/s; these are FPS fps with a 1 s GOP, at bitrates IP cameras commonly use.
SIZES = {"720p": (1280, 720, "2M"), "1080p": (1920, 1080, "4M")}


@dataclass
class Result:
    stream: str
    info: str
    ours: Window
    ffmpeg: Window
    ours_segments: int
    ffmpeg_segments: int
    cameras: int

    @property
    def ratio(self) -> float:
        return self.ours.percent("capture") / max(self.ffmpeg.percent("capture"), 1e-9)


# --- the streams --------------------------------------------------------------------------------
def transcode(source: Path, target: Path, width: int, height: int, bitrate: str, fps: int, seconds: int) -> None:
    """A 720p/1080p H.264 version of the footage (libx264 veryfast, 1 s GOP, no B-frames)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(f".{target.name}.part.mp4")
    command = [
        "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-t", str(seconds), "-i", str(source), "-an",
        "-vf", f"scale={width}:{height},fps={fps}", "-c:v", "libx264", "-preset", "veryfast", "-g", str(fps), "-bf", "0",
        "-b:v", bitrate, "-maxrate", bitrate, "-bufsize", bitrate, "-pix_fmt", "yuv420p", str(part),
    ]
    print(f"making {target.name}: {' '.join(command)}", flush=True)
    subprocess.run(command, check=True)
    part.rename(target)


def prepare_streams(names: list[str], fps: int, seconds: int) -> dict[str, Path]:
    source = footage("onebyone")
    streams: dict[str, Path] = {}
    for name in names:
        if name == "432p":
            streams[name] = source
            continue
        width, height, bitrate = SIZES[name]
        path = CACHE / f"onebyone-{height}p-{fps}fps-{bitrate}-{seconds}s.mp4"
        if not path.exists():
            transcode(source, path, width, height, bitrate, fps, seconds)
        streams[name] = path
    return streams


def describe(path: Path) -> str:
    """``WxH, F fps, B kbit/s`` of a video file's first stream."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height,avg_frame_rate,bit_rate",
         "-of", "default=noprint_wrappers=1", str(path)],
        capture_output=True, text=True, check=True,
    ).stdout
    info = dict(line.split("=", 1) for line in out.split())
    num, den = (int(x) for x in info["avg_frame_rate"].split("/"))
    return f"{info['width']}x{info['height']}, {num / den:g} fps, {int(info['bit_rate']) // 1000} kbit/s"


# --- ours ---------------------------------------------------------------------------------------
def segment_count(camera_ids: list[int]) -> int:
    from controlplane.cameras.models import Segment

    return Segment.objects.filter(camera_id__in=camera_ids).count()


def measure_ours(sandbox: Sandbox, url: str, stream: str, server_pid: int, args: argparse.Namespace) -> tuple[Window, int]:
    """N cameras on one capture worker: (CPU window, segments recorded in it)."""
    ids = sandbox.create_cameras([url] * args.cameras, segment_seconds=SEGMENT_SECONDS, label=stream)
    name = f"capture-{stream}"
    worker = sandbox.start_worker(name, args.cameras)
    try:
        sandbox.dispatch(ids)
        took = sandbox.wait_streaming(ids, timeout=120)
        print(f"  ours: {args.cameras} cameras streaming after {took:.1f} s; warming up {args.warmup:g} s", flush=True)
        time.sleep(args.warmup)
        before = segment_count(ids)
        spy = start_py_spy(worker.pid, args.py_spy / f"{stream}.txt", args.seconds) if args.py_spy else None
        perf = start_perf([worker.pid], args.perf / f"{stream}-ours.data", args.seconds) if args.perf else None
        window = measure({"capture": [worker.pid], "server": [server_pid]}, args.seconds)
        recorded = segment_count(ids) - before
        for profiler in (spy, perf):
            if profiler is not None:
                profiler.wait(60)
        if worker.poll() is not None:
            raise RuntimeError(f"the capture worker exited ({worker.returncode}) during the window")
    finally:
        sandbox.stop_worker(name)
    print_log_problems(f"  ours: worker log {sandbox.dir / (name + '.log')}", sandbox.worker_log(name))
    return window, recorded


def measure_idle(sandbox: Sandbox, args: argparse.Namespace) -> Window:
    """The same worker with no camera: its fixed cost (broker polling, heartbeats), shared by all cameras."""
    worker = sandbox.start_worker("capture-idle", args.cameras)
    try:
        time.sleep(args.warmup)
        return measure({"capture": [worker.pid]}, args.seconds)
    finally:
        sandbox.stop_worker("capture-idle")


def start_py_spy(pid: int, output: Path, seconds: float) -> subprocess.Popen[bytes]:
    """py-spy sampling the worker through the window (collapsed stacks; ``--py-spy`` only, as it costs CPU too)."""
    output.parent.mkdir(parents=True, exist_ok=True)
    command = [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(pid), "--duration", str(int(seconds)),
               "--format", "raw", "--nonblocking", "--rate", "50", "--output", str(output)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def start_perf(pids: list[int], output: Path, seconds: float) -> subprocess.Popen[bytes]:
    """Linux perf sampling these processes through the window (``--perf`` only): native code too, ours and ffmpeg's."""
    output.parent.mkdir(parents=True, exist_ok=True)
    command = ["perf", "record", "--freq", "499", "--pid", ",".join(map(str, pids)), "--output", str(output), "--", "sleep", str(seconds)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def print_perf(path: Path, sort: str, top: int = 12) -> None:
    """``perf report --sort dso`` (or ``symbol``), the top lines."""
    out = subprocess.run(["perf", "report", "--input", str(path), "--stdio", "--sort", sort], capture_output=True, text=True).stdout
    lines = [line for line in out.splitlines() if line.strip() and not line.startswith("#")]
    print(f"  perf {path.name} by {sort}:")
    for line in lines[:top]:
        print(f"    {line.strip()[:150]}")


# --- ffmpeg -------------------------------------------------------------------------------------
def ffmpeg_command(url: str, out: Path) -> list[str]:
    return [
        "ffmpeg", "-nostdin", "-hide_banner", "-nostats", "-loglevel", "error", "-rtsp_transport", "tcp", "-i", url,
        "-c", "copy", "-f", "segment", "-segment_time", str(SEGMENT_SECONDS), "-reset_timestamps", "1",
        "-segment_format", "mp4", str(out / "%06d.mp4"),
    ]


def file_count(dirs: list[Path]) -> int:
    return sum(len(list(d.iterdir())) for d in dirs)


def wait_for_files(dirs: list[Path], procs: list[subprocess.Popen[bytes]], timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if any(p.poll() is not None for p in procs):
            raise RuntimeError("an ffmpeg process exited before recording")
        if all(any(d.iterdir()) for d in dirs):
            return time.monotonic() - started
        time.sleep(0.5)
    raise RuntimeError(f"ffmpeg did not start recording within {timeout:.0f} s")


def measure_ffmpeg(url: str, stream: str, server_pid: int, args: argparse.Namespace) -> tuple[Window, int]:
    """N ffmpeg processes on the same URL: (CPU window, segment files finished in it)."""
    with tempfile.TemporaryDirectory(prefix="panoptes-bench-ffmpeg-") as tmp:
        dirs = [Path(tmp) / f"cam-{i}" for i in range(args.cameras)]
        procs = []
        log = (Path(tmp) / "ffmpeg.log").open("wb")
        try:
            for d in dirs:
                d.mkdir()
                procs.append(subprocess.Popen(ffmpeg_command(url, d), stdout=subprocess.DEVNULL, stderr=log))
            took = wait_for_files(dirs, procs, timeout=120)
            print(f"  ffmpeg: {args.cameras} processes recording after {took:.1f} s; warming up {args.warmup:g} s", flush=True)
            time.sleep(args.warmup)
            before = file_count(dirs)
            perf = start_perf([p.pid for p in procs], args.perf / f"{stream}-ffmpeg.data", args.seconds) if args.perf else None
            window = measure({"capture": [p.pid for p in procs], "server": [server_pid]}, args.seconds)
            finished = file_count(dirs) - before
            if perf is not None:
                perf.wait(60)
        finally:
            for p in procs:
                p.send_signal(signal.SIGTERM)
            for p in procs:
                p.wait(15)
            log.close()
        print_log_problems("  ffmpeg: stderr", (Path(tmp) / "ffmpeg.log").read_text(errors="replace"))
    return window, finished


# --- report -------------------------------------------------------------------------------------
def print_result(r: Result, seconds: float) -> None:
    expected = r.cameras * seconds / SEGMENT_SECONDS
    print(f"  {r.stream} ({r.info}), {r.cameras} cameras, {r.ours.seconds:.0f} s windows")
    for label, window, segments in (("ours", r.ours, r.ours_segments), ("ffmpeg", r.ffmpeg, r.ffmpeg_segments)):
        print(
            f"    {label:6} {window.percent('capture', r.cameras):6.2f} %/cam  ({window.percent('capture'):5.1f} % for all)"
            f"  {window.switch_rate('capture', r.cameras):5.0f} switches/s/cam"
            f"  server {window.percent('server'):4.1f} %  machine busy {100 * window.machine_busy:4.1f} %"
            f"  segments {segments} (expected ~{expected:.0f})"
        )
    print(f"    ratio ours/ffmpeg {r.ratio:.2f} (goal <= 1.5)", flush=True)


def print_summary(results: list[Result], idle: Window | None) -> None:
    """A Markdown table (for RESULTS.md). ``ours less idle`` leaves out the idle worker's fixed cost."""
    print(
        "\n| stream | cameras | ours %/cam | ours less idle %/cam | ffmpeg %/cam | ratio ours/ffmpeg | cams/core ours | cams/core ffmpeg"
        " | context switches/s/cam ours / ffmpeg | server % (ours / ffmpeg window) | machine busy % (ours / ffmpeg) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        ours, base = r.ours.percent("capture", r.cameras), r.ffmpeg.percent("capture", r.cameras)
        marginal = f"{ours - idle.percent('capture', r.cameras):.2f}" if idle else "-"
        print(
            f"| {r.stream} ({r.info}) | {r.cameras} | {ours:.2f} | {marginal} | {base:.2f} | {r.ratio:.2f} | {100 / ours:.0f} | {100 / base:.0f}"
            f" | {r.ours.switch_rate('capture', r.cameras):.0f} / {r.ffmpeg.switch_rate('capture', r.cameras):.0f}"
            f" | {r.ours.percent('server'):.1f} / {r.ffmpeg.percent('server'):.1f}"
            f" | {100 * r.ours.machine_busy:.0f} / {100 * r.ffmpeg.machine_busy:.0f} |"
        )
    if idle is not None:
        print(f"\nidle capture worker, no camera: {idle.percent('capture'):.2f} % of a core")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cameras", type=int, default=8, help="cameras per stream (default 8)")
    parser.add_argument("--seconds", type=float, default=60, help="measured window (default 60)")
    parser.add_argument("--warmup", type=float, default=10, help="streaming time before the window (default 10)")
    parser.add_argument("--streams", default="432p,720p,1080p", help="comma-separated, of 432p,720p,1080p")
    parser.add_argument("--fps", type=int, default=25, help="frame rate of the 720p/1080p versions (default 25)")
    parser.add_argument("--footage-seconds", type=int, default=60, help="length of the 720p/1080p versions (default 60)")
    parser.add_argument("--database", choices=("sqlite", "mariadb"), default="sqlite", help="throwaway SQLite file (default) or MariaDB database")
    parser.add_argument("--py-spy", type=Path, metavar="DIR", help="profile our worker in each window with py-spy (pip install py-spy)")
    parser.add_argument("--perf", type=Path, metavar="DIR", help="profile both sides in each window with Linux perf (native code)")
    parser.add_argument("--no-idle", action="store_true", help="skip the idle-worker measurement")
    parser.add_argument(
        "--worker-env", action="append", default=[], metavar="NAME=VALUE",
        help="extra setting for our worker, e.g. PANOPTES_SNAPSHOT_SECONDS=3600 to see what snapshots cost",
    )
    parser.add_argument("--keep", action="store_true", help="keep the sandbox directory (worker logs, segments)")
    args = parser.parse_args()
    args.streams = args.streams.split(",")
    if unknown := set(args.streams) - {"432p", *SIZES}:
        parser.error(f"unknown streams: {', '.join(sorted(unknown))}")
    return args


def main() -> int:
    args = parse_args()
    streams = prepare_streams(args.streams, args.fps, args.footage_seconds)
    results: list[Result] = []
    with Sandbox(database=args.database, keep=args.keep) as sandbox, rtsp_server(streams) as server:
        sandbox.env.update(dict(item.split("=", 1) for item in args.worker_env))
        assert server.process is not None
        idle = measure_idle(sandbox, args) if not args.no_idle else None
        if idle is not None:
            print(f"idle capture worker (-c {args.cameras}, no camera): {idle.percent('capture'):.2f} % of a core", flush=True)
        for stream, path in streams.items():
            info = describe(path)
            print(f"\n{stream}: {info}, {server.url(stream)}", flush=True)
            ours, ours_segments = measure_ours(sandbox, server.url(stream), stream, server.process.pid, args)
            base, base_segments = measure_ffmpeg(server.url(stream), stream, server.process.pid, args)
            results.append(Result(stream, info, ours, base, ours_segments, base_segments, args.cameras))
            print_result(results[-1], args.seconds)
            for side in ("ours", "ffmpeg") if args.perf else ():
                for sort in ("dso", "symbol"):
                    print_perf(args.perf / f"{stream}-{side}.data", sort)
            if args.py_spy:
                print_profile(args.py_spy / f"{stream}.txt")
    print_summary(results, idle)
    print(f"\nffmpeg: {' '.join(ffmpeg_command('URL', Path('DIR')))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
