"""One capture worker holding many cameras for minutes: segments on time, memory flat.

What it measures: a real capture worker (``celery -A workers worker -Q capture -P threads -c N``)
records ``--cameras`` RTSP cameras (the shared footage, 768x432, 10 fps, GOP 1 s, from one
``shared=True`` RTSP server) into 5 s segments for ``--minutes`` after all are streaming, in a
throwaway SQLite database (``--database mariadb`` for a MariaDB one), Redis prefix and broker
database (capture_harness.py). Then, from the worker and the Segment rows:
1. memory: the worker's RSS every ``--sample-seconds``: first, last, max, every 10 minutes, and
   the least-squares slope (MB/min) over the last half hour (over the second half of a run
   shorter than an hour, after warm-up), with its verdict against the goal: at most
   ``--goal`` (0.05 MB/min for 50 cameras: 3 MB an hour, where a leak of 200 bytes a
   segment gives 0.12 MB/min);
2. lateness: ``created_at - end_time`` of each segment (how long after its last frame arrived
   the row was stored): p50 / p95 / max; and less each camera's smallest ("excess"), which takes
   out the error of the camera's time anchor (constant per connection);
3. drift: for segment k of a camera, ``start_k - (start_1 + sum of the previous durations)``:
   0 while segments follow each other without a gap; a reconnect or a lost segment shows here;
4. durations against ``segment_seconds``: each should be within one GOP (1 s);
5. files: every complete segment file on storage has its row (also those finished at shutdown).
The baseline is the run itself: lateness and RSS in its first minute against its last minute
(``ratio last/first``): about 1 means nothing builds up; far above 1 means a leak or a backlog.

    .venv/bin/python bench/capture_fleet.py                       # 50 cameras, 10 minutes
    .venv/bin/python bench/capture_fleet.py --cameras 10 --minutes 2
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field

from capture_harness import (
    Sandbox,
    cpu_seconds,
    footage,
    machine_jiffies,
    percentile,
    print_log_problems,
    rss_mb,
    rtsp_server,
    slope_per_minute,
)

SEGMENT_SECONDS = 5
SLOPE_WINDOW = 1800.0  # seconds: the memory verdict is on the last half hour of the run
GOP_SECONDS = 1.0  # one-by-one-person-detection.mp4: a key frame every 10 frames at 10 fps


@dataclass
class Samples:
    """The worker's RSS (MB) and CPU seconds, by seconds since the measured run began."""

    rss: list[tuple[float, float]] = field(default_factory=list)
    cpu: list[tuple[float, float]] = field(default_factory=list)
    server_cpu: list[float] = field(default_factory=list)
    machine: list[tuple[int, int]] = field(default_factory=list)  # (busy, total) jiffies of all cores

    def take(self, pid: int, server_pid: int, at: float) -> None:
        self.rss.append((at, rss_mb(pid)))
        self.cpu.append((at, cpu_seconds(pid)))
        self.server_cpu.append(cpu_seconds(server_pid))
        self.machine.append(machine_jiffies())

    def rss_between(self, start: float, end: float) -> list[float]:
        return [v for t, v in self.rss if start <= t <= end]


@dataclass
class Row:
    """What the analysis needs of a Segment row; times in seconds since the run began."""

    camera: int
    seq: int
    start: float
    end: float
    created: float
    discontinuity: bool

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def lateness(self) -> float:
        return self.created - self.end


# --- running ------------------------------------------------------------------------------------
def run_fleet(sandbox: Sandbox, url: str, server_pid: int, args: argparse.Namespace) -> tuple[list[int], float, float, Samples]:
    """Start the worker, dispatch the cameras, sample it for the run; (ids, run start, run end, samples) in epoch seconds."""
    ids = sandbox.create_cameras([url] * args.cameras, segment_seconds=SEGMENT_SECONDS, label="fleet")
    worker = sandbox.start_worker("capture-fleet", args.cameras)
    sandbox.dispatch(ids)
    took = sandbox.wait_streaming(ids, timeout=max(120, 3 * args.cameras))
    print(f"{args.cameras} cameras streaming after {took:.1f} s; recording for {args.minutes:g} min", flush=True)
    samples = Samples()
    started, began = time.time(), time.monotonic()
    total = args.minutes * 60
    while (elapsed := time.monotonic() - began) < total:
        samples.take(worker.pid, server_pid, elapsed)
        if worker.poll() is not None:
            raise RuntimeError(f"the capture worker exited ({worker.returncode}); see {sandbox.dir}")
        if len(samples.rss) % max(1, round(60 / args.sample_seconds)) == 1:
            print_progress(sandbox, ids, samples, elapsed)
        time.sleep(min(args.sample_seconds, max(0.0, total - (time.monotonic() - began))))
    samples.take(worker.pid, server_pid, time.monotonic() - began)
    ended = time.time()
    states = sandbox.states(ids)
    not_streaming = {cid: s for cid, s in states.items() if s != "streaming"}
    print(f"at the end: {len(ids) - len(not_streaming)}/{len(ids)} cameras streaming {not_streaming or ''}", flush=True)
    sandbox.stop_worker("capture-fleet")
    return ids, started, ended, samples


def print_progress(sandbox: Sandbox, ids: list[int], samples: Samples, elapsed: float) -> None:
    from controlplane.cameras.models import Segment

    recent = [(t, c) for t, c in samples.cpu if t >= elapsed - 60]
    cpu = 100 * (recent[-1][1] - recent[0][1]) / max(1e-9, recent[-1][0] - recent[0][0]) if len(recent) > 1 else float("nan")
    print(
        f"  {elapsed / 60:5.1f} min: RSS {samples.rss[-1][1]:6.1f} MB, CPU {cpu:5.1f} % of a core,"
        f" {Segment.objects.filter(camera_id__in=ids).count()} segments",
        flush=True,
    )


def load_rows(ids: list[int], origin: float) -> list[Row]:
    from controlplane.cameras.models import Segment

    return [
        Row(s.camera_id, s.seq, s.start_time.timestamp() - origin, s.end_time.timestamp() - origin,
            s.created_at.timestamp() - origin, s.discontinuity)
        for s in Segment.objects.filter(camera_id__in=ids).order_by("camera_id", "seq")
    ]


# --- analysis -----------------------------------------------------------------------------------
def drifts(rows: list[Row]) -> dict[int, list[float]]:
    """Per camera, for each segment: its start minus (first start + sum of the previous durations)."""
    by_camera: dict[int, list[Row]] = defaultdict(list)
    for row in rows:
        by_camera[row.camera].append(row)
    result = {}
    for camera, segments in by_camera.items():
        expected, values = segments[0].start, []
        for s in segments:
            values.append(s.start - expected)
            expected += s.duration
        result[camera] = values
    return result


def spread(values: list[float]) -> str:
    if not values:
        return "none"
    return f"p50 {percentile(values, 50):.3f} s, p95 {percentile(values, 95):.3f} s, max {max(values):.3f} s (n={len(values)})"


def excess_lateness(rows: list[Row]) -> dict[tuple[int, int], float]:
    """Each segment's lateness less its camera's smallest: the delay that processing added.

    Raw lateness also holds the error of the camera's time anchor (constant per connection, and
    negative when the anchor is late), which this takes out.
    """
    best: dict[int, float] = {}
    for r in rows:
        best[r.camera] = min(best.get(r.camera, r.lateness), r.lateness)
    return {(r.camera, r.seq): r.lateness - best[r.camera] for r in rows}


def compare_minutes(title: str, first: list[float], last: list[float]) -> None:
    print(f"  {title}, first minute: {spread(first)}")
    print(f"  {title}, last minute:  {spread(last)}")
    if first and last:
        p50, p95 = percentile(first, 50), percentile(first, 95)
        print(
            f"  {title}, ratio last/first minute: p50 {percentile(last, 50) / p50:.2f}, p95 {percentile(last, 95) / p95:.2f}"
            f" (change: p50 {percentile(last, 50) - p50:+.3f} s, p95 {percentile(last, 95) - p95:+.3f} s)"
        )


def report_lateness(rows: list[Row], total: float) -> None:
    excess = excess_lateness(rows)
    first = [r for r in rows if r.created < 60]
    last = [r for r in rows if r.created >= total - 60]
    print(f"lateness (created_at - end_time), whole run: {spread([r.lateness for r in rows])}")
    compare_minutes("lateness", [r.lateness for r in first], [r.lateness for r in last])
    print(f"excess lateness (less the camera's smallest), whole run: {spread(list(excess.values()))}")
    compare_minutes("excess", [excess[r.camera, r.seq] for r in first], [excess[r.camera, r.seq] for r in last])


def report_drift(rows: list[Row], ids: list[int], total: float) -> None:
    values = drifts(rows)
    worst = {camera: max(abs(v) for v in vs) for camera, vs in values.items()}
    beyond = sorted(camera for camera, w in worst.items() if w > GOP_SECONDS)
    print(
        f"drift: max |drift| {max(worst.values(), default=float('nan')):.3f} s over {len(worst)} cameras;"
        f" cameras beyond one GOP ({GOP_SECONDS:g} s): {len(beyond)} {beyond[:10] or ''}"
    )
    durations = [r.duration for r in rows]
    off = [d for d in durations if abs(d - SEGMENT_SECONDS) > GOP_SECONDS]
    print(
        f"durations: min {min(durations):.3f} s, median {statistics.median(durations):.3f} s, max {max(durations):.3f} s;"
        f" {len(off)} of {len(durations)} off {SEGMENT_SECONDS} s by more than one GOP"
    )
    per_camera: dict[int, int] = defaultdict(int)
    for r in rows:
        per_camera[r.camera] += 1
    counts = [per_camera[c] for c in ids]
    print(
        f"segments per camera in the run: min {min(counts)}, max {max(counts)} (expected ~{total / SEGMENT_SECONDS:.0f});"
        f" discontinuities after the first: {sum(r.discontinuity for r in rows) - len(values)}"
    )


def report_memory(samples: Samples, total: float, goal: float) -> None:
    rss = [v for _, v in samples.rss]
    window = min(SLOPE_WINDOW, total / 2)  # the last half hour; the second half of a shorter run
    tail = [(t, v) for t, v in samples.rss if t >= total - window]
    slope = slope_per_minute(tail)
    first, last = samples.rss_between(0, 60), samples.rss_between(total - 60, total + 1)
    print(
        f"worker RSS: first {rss[0]:.1f} MB, last {rss[-1]:.1f} MB, max {max(rss):.1f} MB;"
        f" slope over the second half {slope_per_minute([(t, v) for t, v in samples.rss if t >= total / 2]):+.3f} MB/min"
    )
    marks = [*range(0, int(total) + 1, 600), total]
    nearest = dict(min(samples.rss, key=lambda sample: abs(sample[0] - mark)) for mark in marks)
    print(f"  RSS every 10 min (MB): {', '.join(f'{t / 60:.0f} min {v:.1f}' for t, v in nearest.items())}")
    verdict = "PASS" if slope <= goal else "FAIL"
    print(f"  RSS slope over the last {window / 60:.1f} min: {slope:+.3f} MB/min; goal <= {goal:g} MB/min: {verdict}")
    if first and last:
        print(f"  mean first minute {statistics.fmean(first):.1f} MB, last minute {statistics.fmean(last):.1f} MB:"
              f" ratio last/first {statistics.fmean(last) / statistics.fmean(first):.3f}")
    (t0, c0), (t1, c1) = samples.cpu[0], samples.cpu[-1]
    (busy0, all0), (busy1, all1) = samples.machine[0], samples.machine[-1]
    print(
        f"CPU over the run: worker {100 * (c1 - c0) / (t1 - t0):.1f} % of a core,"
        f" RTSP server {100 * (samples.server_cpu[-1] - samples.server_cpu[0]) / (t1 - t0):.1f} %,"
        f" machine busy {100 * (busy1 - busy0) / max(1, all1 - all0):.0f} % of all cores"
    )


def report(rows: list[Row], samples: Samples, ids: list[int], total: float, goal: float) -> None:
    in_run = [r for r in rows if 0 <= r.created <= total]
    print(f"\n--- {len(ids)} cameras, {total / 60:g} min, {len(in_run)} segments recorded in the run ---")
    report_memory(samples, total, goal)
    report_lateness(in_run, total)
    # Drift and durations over each camera's whole recording, except the segment cut short at shutdown.
    report_drift([r for r in rows if r.created <= total], ids, total)


def report_files(sandbox: Sandbox, ids: list[int]) -> None:
    """Every complete file on storage should have its row, also those finished at shutdown."""
    from controlplane.cameras.models import Segment

    root = sandbox.dir / "storage"
    files = {str(p.relative_to(root)) for p in (root / "segments").rglob("*.mp4") if not p.name.startswith(".")}
    parts = list((root / "segments").rglob("*.part"))
    rows = set(Segment.objects.filter(camera_id__in=ids).values_list("path", flat=True))
    print(f"files: {len(files)} segment files, {len(rows)} rows; files without a row: {len(files - rows)},"
          f" rows without a file: {len(rows - files)}, .part files left: {len(parts)}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cameras", type=int, default=50, help="cameras on the one worker (default 50)")
    parser.add_argument("--minutes", type=float, default=10, help="recording time measured (default 10)")
    parser.add_argument("--sample-seconds", type=float, default=10, help="RSS sampling period (default 10)")
    parser.add_argument("--database", choices=("sqlite", "mariadb"), default="sqlite", help="throwaway SQLite file (default) or MariaDB database")
    parser.add_argument("--goal", type=float, default=0.05, help="largest acceptable RSS slope, MB/min (default 0.05)")
    parser.add_argument("--keep", action="store_true", help="keep the sandbox directory (worker log, segments)")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    with Sandbox(database=args.database, keep=args.keep, name="fleet") as sandbox, rtsp_server({"onebyone": footage("onebyone")}) as server:
        assert server.process is not None
        ids, started, ended, samples = run_fleet(sandbox, server.url("onebyone"), server.process.pid, args)
        report(load_rows(ids, started), samples, ids, ended - started, args.goal)
        report_files(sandbox, ids)
        print_log_problems(f"\nworker log {sandbox.dir / 'capture-fleet.log'}", sandbox.worker_log("capture-fleet"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
