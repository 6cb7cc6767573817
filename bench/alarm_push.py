"""Alarm push over WebSocket (issue 12): from the alarm row's commit to each connected client
receiving ``alarm.created`` on /ws/v1/events/, with 100 clients.

A throwaway Panoptes (bench/capture_harness.Sandbox, MariaDB by default), the web role under
daphne (``controlplane.asgi``) as its own process, and ``--clients`` socket clients (websockets,
one asyncio loop in this process, token auth). Every ``--interval`` seconds an alarm is created
by the analysis' own ``workers.analyze.create_alarm`` in a thread (as in a worker); the commit time
is taken by an on-commit callback registered before create_alarm's own (so it runs first, at the
commit). Latency = a client's receive time minus that commit time (one clock: this process).

    .venv/bin/python bench/alarm_push.py                      # 100 clients, 50 alarms (~30 s)
    .venv/bin/python bench/alarm_push.py --clients 10 --alarms 10   # smoke run
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from capture_harness import Sandbox, percentile  # noqa: E402

FLOOR = [[0.40, 0.70], [0.85, 0.70], [0.85, 1.0], [0.40, 1.0]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--alarms", type=int, default=50)
    parser.add_argument("--interval", type=float, default=0.2, help="seconds between alarms")
    parser.add_argument("--database", choices=["sqlite", "mariadb"], default="mariadb")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    with Sandbox(database=args.database, keep=args.keep) as sandbox:
        return run(sandbox, args)


def run(sandbox: Sandbox, args: argparse.Namespace) -> int:
    import websockets
    from django.contrib.auth.models import Group, User
    from django.db import connections, transaction
    from rest_framework.authtoken.models import Token

    from analytics.rules.base import Event
    from controlplane.algorithms.models import Algorithm, AlgorithmBinding
    from controlplane.cameras.models import Camera, Segment
    from controlplane.core.roles import sync_role_groups
    from controlplane.zones.models import Zone
    from workers.analyze import create_alarm

    sync_role_groups()
    user = User.objects.create_user("bench", password="bench-Password-1")
    user.groups.add(Group.objects.get(name="viewer"))
    token = Token.objects.create(user=user).key
    camera = Camera.objects.create(name="bench", stream_url="rtsp://10.0.0.1/s")
    zone = Zone.objects.create(camera=camera, name="floor", points=FLOOR)
    binding = AlgorithmBinding.objects.create(zone=zone, algorithm=Algorithm.objects.get(slug="intrusion"))
    segment = Segment(camera_id=camera.pk, seq=0)

    port = free_port()
    log = (sandbox.dir / "daphne.log").open("wb")
    web = subprocess.Popen([sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
                            "controlplane.asgi:application"], cwd=ROOT, env=sandbox.env, stdout=log, stderr=subprocess.STDOUT)
    committed: dict[int, float] = {}
    received: dict[int, list[float]] = {}

    def create(i: int) -> None:
        event = Event(binding_id=binding.pk, track_id=i, episode=1, started=1_800_000_000 + i, time=1_800_000_001 + i,
                      object_class=0, score=0.9, box=(1.0, 2.0, 3.0, 4.0))
        stamp: dict[str, float] = {}
        try:
            with transaction.atomic():
                transaction.on_commit(lambda: stamp.setdefault("t", time.time()))
                assert create_alarm(segment, camera.name, event, ["person"], {"frame_size": [768, 432]})
            alarm_id = camera.alarms.get(dedup_key=event.dedup_key).pk
            committed[alarm_id] = stamp["t"]
        finally:
            connections.close_all()

    async def client(ws: Any) -> None:
        async for raw in ws:
            message = json.loads(raw)
            if message["type"] == "alarm.created":
                received.setdefault(message["data"]["id"], []).append(time.time())

    async def scenario() -> None:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                await asyncio.sleep(0.1)
        sockets = [await websockets.connect(f"ws://127.0.0.1:{port}/ws/v1/events/",
                                            additional_headers={"Authorization": f"Token {token}"})
                   for _ in range(args.clients)]
        for ws in sockets:
            while json.loads(await ws.recv())["type"] != "hello":
                pass
        readers = [asyncio.create_task(client(ws)) for ws in sockets]
        for i in range(args.alarms):
            await asyncio.to_thread(create, i)
            await asyncio.sleep(args.interval)
        await asyncio.sleep(2)
        for task in readers:
            task.cancel()
        for ws in sockets:
            await ws.close()

    try:
        asyncio.run(scenario())
    finally:
        web.terminate()
        web.wait(timeout=10)
    latencies = [(t - committed[a]) * 1000 for a, times in received.items() if a in committed for t in times]
    expected = args.clients * len(committed)
    print(f"{args.clients} clients, {len(committed)} alarms ({args.database}), load {os.getloadavg()[0]:.2f}: "
          f"{len(latencies)}/{expected} deliveries; commit -> client ms p50 {percentile(latencies, 50):.1f}, "
          f"p95 {percentile(latencies, 95):.1f}, max {max(latencies, default=float('nan')):.1f} (goal p95 <= 1000)")
    return 0 if len(latencies) == expected else 1


if __name__ == "__main__":
    sys.exit(main())
