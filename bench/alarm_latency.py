"""Phase-one alarm latency (issue 6): from the end of the segment holding the event to the webhook
receiver getting ``alarm.created``, over ~100 alarms, with detection excluded and timed separately.

A throwaway Panoptes (bench/capture_harness.Sandbox, MariaDB by default) with real worker processes
(`analysis` -P threads -c 4, `alarms` -P threads -c 8, `control` + beat) and a real HTTP receiver
(tests/receiver.py). ``--cameras`` cameras each watch the first 60 s of
one-by-one-person-detection.mp4 (three visitors: three intrusion alarms per camera) with a floor
zone and intrusion bound (min_dwell 1 s, no cooldown), and one webhook endpoint gets every alarm.

The footage is recorded once into 5 s segments by the real recorder and detected once in this
process (the CPU detection time per segment is printed: it is the part excluded). Then, in real
time, at each segment's end wall time every camera's copy of that segment gets its row (detected)
and its ``analyze_segment`` task, as if the GPU had finished it at that instant. Latency = the
receiver's clock at the request minus the segment's end time.

    .venv/bin/python bench/alarm_latency.py                # 34 cameras (~100 alarms), ~2 min
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from capture_harness import Sandbox, footage, percentile  # noqa: E402

FLOOR = [[0.40, 0.70], [0.85, 0.70], [0.85, 1.0], [0.40, 1.0]]


def start(sandbox: Sandbox, name: str, *args: str) -> subprocess.Popen[bytes]:
    log = (sandbox.dir / f"{name}.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "celery", "-A", "workers", *args], cwd=ROOT, env=sandbox.env,
                            stdout=log, stderr=subprocess.STDOUT)
    sandbox.workers[name] = proc
    return proc


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cameras", type=int, default=34)
    parser.add_argument("--database", choices=["sqlite", "mariadb"], default="mariadb")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--synchronized", action="store_true",
                        help="every camera's segments end at the same instant (worst case); default: cameras' "
                             "segment boundaries spread over the 5 s, as cameras started at different times are")
    args = parser.parse_args()
    os.environ["PANOPTES_WEBHOOK_ALLOWED_NETWORKS"] = "127.0.0.0/8"
    os.environ["PANOPTES_ANALYSIS_GAP_WAIT"] = "3600"
    with Sandbox(database=args.database, keep=args.keep) as sandbox:
        return run(sandbox, args)


def run(sandbox: Sandbox, args: argparse.Namespace) -> int:
    import av
    from django.db import transaction

    from analytics.detectors.store import detections_path
    from controlplane.alarms.models import Alarm, AlarmDelivery, WebhookEndpoint
    from controlplane.algorithms.models import Algorithm, AlgorithmBinding
    from controlplane.cameras.models import Camera, DetectState, Segment
    from controlplane.configs.actions import ensure_published
    from workers.celery import app
    from workers.detect import detect_segment
    from workers.recorder import SegmentWriter
    from workers.storage import segment_relpath

    storage = Path(sandbox.env["STORAGE_ROOT"])
    log = sandbox.dir / "receiver.jsonl"
    receiver = subprocess.Popen([sys.executable, str(ROOT / "tests" / "receiver.py"), "--log", str(log)],
                                stdout=subprocess.PIPE, text=True)
    assert receiver.stdout is not None
    port = int(receiver.stdout.readline().split()[1])
    try:
        # The footage, recorded once and detected once (a template camera without bindings).
        template = Camera.objects.create(name="template", stream_url="rtsp://10.0.0.1/t", detect_fps=5, enabled=False)
        epoch = Camera.bump_epoch(template.pk)
        parts = []
        with av.open(str(footage("onebyone"))) as container:
            writer = SegmentWriter(container.streams.video[0], storage, template.pk, 5)
            for packet in container.demux(container.streams.video[0]):
                done = writer.write(packet, datetime(2026, 1, 1, tzinfo=UTC))
                if done:
                    parts.append(Segment.record(camera_id=template.pk, epoch=epoch, start_time=done.start_time,
                                                end_time=done.end_time, path=done.relative_path, size_bytes=done.size_bytes))
                    if len(parts) == 12:
                        break
        detect_seconds = []
        for segment in parts:
            t = time.perf_counter()
            assert detect_segment(segment.pk) == "done"
            detect_seconds.append(time.perf_counter() - t)
        origin = parts[0].start_time

        with transaction.atomic():
            cameras = [Camera.objects.create(name=f"lat-{i}", stream_url=f"rtsp://10.0.0.1/{i}", detect_fps=5, enabled=False)
                       for i in range(args.cameras)]
            intrusion = Algorithm.objects.get(slug="intrusion")
            for camera in cameras:
                zone = camera.zones.create(name="floor", points=FLOOR)
                AlgorithmBinding.objects.create(zone=zone, algorithm=intrusion, params={"min_dwell": 1.0},
                                                cooldown_seconds=0, severity="high")
            WebhookEndpoint.objects.create(name="receiver", url=f"http://127.0.0.1:{port}/hook", secret="bench-secret-0123456789")
        ensure_published()
        epochs = {c.pk: Camera.bump_epoch(c.pk) for c in cameras}

        start(sandbox, "analysis", "worker", "-Q", "analysis", "-P", "threads", "-c", "4", "-n", f"analysis-{sandbox.prefix}@%h", "-l", "INFO")
        start(sandbox, "alarms", "worker", "-Q", "alarms", "-P", "threads", "-c", "8", "-n", f"alarms-{sandbox.prefix}@%h", "-l", "INFO")
        start(sandbox, "control", "worker", "-Q", "control", "-P", "solo", "-n", f"control-{sandbox.prefix}@%h")
        start(sandbox, "beat", "beat", "-s", str(sandbox.dir / "beat-schedule"))
        time.sleep(8)  # workers up

        t0 = datetime.now(UTC) + timedelta(seconds=1)
        ends: dict[int, datetime] = {}  # segment id -> end wall time
        phase = {c.pk: timedelta(seconds=0 if args.synchronized else 5.0 * i / len(cameras)) for i, c in enumerate(cameras)}
        feed = sorted(((t0 + phase[c.pk] + (p.end_time - origin), c.pk, p) for p in parts for c in cameras),
                      key=lambda item: item[0])
        for end, camera_id, part in feed:
            begin = end - (part.end_time - part.start_time)
            time.sleep(max(0.0, (end - datetime.now(UTC)).total_seconds()))
            relative = segment_relpath(camera_id, begin)
            target = storage / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(storage / part.path, target)
            shutil.copyfile(detections_path(storage / part.path), detections_path(target))
            row = Segment.record(camera_id=camera_id, epoch=epochs[camera_id], start_time=begin, end_time=end,
                                 path=relative, size_bytes=part.size_bytes)
            Segment.objects.filter(pk=row.pk).update(detect_state=DetectState.DONE)
            ends[row.pk] = end
            app.send_task("panoptes.analyze_segment", args=[row.pk], queue="analysis")
        fed = time.monotonic()
        expected = 3 * args.cameras
        while time.monotonic() - fed < 90:
            delivered = AlarmDelivery.objects.filter(state="delivered", event_type="alarm.created").count()
            if Alarm.objects.count() >= expected and delivered >= Alarm.objects.count():
                break
            time.sleep(0.5)

        received = {}
        for line in log.read_text().splitlines():
            entry = json.loads(line)
            body = json.loads(entry["body"])
            if body["type"] == "alarm.created":
                received.setdefault(body["data"]["id"], entry["t"])
        latencies, analysed, sent = [], [], []
        for alarm in Alarm.objects.all():
            if alarm.pk in received:
                end = ends[alarm.details["segment"]].timestamp()
                latencies.append(received[alarm.pk] - end)
                analysed.append(alarm.created_at.timestamp() - end)
                sent.append(received[alarm.pk] - alarm.created_at.timestamp())
        alarms = Alarm.objects.count()
        print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; {args.cameras} cameras, database "
              f"{args.database}, segment ends {'synchronized' if args.synchronized else 'spread over 5 s'}")
        print(f"alarms: {alarms} created (expected ~{expected}), {len(latencies)} received by the webhook, "
              f"{AlarmDelivery.objects.exclude(state='delivered').count()} deliveries not delivered")
        if latencies:
            print(f"phase-one latency, segment end -> receiver got alarm.created: p50 {statistics.median(latencies):.3f} s, "
                  f"p95 {percentile(latencies, 95):.3f} s, max {max(latencies):.3f} s (target p95 <= 2 s)")
            print(f"  of which segment end -> alarm row (analysis queue + analysis): p50 {statistics.median(analysed):.3f} s, "
                  f"p95 {percentile(analysed, 95):.3f} s; alarm row -> receiver (snapshot + delivery): "
                  f"p50 {statistics.median(sent):.3f} s, p95 {percentile(sent, 95):.3f} s")
        print(f"excluded: CPU detection (ONNX Runtime, batch {os.environ.get('PANOPTES_DETECT_BATCH', 8)}) per 5 s segment at 5 fps: "
              f"median {statistics.median(detect_seconds):.3f} s, max {max(detect_seconds):.3f} s")
        return 0 if latencies else 1
    finally:
        receiver.kill()


if __name__ == "__main__":
    raise SystemExit(main())
