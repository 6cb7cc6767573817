"""Alarm delivery under faults, with real worker processes (alarms + control queues, beat) on Redis and
RabbitMQ, a real HTTP receiver process and MariaDB.

The receiver records each request before it answers, so "it got the request, then the worker died"
is observable; the worker is killed with SIGKILL at that moment.
"""
from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from capture_helpers import wait_for, worker_env
from test_alarm_delivery import endpoint, make_alarm
from test_capture_faults import BROKERS, Fleet, _purge

pytestmark = pytest.mark.slow

CLAIM_SECONDS = 3


@pytest.fixture(params=sorted(BROKERS))
def workers(request: Any, live_db: Any, settings: Any, tmp_path: Path) -> Iterator[Fleet]:
    from django.db import connection

    if connection.vendor != "mysql":
        pytest.skip("worker processes need a database server they can share with the test (MariaDB)")
    broker = BROKERS[request.param]
    _purge(broker)
    _purge_queues(broker, ("alarms",))
    settings.STORAGE_ROOT = tmp_path / "storage"
    fleet = Fleet(tmp_path, worker_env(
        settings, tmp_path, broker, PANOPTES_WEBHOOK_ALLOWED_NETWORKS="127.0.0.0/8",
        PANOPTES_DELIVERY_CLAIM_SECONDS=str(CLAIM_SECONDS), PANOPTES_DELIVERY_READ_TIMEOUT="2",
        PANOPTES_DELIVERY_BACKOFF_BASE="1",
    ))
    try:
        yield fleet
    finally:
        fleet.stop()


def _purge_queues(broker: str, queues: tuple[str, ...]) -> None:
    from kombu import Connection

    with Connection(broker) as conn:
        for queue in queues:
            try:
                conn.channel().queue_purge(queue)
            except Exception:  # the queue does not exist yet
                pass


def _start_alarm_worker(fleet: Fleet, name: str) -> None:
    fleet.start(name, "worker", "-Q", "alarms", "-P", "threads", "-c", "4", "-n", f"{name}@%h", "-l", "INFO")


def _start_beat(fleet: Fleet) -> None:
    fleet.start("control", "worker", "-Q", "control", "-P", "solo", "-n", "control@%h", "-l", "INFO")
    fleet.start("beat", "beat", "-l", "INFO", "-s", str(fleet.tmp / "beat-schedule"))


def _camera() -> Any:
    from controlplane.cameras.models import Camera

    return Camera.objects.create(name="dock", stream_url="rtsp://10.0.0.1/s")


def test_a_worker_killed_after_the_receiver_got_the_request_redelivers_under_the_same_key(
    workers: Fleet, webhook_receiver: Any
) -> None:
    from controlplane.alarms.models import AlarmDelivery

    receiver = webhook_receiver({"/hook": "accept-hang:60,200"})
    endpoint(receiver.url("/hook"))
    _start_alarm_worker(workers, "alarms-a")
    _start_beat(workers)
    alarm = make_alarm(_camera())
    # (no message from this process: the beat finds the due rows, as after a lost message)
    receiver.wait_for(1, "/hook", timeout=30)
    os.kill(workers.procs["alarms-a"].pid, signal.SIGKILL)  # the receiver has it; the worker never records it
    workers.procs["alarms-a"].wait(10)
    row = AlarmDelivery.objects.get(alarm=alarm)
    assert row.state == "pending" and row.attempts == 1

    _start_alarm_worker(workers, "alarms-b")
    requests = receiver.wait_for(2, "/hook", timeout=CLAIM_SECONDS + 30)
    wait_for(lambda: AlarmDelivery.objects.get(pk=row.pk).state == "delivered", timeout=15)
    row.refresh_from_db()
    assert row.attempts == 2 and row.last_status_code == 200
    assert {r["headers"]["Idempotency-Key"] for r in requests} == {row.message_id}  # the receiver can deduplicate
    assert requests[1]["t"] - requests[0]["t"] >= CLAIM_SECONDS - 0.5  # not before the dead worker's claim expired
    assert len(receiver.requests("/hook")) == 2


def test_a_hanging_receiver_does_not_hold_up_the_others_and_a_failing_one_gets_exactly_one_success(
    workers: Fleet, webhook_receiver: Any
) -> None:
    from controlplane.alarms.models import AlarmDelivery

    receiver = webhook_receiver({"/slow": "hang:30", "/flaky": "500,503,500,200", "/fast": "200"})
    for path in ("/slow", "/flaky", "/fast"):
        endpoint(receiver.url(path), name=path.strip("/"))
    _start_alarm_worker(workers, "alarms-a")
    _start_beat(workers)
    alarm = make_alarm(_camera())

    fast = receiver.wait_for(1, "/fast", timeout=30)
    slow = receiver.wait_for(1, "/slow", timeout=30)
    assert fast[0]["t"] < slow[0]["t"] + 2  # not queued behind the hanging one's 2 s read timeout
    wait_for(lambda: "timeout" in AlarmDelivery.objects.get(alarm=alarm, endpoint__name="slow").last_response, timeout=20)

    flaky = AlarmDelivery.objects.get(alarm=alarm, endpoint__name="flaky")
    wait_for(lambda: AlarmDelivery.objects.get(pk=flaky.pk).state == "delivered", timeout=60)  # retried by the beat
    flaky.refresh_from_db()
    requests = receiver.requests("/flaky")
    assert flaky.attempts == 4 and len(requests) == 4
    assert {r["headers"]["webhook-id"] for r in requests} == {flaky.message_id}
    assert AlarmDelivery.objects.get(alarm=alarm, endpoint__name="fast").attempts == 1
