"""Alarm delivery through the outbox, in-process, to a real HTTP receiver process and real Mosquitto.

Each attempt is one call of ``workers.delivery.deliver`` (what the `alarms` queue's task runs);
"time passing" between retries is the row's ``next_attempt_at`` set to now. Worker processes,
kill -9 and hanging receivers are in tests/test_delivery_faults.py.
"""
from __future__ import annotations

import base64
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from standardwebhooks.webhooks import Webhook

SECRET = "whsec_" + base64.b64encode(b"panoptes-test-secret-0123456789").decode()


def make_alarm(camera: Any, **fields: Any) -> Any:
    """An alarm as the analysis creates it: with its outbox rows, in one transaction."""
    from django.db import transaction

    from controlplane.alarms.choices import AlarmEventType
    from controlplane.alarms.models import Alarm
    from workers.delivery import create_deliveries

    values = {"algorithm": "intrusion", "zone_name": "yard", "dedup_key": uuid.uuid4().hex, "severity": "high",
              "event_time": datetime(2026, 11, 23, 12, 0, 8, tzinfo=UTC), "object_class": "person", "score": 0.9,
              "details": {"box": [10.0, 20.0, 110.0, 220.0], "track_id": 4}, **fields}
    with transaction.atomic():
        alarm = Alarm.objects.create(camera=camera, **values)
        create_deliveries(alarm, AlarmEventType.CREATED)
    return alarm


def endpoint(url: str, **fields: Any) -> Any:
    from controlplane.alarms.models import WebhookEndpoint

    return WebhookEndpoint.objects.create(name=fields.pop("name", uuid.uuid4().hex[:12]), url=url, secret=SECRET, **fields)


def attempt(row: Any) -> str:
    """One attempt of the row, as if its backoff had elapsed."""
    from controlplane.alarms.models import AlarmDelivery
    from workers.delivery import deliver

    AlarmDelivery.objects.filter(pk=row.pk).update(next_attempt_at=datetime.now(UTC))
    return deliver(row.pk)


@pytest.fixture
def camera(live_db: Any) -> Any:
    from controlplane.cameras.models import Camera

    return Camera.objects.create(name=f"gate-{uuid.uuid4().hex[:6]}", stream_url="rtsp://10.0.0.1/s")


def test_a_receiver_failing_then_recovering_gets_one_delivery_under_one_key(camera: Any, webhook_receiver: Any) -> None:
    from controlplane.alarms.models import AlarmDelivery
    from controlplane.alarms.payloads import AlarmEvent
    from workers.delivery import deliver

    receiver = webhook_receiver({"/hook": "500,503,200"})
    endpoint(receiver.url("/hook"))
    alarm = make_alarm(camera)
    row = AlarmDelivery.objects.get(alarm=alarm)

    before = datetime.now(UTC)
    assert deliver(row.pk).startswith("retry in")
    row.refresh_from_db()
    assert (row.state, row.attempts, row.last_status_code) == ("pending", 1, 500)
    assert timedelta(seconds=0.9) <= row.next_attempt_at - before <= timedelta(seconds=2.5)  # base 2 s, jittered
    assert deliver(row.pk) == "not due"  # the backoff holds the row
    assert attempt(row).startswith("retry in")
    assert attempt(row) == "delivered"
    assert attempt(row) == "not due"  # never twice
    row.refresh_from_db()
    assert (row.state, row.attempts, row.last_status_code) == ("delivered", 3, 200)

    requests = receiver.requests("/hook")
    assert len(requests) == 3
    keys = {(r["headers"]["Idempotency-Key"], r["headers"]["webhook-id"]) for r in requests}
    assert keys == {(row.message_id, row.message_id)}  # the same key on every attempt
    for request in requests:  # every attempt is signed (Standard Webhooks), verifiable by the receiver
        payload = Webhook(SECRET).verify(request["body"], request["headers"])
        event = AlarmEvent.model_validate(payload)
        assert (event.type, event.data.id, event.data.camera.name) == ("alarm.created", alarm.pk, camera.name)
        assert event.data.box == [10.0, 20.0, 110.0, 220.0] and event.data.replay_url is None
    with pytest.raises(Exception, match="signature"):
        Webhook("whsec_" + base64.b64encode(b"another-secret-0123456789").decode()).verify(
            requests[0]["body"], requests[0]["headers"])


def test_a_4xx_is_dead_lettered_at_once_and_an_operator_can_retry_it(camera: Any, webhook_receiver: Any, api: Any) -> None:
    from controlplane.alarms.models import AlarmDelivery

    receiver = webhook_receiver({"/hook": "400,200"})
    endpoint(receiver.url("/hook"))
    row = AlarmDelivery.objects.get(alarm=make_alarm(camera))
    assert attempt(row) == "dead"
    assert attempt(row) == "not due"  # no retries after a 400
    row.refresh_from_db()
    assert (row.state, row.attempts, row.last_status_code) == ("dead", 1, 400)
    assert row.last_response.startswith("HTTP 400") and '"action": "400"' in row.last_response

    listed = api("operator").get("/api/v1/deliveries/", {"state": "dead"}).json()["results"]
    assert [d["id"] for d in listed] == [row.pk]
    assert api("viewer").post(f"/api/v1/deliveries/{row.pk}/retry/").status_code == 403
    response = api("operator").post(f"/api/v1/deliveries/{row.pk}/retry/")
    assert response.status_code == 200 and response.json()["state"] == "pending"
    assert api("operator").post(f"/api/v1/deliveries/{row.pk}/retry/").status_code == 409  # not dead any more
    assert attempt(row) == "delivered"
    assert len(receiver.requests("/hook")) == 2


def test_after_max_attempts_a_row_is_dead_lettered(camera: Any, webhook_receiver: Any, settings: Any) -> None:
    from controlplane.alarms.models import AlarmDelivery

    settings.DELIVERY_MAX_ATTEMPTS = 3
    receiver = webhook_receiver({"/hook": "502"})
    endpoint(receiver.url("/hook"))
    row = AlarmDelivery.objects.get(alarm=make_alarm(camera))
    assert [attempt(row)[:5] for _ in range(4)] == ["retry", "retry", "dead", "not d"]
    assert len(receiver.requests("/hook")) == 3


def test_a_hanging_receiver_times_out_and_is_retried(camera: Any, webhook_receiver: Any, settings: Any) -> None:
    from controlplane.alarms.models import AlarmDelivery

    settings.DELIVERY_READ_TIMEOUT = 1
    receiver = webhook_receiver({"/hook": "hang:30,200"})
    endpoint(receiver.url("/hook"))
    row = AlarmDelivery.objects.get(alarm=make_alarm(camera))
    started = time.monotonic()
    assert attempt(row).startswith("retry in")
    assert time.monotonic() - started < 10
    row.refresh_from_db()
    assert row.state == "pending" and row.last_response.startswith("timeout")
    assert attempt(row) == "delivered"


def test_429_waits_at_least_retry_after(camera: Any, webhook_receiver: Any) -> None:
    from controlplane.alarms.models import AlarmDelivery
    from workers.delivery import parse_retry_after

    assert parse_retry_after("7") == 7.0 and parse_retry_after("soon") is None
    receiver = webhook_receiver({"/hook": "429"})
    endpoint(receiver.url("/hook"))
    row = AlarmDelivery.objects.get(alarm=make_alarm(camera))
    before = datetime.now(UTC)
    assert attempt(row).startswith("retry in")
    row.refresh_from_db()
    assert row.last_status_code == 429 and row.next_attempt_at >= before  # (this receiver sends no Retry-After)


def test_endpoint_filters_decide_who_gets_what(camera: Any, webhook_receiver: Any) -> None:
    from controlplane.alarms.models import AlarmDelivery
    from controlplane.cameras.models import Camera

    receiver = webhook_receiver()
    other = Camera.objects.create(name=f"other-{uuid.uuid4().hex[:6]}", stream_url="rtsp://10.0.0.2/s")
    everything = endpoint(receiver.url("/all"))
    this_camera = endpoint(receiver.url("/cam"))
    this_camera.cameras.set([camera])
    loitering_only = endpoint(receiver.url("/loiter"), algorithms=["loitering"])
    critical_only = endpoint(receiver.url("/critical"), min_severity="critical")
    endpoint(receiver.url("/off"), enabled=False)

    def targets(alarm: Any) -> set[int]:
        return set(AlarmDelivery.objects.filter(alarm=alarm).values_list("endpoint_id", flat=True))

    assert targets(make_alarm(camera)) == {everything.pk, this_camera.pk}
    assert targets(make_alarm(other)) == {everything.pk}
    assert targets(make_alarm(other, algorithm="loitering")) == {everything.pk, loitering_only.pk}
    assert targets(make_alarm(other, severity="critical")) == {everything.pk, critical_only.pk}


def test_an_address_refused_at_send_time_is_dead_lettered_and_redirects_are_not_followed(
    camera: Any, webhook_receiver: Any, settings: Any
) -> None:
    from controlplane.alarms.models import AlarmDelivery

    receiver = webhook_receiver({"/moved": "302"})
    endpoint(receiver.url("/hook"), name="refused")
    endpoint(receiver.url("/moved"), name="moved")
    alarm = make_alarm(camera)
    settings.WEBHOOK_ALLOWED_NETWORKS = []  # loopback no longer admitted (as if DNS now answered 127.0.0.1)
    refused = AlarmDelivery.objects.get(alarm=alarm, endpoint__name="refused")
    assert attempt(refused) == "dead"
    refused.refresh_from_db()
    assert "private or reserved" in refused.last_response and not receiver.requests("/hook")
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    moved = AlarmDelivery.objects.get(alarm=alarm, endpoint__name="moved")
    assert attempt(moved) == "dead"
    moved.refresh_from_db()
    assert moved.last_status_code == 302 and "redirects are not followed" in moved.last_response


def test_mqtt_gets_alarm_events_at_qos_1_and_retained_camera_status(camera: Any, settings: Any) -> None:
    from controlplane.alarms.models import AlarmDelivery
    from controlplane.core.redis import client
    from workers.delivery import publish_camera_statuses
    from workers.status import write_status

    settings.MQTT_URL = "mqtt://127.0.0.1:1883"
    settings.MQTT_TOPIC_PREFIX = prefix = f"panoptes-test-{uuid.uuid4().hex[:8]}"
    received: list[mqtt.MQTTMessage] = []
    subscriber = mqtt.Client(CallbackAPIVersion.VERSION2)
    subscriber.on_message = lambda _c, _u, message: received.append(message)
    subscriber.connect("127.0.0.1", 1883)
    subscriber.subscribe(f"{prefix}/#", qos=1)
    subscriber.loop_start()
    try:
        time.sleep(0.3)
        alarm = make_alarm(camera)
        row = AlarmDelivery.objects.get(alarm=alarm, channel="mqtt")
        assert (row.target, row.endpoint_id) == ("mqtt", None)
        assert attempt(row) == "delivered"
        deadline = time.monotonic() + 5
        while not received and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [m.topic for m in received] == [f"{prefix}/{camera.pk}/alarms"]
        assert received[0].qos == 1
        body = json.loads(received[0].payload)
        assert (body["type"], body["data"]["id"]) == ("alarm.created", alarm.pk)
    finally:
        subscriber.loop_stop()
        subscriber.disconnect()

    write_status(client(), camera.pk, {"state": "streaming", "last_error": ""})
    assert publish_camera_statuses() >= 1
    assert publish_camera_statuses() == 0  # unchanged: not published again
    late: list[mqtt.MQTTMessage] = []  # a subscriber arriving later still gets the retained status
    subscriber = mqtt.Client(CallbackAPIVersion.VERSION2)
    subscriber.on_message = lambda _c, _u, message: late.append(message)
    subscriber.connect("127.0.0.1", 1883)
    subscriber.subscribe(f"{prefix}/{camera.pk}/status", qos=1)
    subscriber.loop_start()
    try:
        deadline = time.monotonic() + 5
        while not late and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        subscriber.loop_stop()
        subscriber.disconnect()
    assert late and late[0].retain and json.loads(late[0].payload)["state"] == "streaming"
    mqtt_clear = mqtt.Client(CallbackAPIVersion.VERSION2)  # leave no retained message behind
    mqtt_clear.connect("127.0.0.1", 1883)
    mqtt_clear.publish(f"{prefix}/{camera.pk}/status", b"", qos=1, retain=True).wait_for_publish(5)
    mqtt_clear.disconnect()


def test_operators_acknowledge_and_close_with_a_note_and_every_change_is_recorded(camera: Any, api: Any) -> None:
    alarm = make_alarm(camera)
    operator = api("operator")
    assert api("viewer").post(f"/api/v1/alarms/{alarm.pk}/close/", {"note": "x"}).status_code == 403
    too_long = operator.post(f"/api/v1/alarms/{alarm.pk}/close/", {"note": "x" * 3000}, format="json")
    assert too_long.status_code == 400 and "note" in too_long.json()
    assert operator.post(f"/api/v1/alarms/{alarm.pk}/acknowledge/").status_code == 200
    response = operator.post(f"/api/v1/alarms/{alarm.pk}/close/", {"note": "a cleaner, expected"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["close_note"], body["closed_by"]) == ("closed", "a cleaner, expected", operator.user.username)
    assert operator.post(f"/api/v1/alarms/{alarm.pk}/close/").status_code == 409
    history = api("viewer").get(f"/api/v1/alarms/{alarm.pk}/").json()["history"]
    assert [(h["action"], h["from_status"], h["to_status"], h["user"]) for h in history] == [
        ("acknowledged", "new", "acknowledged", operator.user.username),
        ("closed", "acknowledged", "closed", operator.user.username),
    ]
    assert history[1]["note"] == "a cleaner, expected"


def test_media_links_are_signed_and_expire_and_the_api_needs_authentication(
    camera: Any, api: Any, settings: Any, tmp_path: Any, monkeypatch: Any
) -> None:
    from django.core import signing
    from django.test import Client

    from controlplane.alarms import media
    from controlplane.alarms.models import Alarm

    settings.STORAGE_ROOT = tmp_path
    alarm = make_alarm(camera)
    relative = media.snapshot_relpath(alarm.pk)
    media.absolute(relative).parent.mkdir(parents=True)
    media.absolute(relative).write_bytes(b"\xff\xd8jpeg-bytes\xff\xd9")
    Alarm.objects.filter(pk=alarm.pk).update(snapshot_path=relative)

    url = media.signed_url(alarm.pk, "snapshot")
    assert url.startswith(settings.PUBLIC_URL + "/media/alarms/")
    path = url[len(settings.PUBLIC_URL):]
    anonymous = Client()
    response = anonymous.get(path)
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert b"".join(response.streaming_content) == b"\xff\xd8jpeg-bytes\xff\xd9"  # type: ignore[attr-defined]
    assert anonymous.get(path[:-3] + ("abc" if not path.endswith("abc") else "xyz")).status_code == 404  # tampered
    token = signing.TimestampSigner(salt=media.SALT).sign_object({"a": alarm.pk, "k": "replay"})
    assert anonymous.get(f"/media/alarms/{token}").status_code == 404  # no replay yet
    real_time = time.time
    monkeypatch.setattr(signing.time, "time", lambda: real_time() + settings.MEDIA_URL_TTL + 5)
    assert anonymous.get(path).status_code == 404  # expired
    monkeypatch.setattr(signing.time, "time", real_time)

    assert anonymous.get(f"/api/v1/alarms/{alarm.pk}/snapshot/").status_code in (401, 403)
    assert api("viewer").get(f"/api/v1/alarms/{alarm.pk}/snapshot/").status_code == 200
    assert api("viewer").get(f"/api/v1/alarms/{alarm.pk}/replay/").status_code == 404
    assert media.unsign(media.sign(alarm.pk, "replay"))[1] == "replay"


def test_the_published_json_schema_is_current() -> None:
    from pathlib import Path

    from controlplane.alarms.payloads import json_schema

    published = json.loads((Path(__file__).resolve().parents[1] / "docs" / "alarm-event.schema.json").read_text())
    assert published == json_schema(), "regenerate docs/alarm-event.schema.json (see docs/webhooks.md)"
