"""Memory of a long-lived finite-task worker under a steady load: its RSS slope (issue 19).

A throwaway Panoptes (bench/capture_harness.Sandbox, MariaDB by default) runs the real worker
processes of one role, fed for ``--minutes`` without a pause:

- ``--role gpu``: one ``celery -A workers worker -Q gpu -P solo`` detecting (ONNX Runtime on the
  CPU here, the model of ``PANOPTES_ASSETS``) a stream of 5 s segments of the shared footage,
  ``--outstanding`` segments queued at any time (as fast as it detects). Each segment is a new
  row and a hard link to one of the footage's first 12 segments (recorded once by our recorder).
  Its ``analyze_segment`` messages are dropped from the broker (no analysis worker runs).
- ``--role alarms``: the ``alarms`` worker (``-P threads -c 8``) with an ``analysis`` worker, a
  ``control`` worker and beat, as deployed (DESIGN §2), and a real webhook receiver
  (tests/receiver.py). ``--cameras`` cameras watch the footage's first 60 s over and over, in real
  time (segments detected once in this process and linked in, then analysed), each with a floor
  zone and an intrusion binding: three visitors a minute per camera, each an alarm whose
  snapshot, webhook delivery and replay clip the alarms worker makes.

After ``--warmup`` seconds of the same load, the measured worker's RSS is sampled every
``--sample-seconds``; the result is the least-squares
slope over the last half hour (the second half of a shorter run), against ``--goal`` MB/min,
with the RSS every 10 minutes and the work done. The baseline is the run itself: first minute
against last minute.

    .venv/bin/python bench/worker_memory.py --role gpu --minutes 30
    .venv/bin/python bench/worker_memory.py --role alarms --minutes 30 --cameras 10
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from capture_harness import Sandbox, footage, print_log_problems, rss_mb, slope_per_minute  # noqa: E402

SEGMENT_SECONDS = 5
TEMPLATE_SEGMENTS = 12  # the footage's first 60 s: three visitors cross the floor zone
SLOPE_WINDOW = 1800.0  # seconds: the verdict is on the last half hour
FLOOR = [[0.40, 0.70], [0.85, 0.70], [0.85, 1.0], [0.40, 1.0]]  # as bench/alarm_latency.py


@dataclass
class Template:
    """The footage recorded once into segments (and detected once), linked in as new segments."""

    storage: Path
    parts: list[Any] = field(default_factory=list)  # Segment rows of the template camera

    def link(self, part: Any, camera_id: int, start: datetime, with_detections: bool) -> str:
        """A hard link of ``part`` as the segment of ``camera_id`` starting at ``start``; its relative path."""
        from analytics.detectors.store import detections_path
        from workers.storage import segment_relpath

        relative = segment_relpath(camera_id, start)
        target = self.storage / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(self.storage / part.path, target)
        if with_detections:
            os.link(detections_path(self.storage / part.path), detections_path(target))
        return relative


def record_template(storage: Path, detect: bool) -> Template:
    import av

    from controlplane.cameras.models import Camera, Segment
    from workers.detect import detect_segment
    from workers.recorder import SegmentWriter

    camera = Camera.objects.create(name="template", stream_url="rtsp://10.0.0.1/t", detect_fps=5, enabled=False)
    epoch = Camera.bump_epoch(camera.pk)
    template = Template(storage)
    recorded_at = datetime.now(UTC)
    with av.open(str(footage("onebyone"))) as container:
        writer = SegmentWriter(container.streams.video[0], storage, camera.pk, SEGMENT_SECONDS)
        for packet in container.demux(container.streams.video[0]):
            # Stamped now: a template from an old date would be removed by retention (beat runs).
            done = writer.write(packet, recorded_at)
            if done:
                template.parts.append(Segment.record(
                    camera_id=camera.pk, epoch=epoch, start_time=done.start_time, end_time=done.end_time,
                    path=done.relative_path, size_bytes=done.size_bytes))
                if len(template.parts) == TEMPLATE_SEGMENTS:
                    break
        writer.close(keep=False)
    if detect:
        for part in template.parts:
            assert detect_segment(part.pk) == "done"
    return template


# --- the gpu role -----------------------------------------------------------------------------------
class GpuFeed:
    """Keeps ``outstanding`` segments queued for detection; counts those detected."""

    def __init__(self, template: Template, outstanding: int, broker: str) -> None:
        from controlplane.cameras.models import Camera
        from controlplane.configs.actions import ensure_published

        self.template = template
        self.outstanding = outstanding
        self.camera = Camera.objects.create(name="gpu-feed", stream_url="rtsp://10.0.0.1/g", detect_fps=5, enabled=False)
        ensure_published()
        self.epoch = Camera.bump_epoch(self.camera.pk)
        self.pending: list[int] = []
        self.done = 0
        self.bad = 0
        self.sent = 0
        self.next_start = datetime.now(UTC)
        import redis

        self.broker = redis.Redis.from_url(broker)
        self.dropped_at = 0.0

    def step(self) -> None:
        from controlplane.cameras.models import DetectState, Segment
        from workers.celery import app

        if self.pending:
            states = dict(Segment.objects.filter(pk__in=self.pending).values_list("pk", "detect_state"))
            finished = [pk for pk in self.pending if states.get(pk) != DetectState.PENDING]
            self.done += sum(states.get(pk) == DetectState.DONE for pk in finished)
            self.bad += sum(states.get(pk) == DetectState.BAD for pk in finished)
            self.pending = [pk for pk in self.pending if pk not in finished]
        while len(self.pending) < self.outstanding:
            part = self.template.parts[self.sent % len(self.template.parts)]
            start, self.next_start = self.next_start, self.next_start + (part.end_time - part.start_time)
            row = Segment.record(camera_id=self.camera.pk, epoch=self.epoch, start_time=start,
                                 end_time=self.next_start, path=self.template.link(part, self.camera.pk, start, False),
                                 size_bytes=part.size_bytes)
            app.send_task("panoptes.detect_segment", args=[row.pk],
                          kwargs={"camera_id": row.camera_id, "seq": row.seq, "path": row.path}, queue="gpu")
            self.pending.append(row.pk)
            self.sent += 1
        if time.monotonic() - self.dropped_at > 30:  # no analysis worker: drop what detection sent it
            self.dropped_at = time.monotonic()
            for name in self.broker.scan_iter(match="analysis*"):
                self.broker.delete(name)

    def summary(self) -> str:
        return f"{self.done} segments detected, {self.bad} bad, {len(self.pending)} still queued"


# --- the alarms role --------------------------------------------------------------------------------
class AlarmFeed:
    """Feeds every camera the template's segments in real time, looping, and sends their analysis."""

    def __init__(self, template: Template, cameras: int, receiver_port: int) -> None:
        from django.db import transaction

        from controlplane.alarms.models import WebhookEndpoint
        from controlplane.algorithms.models import Algorithm, AlgorithmBinding
        from controlplane.cameras.models import Camera
        from controlplane.configs.actions import ensure_published

        self.template = template
        with transaction.atomic():
            self.cameras = [Camera.objects.create(name=f"alarms-{i}", stream_url=f"rtsp://10.0.0.1/{i}", detect_fps=5,
                                                  enabled=False) for i in range(cameras)]
            intrusion = Algorithm.objects.get(slug="intrusion")
            for camera in self.cameras:
                zone = camera.zones.create(name="floor", points=FLOOR)
                AlgorithmBinding.objects.create(zone=zone, algorithm=intrusion, params={"min_dwell": 1.0},
                                                cooldown_seconds=0, severity="high")
            WebhookEndpoint.objects.create(name="receiver", url=f"http://127.0.0.1:{receiver_port}/hook",
                                           secret="bench-secret-0123456789")
        ensure_published()
        self.epochs = {c.pk: Camera.bump_epoch(c.pk) for c in self.cameras}
        origin = template.parts[0].start_time
        self.cycle = template.parts[-1].end_time - origin
        self.t0 = datetime.now(UTC) + timedelta(seconds=2)
        # Cameras' segment boundaries spread over the 5 s, as cameras started at different times are.
        self.phase = {c.pk: timedelta(seconds=SEGMENT_SECONDS * i / cameras) for i, c in enumerate(self.cameras)}
        self.offsets = [(p.end_time - origin, p) for p in template.parts]
        self.next = {c.pk: 0 for c in self.cameras}  # index of each camera's next segment (all cycles)
        self.fed = 0

    def step(self) -> None:
        from controlplane.cameras.models import DetectState, Segment
        from workers.celery import app

        now = datetime.now(UTC)
        for camera in self.cameras:
            while True:
                k = self.next[camera.pk]
                offset, part = self.offsets[k % len(self.offsets)]
                end = self.t0 + self.phase[camera.pk] + (k // len(self.offsets)) * self.cycle + offset
                if end > now:
                    break
                begin = end - (part.end_time - part.start_time)
                row = Segment.record(camera_id=camera.pk, epoch=self.epochs[camera.pk], start_time=begin, end_time=end,
                                     path=self.template.link(part, camera.pk, begin, True), size_bytes=part.size_bytes)
                Segment.objects.filter(pk=row.pk).update(detect_state=DetectState.DONE)
                app.send_task("panoptes.analyze_segment", args=[row.pk], queue="analysis")
                self.next[camera.pk] = k + 1
                self.fed += 1

    def summary(self) -> str:
        from controlplane.alarms.models import Alarm, AlarmDelivery

        delivered = AlarmDelivery.objects.filter(state="delivered").count()
        return (f"{self.fed} segments analysed, {Alarm.objects.count()} alarms, {delivered} deliveries delivered,"
                f" {AlarmDelivery.objects.exclude(state='delivered').count()} not (yet),"
                f" {Alarm.objects.filter(replay_status='ready').count()} replays ready")


# --- running and the report -------------------------------------------------------------------------
def start(sandbox: Sandbox, name: str, *args: str) -> subprocess.Popen[bytes]:
    log = (sandbox.dir / f"{name}.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "celery", "-A", "workers", *args], cwd=ROOT, env=sandbox.env,
                            stdout=log, stderr=subprocess.STDOUT)
    log.close()
    sandbox.workers[name] = proc
    return proc


def sample(worker: subprocess.Popen[bytes], feed: GpuFeed | AlarmFeed, args: argparse.Namespace,
           others: dict[str, subprocess.Popen[bytes]]) -> list[tuple[float, float]]:
    """Feed the workers for the run and sample the measured one's RSS: (seconds, MB)."""
    rss: list[tuple[float, float]] = []
    warm_until = time.monotonic() + args.warmup
    while time.monotonic() < warm_until:  # model loaded, connections open, first alarms made
        feed.step()
        time.sleep(0.2)
    began = time.monotonic()
    next_sample = next_print = began
    total = args.minutes * 60
    while (now := time.monotonic()) - began <= total:
        feed.step()
        if now >= next_sample:
            rss.append((now - began, rss_mb(worker.pid)))
            next_sample += args.sample_seconds
        if now >= next_print:
            extra = ", ".join(f"{name} {rss_mb(p.pid):.1f}" for name, p in others.items())
            print(f"  {(now - began) / 60:5.1f} min: RSS {rss[-1][1]:6.1f} MB ({extra}); {feed.summary()}", flush=True)
            next_print += 60
        for name, proc in {"measured": worker, **others}.items():
            if proc.poll() is not None:
                raise RuntimeError(f"the {name} worker exited ({proc.returncode})")
        time.sleep(0.2)
    return rss


def every_ten_minutes(rss: list[tuple[float, float]], total: float) -> str:
    """The sample nearest to each 10th minute, and the last: "0 min 380.1, 10 min 381.0, ..."."""
    marks = [*range(0, int(total) + 1, 600), total]
    nearest = [min(rss, key=lambda sample: abs(sample[0] - mark)) for mark in marks]
    return ", ".join(f"{t / 60:.0f} min {v:.1f}" for t, v in dict(nearest).items())


def report(rss: list[tuple[float, float]], total: float, goal: float, role: str) -> None:
    values = [v for _, v in rss]
    window = min(SLOPE_WINDOW, total / 2)
    slope = slope_per_minute([(t, v) for t, v in rss if t >= total - window])
    first = [v for t, v in rss if t <= 60]
    last = [v for t, v in rss if t >= total - 60]
    print(f"\n--- {role} worker, {total / 60:g} min ---")
    print(f"worker RSS: first {values[0]:.1f} MB, last {values[-1]:.1f} MB, max {max(values):.1f} MB;"
          f" mean first minute {statistics.fmean(first):.1f}, last minute {statistics.fmean(last):.1f}:"
          f" ratio {statistics.fmean(last) / statistics.fmean(first):.3f}")
    print(f"  RSS every 10 min (MB): {every_ten_minutes(rss, total)}")
    print(f"  RSS slope over the last {window / 60:.1f} min: {slope:+.3f} MB/min;"
          f" goal <= {goal:g} MB/min: {'PASS' if slope <= goal else 'FAIL'}")


def run_gpu(sandbox: Sandbox, args: argparse.Namespace) -> None:
    template = record_template(Path(sandbox.env["STORAGE_ROOT"]), detect=False)
    worker = start(sandbox, "gpu", "worker", "-Q", "gpu", "-P", "solo", "-n", f"gpu-{sandbox.prefix}@%h", "-l", "INFO")
    feed = GpuFeed(template, args.outstanding, sandbox.broker)
    rss = sample(worker, feed, args, {})
    print(f"work: {feed.summary()}")
    report(rss, args.minutes * 60, args.goal, "gpu")


def run_alarms(sandbox: Sandbox, args: argparse.Namespace) -> None:
    template = record_template(Path(sandbox.env["STORAGE_ROOT"]), detect=True)
    receiver = subprocess.Popen([sys.executable, str(ROOT / "tests" / "receiver.py"), "--log", str(sandbox.dir / "receiver.jsonl")],
                                stdout=subprocess.PIPE, text=True)
    try:
        assert receiver.stdout is not None
        port = int(receiver.stdout.readline().split()[1])
        feed = AlarmFeed(template, args.cameras, port)
        worker = start(sandbox, "alarms", "worker", "-Q", "alarms", "-P", "threads", "-c", "8",
                       "-n", f"alarms-{sandbox.prefix}@%h", "-l", "INFO")
        others = {
            "analysis": start(sandbox, "analysis", "worker", "-Q", "analysis", "-P", "threads", "-c", "4",
                              "-n", f"analysis-{sandbox.prefix}@%h", "-l", "INFO"),
            "control": start(sandbox, "control", "worker", "-Q", "control", "-P", "solo", "-n", f"control-{sandbox.prefix}@%h"),
        }
        start(sandbox, "beat", "beat", "-s", str(sandbox.dir / "beat-schedule"))
        time.sleep(8)  # workers up
        rss = sample(worker, feed, args, others)
        print(f"work: {feed.summary()}")
        report(rss, args.minutes * 60, args.goal, "alarms")
    finally:
        receiver.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--role", choices=("gpu", "alarms"), required=True)
    parser.add_argument("--minutes", type=float, default=60, help="measured time (default 60)")
    parser.add_argument("--sample-seconds", type=float, default=10)
    parser.add_argument("--warmup", type=float, default=60, help="seconds fed before the measured run (default 60)")
    parser.add_argument("--goal", type=float, default=0.05, help="largest acceptable RSS slope, MB/min (default 0.05)")
    parser.add_argument("--cameras", type=int, default=10, help="alarms: cameras fed (3 alarms a minute each)")
    parser.add_argument("--outstanding", type=int, default=2, help="gpu: segments queued at any time")
    parser.add_argument("--database", choices=("sqlite", "mariadb"), default="mariadb")
    parser.add_argument("--keep", action="store_true", help="keep the sandbox directory (worker logs)")
    args = parser.parse_args()
    os.environ["PANOPTES_WEBHOOK_ALLOWED_NETWORKS"] = "127.0.0.0/8"  # the receiver is local
    os.environ["PANOPTES_ANALYSIS_GAP_WAIT"] = "3600"
    with Sandbox(database=args.database, keep=args.keep, name=f"memory-{args.role}") as sandbox:
        (run_gpu if args.role == "gpu" else run_alarms)(sandbox, args)
        for name in [n for n in ("gpu", "alarms", "analysis") if n in sandbox.workers]:
            print_log_problems(f"{name} worker log {sandbox.dir / (name + '.log')}", sandbox.worker_log(name))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
