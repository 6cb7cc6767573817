"""Panel page server time with 1,000 cameras and 100,000 alarms (issue 12): the camera wall, the
alarm list (unfiltered, and filtered by camera, by severity + state, by a time range) and an alarm
detail, p50/p95 over ``--requests`` requests each, and the queries per page.

A throwaway Panoptes (bench/capture_harness.Sandbox, MariaDB by default); rows made with
bulk_create; pages requested in this process through Django's test client as a logged-in operator
(so the time is the server's: view, queries, template; no network, no browser).

    .venv/bin/python bench/panel_pages.py                  # 1,000 cameras, 100,000 alarms (~2 min)
    .venv/bin/python bench/panel_pages.py --alarms 10000 --requests 10   # smoke run
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from capture_harness import Sandbox, percentile  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cameras", type=int, default=1000)
    parser.add_argument("--alarms", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--database", choices=["sqlite", "mariadb"], default="mariadb")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--slow-queries", action="store_true", help="print each page's three slowest queries")
    args = parser.parse_args()
    with Sandbox(database=args.database, keep=args.keep) as sandbox:
        return run(sandbox, args)


def run(sandbox: Sandbox, args: argparse.Namespace) -> int:
    from django.contrib.auth.models import Group, User
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from controlplane.alarms.models import Alarm, AlarmHistory
    from controlplane.cameras.models import Camera, Site
    from controlplane.core.roles import sync_role_groups

    rng = random.Random(7)
    sync_role_groups()
    user = User.objects.create_user("bench", password="bench-Password-1")
    user.groups.add(Group.objects.get(name="operator"))
    sites = Site.objects.bulk_create([Site(name=f"site-{i}") for i in range(10)])
    cameras = Camera.objects.bulk_create([
        Camera(name=f"cam-{i:04d}", stream_url=f"rtsp://10.0.{i // 250}.{i % 250 + 1}/s", site=sites[i % 10],
               tags=["gate"] if i % 10 == 0 else [])
        for i in range(args.cameras)
    ])
    now = datetime.now(UTC)
    started = time.monotonic()
    batch = []
    for i in range(args.alarms):
        batch.append(Alarm(
            camera=cameras[rng.randrange(len(cameras))], algorithm=rng.choice(["intrusion", "loitering", "crowding"]),
            severity=rng.choice(["info", "low", "medium", "high", "critical"]),
            status=rng.choices(["new", "acknowledged", "closed"], [1, 1, 8])[0], dedup_key=f"b{i}",
            event_time=now - timedelta(seconds=rng.uniform(0, 30 * 86400)), zone_name="floor",
            details={"frame_size": [768, 432], "box": [300.0, 250.0, 420.0, 430.0]},
        ))
        if len(batch) == 5000:
            Alarm.objects.bulk_create(batch)
            batch = []
    Alarm.objects.bulk_create(batch)
    detail = Alarm.objects.order_by("-event_time").first()
    assert detail is not None
    AlarmHistory.objects.create(alarm=detail, action="created", to_status="new")
    print(f"{args.cameras} cameras, {Alarm.objects.count()} alarms ({args.database}) made in {time.monotonic() - started:.0f} s")

    client = Client()
    client.force_login(user)
    camera = cameras[len(cameras) // 2]
    since = (now - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    pages = {
        "wall": "/panel/",
        "wall, page 10": "/panel/?page=10",
        "wall, tag": "/panel/?tag=gate",
        "alarms": "/panel/alarms/",
        "alarms, page 100": "/panel/alarms/?page=100",
        "alarms, camera": f"/panel/alarms/?camera={camera.pk}",
        "alarms, severity+state": "/panel/alarms/?severity=critical&status=new",
        "alarms, site+2 days": f"/panel/alarms/?site={sites[3].pk}&since={since}",
        "alarm detail": f"/panel/alarms/{detail.pk}/",
    }
    worst = 0.0
    for name, url in pages.items():
        assert client.get(url).status_code == 200, url  # warm
        times = []
        for _ in range(args.requests):
            started = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
        with CaptureQueriesContext(connection) as queries:
            client.get(url)
        worst = max(worst, percentile(times, 95))
        print(f"  {name:24s} p50 {percentile(times, 50):6.1f} ms  p95 {percentile(times, 95):6.1f} ms  {len(queries):2d} queries")
        if args.slow_queries:
            for q in sorted(queries.captured_queries, key=lambda q: -float(q["time"]))[:3]:
                print(f"      {float(q['time']) * 1000:7.1f} ms  {q['sql'][:200]}")
    print(f"worst p95 {worst:.1f} ms (goal <= 200 ms each)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
