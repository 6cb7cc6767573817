"""Alarm delivery through the outbox (DESIGN §6): signed webhooks and MQTT, nothing lost, nothing twice.

- ``create_deliveries`` adds one ``AlarmDelivery`` row per (alarm, target, event) in the caller's
  transaction, so an alarm and its outbox rows commit together.
- ``deliver`` claims a due row with a conditional update (``next_attempt_at`` moved past the request
  timeouts, ``attempts`` + 1), sends it, and settles it: delivered on 2xx (MQTT: PUBACK), retried
  with capped exponential backoff and jitter on 5xx/408/429/timeouts/connection errors/DNS failures,
  dead at once on other statuses and on refused addresses, dead after ``PANOPTES_DELIVERY_MAX_ATTEMPTS``.
  A webhook's host is resolved and checked at every attempt, and the request goes to exactly the
  addresses checked (``post_pinned``): a DNS answer that changes in between cannot reach loopback. A worker killed mid-request
  leaves its claim to expire; the row goes out again with the same ``webhook-id`` and
  ``Idempotency-Key``, so receivers can deduplicate (at-least-once, never silently dropped).
- ``dispatch_due`` (beat, `control` queue) re-sends what is due and lost messages would strand:
  retries, expired claims, alarms without a snapshot, replays whose post-roll is recorded.
"""
from __future__ import annotations

import json
import logging
import random
import ssl
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import Any
from urllib.parse import unquote, urlsplit

import certifi
import paho.mqtt.client as mqtt
import urllib3
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from paho.mqtt.enums import CallbackAPIVersion
from standardwebhooks.webhooks import Webhook

from analytics.config import mask_text
from controlplane.alarms.choices import AlarmEventType, DeliveryChannel, DeliveryState, ReplayStatus
from controlplane.alarms.models import Alarm, AlarmDelivery, WebhookEndpoint
from controlplane.alarms.payloads import alarm_event
from controlplane.core.validators import UnresolvedHost, WebhookTarget, webhook_signing_key, webhook_target
from workers.dispatch import send, send_delivery

logger = logging.getLogger(__name__)

RESPONSE_EXCERPT = 500  # characters of a response body kept on the row
RESPONSE_READ_MAX = 64 * 1024  # bytes read from a response at most (a receiver cannot flood us)
RETRY_STATUSES = {408, 425, 429, 500, 502, 503, 504}  # and any other 5xx
USER_AGENT = "Panoptes-Webhooks/1"


# --- the outbox ----------------------------------------------------------------------------------
def create_deliveries(alarm: Alarm, event_type: str) -> list[int]:
    """Outbox rows for every target that wants this event of the alarm (idempotent). Call in a transaction."""
    targets: list[tuple[str, WebhookEndpoint | None, str]] = [
        (DeliveryChannel.WEBHOOK, endpoint, f"webhook:{endpoint.pk}")
        for endpoint in WebhookEndpoint.objects.filter(enabled=True).prefetch_related("cameras")
        if endpoint.wants(alarm)
    ]
    if settings.MQTT_URL:
        targets.append((DeliveryChannel.MQTT, None, "mqtt"))
    ids = []
    for channel, endpoint, target in targets:
        row, _ = AlarmDelivery.objects.get_or_create(
            alarm=alarm, target=target, event_type=event_type, defaults={"channel": channel, "endpoint": endpoint}
        )
        ids.append(row.pk)
    return ids


def send_after_commit(delivery_ids: list[int]) -> None:
    """First attempts go out as soon as the transaction that created the rows commits."""
    for delivery_id in delivery_ids:
        transaction.on_commit(lambda d=delivery_id: send_delivery(d))  # type: ignore[misc]


# --- one attempt -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Outcome:
    delivered: bool
    retry: bool  # not delivered, worth another attempt
    status_code: int | None
    detail: str
    retry_after: float | None = None


def deliver(delivery_id: int) -> str:
    now = timezone.now()
    claimed = AlarmDelivery.objects.filter(pk=delivery_id, state=DeliveryState.PENDING, next_attempt_at__lte=now).update(
        next_attempt_at=now + timedelta(seconds=settings.DELIVERY_CLAIM_SECONDS), attempts=F("attempts") + 1
    )
    if not claimed:
        return "not due"  # delivered, dead, already claimed by another worker, or waiting for its retry
    row = AlarmDelivery.objects.select_related("alarm__camera", "endpoint").get(pk=delivery_id)
    alarm = row.alarm
    if row.event_type == AlarmEventType.CREATED and not alarm.snapshot_path:
        from workers.replay import ensure_snapshot

        ensure_snapshot(alarm)
    body = alarm_event(alarm, row.event_type, row.created_at).model_dump_json()
    try:
        if row.channel == DeliveryChannel.MQTT:
            outcome = publish_mqtt(f"{settings.MQTT_TOPIC_PREFIX}/{alarm.camera_id}/alarms", body, retain=False)
        else:
            assert row.endpoint is not None
            outcome = post_webhook(row.endpoint, row.message_id, body)
    except Exception as exc:  # a bug or an odd library error must not strand the row claimed
        logger.exception("delivery %s: attempt failed", row.pk)
        outcome = Outcome(False, True, None, f"internal error: {type(exc).__name__}")
    return settle(row, outcome)


def settle(row: AlarmDelivery, outcome: Outcome) -> str:
    now = timezone.now()
    fields: dict[str, Any] = {"last_status_code": outcome.status_code, "last_response": outcome.detail[:RESPONSE_EXCERPT]}
    if outcome.delivered:
        fields.update(state=DeliveryState.DELIVERED, delivered_at=now)
        result = "delivered"
    elif outcome.retry and row.attempts < settings.DELIVERY_MAX_ATTEMPTS:
        delay = backoff(row.attempts, outcome.retry_after)
        fields.update(next_attempt_at=now + timedelta(seconds=delay))
        result = f"retry in {delay:.1f} s"
    else:
        fields.update(state=DeliveryState.DEAD)
        result = "dead"
    # Only the claim this worker holds is settled (a row retried from the admin meanwhile is left alone).
    AlarmDelivery.objects.filter(pk=row.pk, state=DeliveryState.PENDING, attempts=row.attempts).update(**fields)
    log = logger.info if outcome.delivered else logger.warning
    log("delivery %s (%s of alarm %s to %s), attempt %s: %s -> %s", row.pk, row.event_type, row.alarm_id, row.target,
        row.attempts, outcome.status_code or outcome.detail[:80], result)
    return result


def backoff(attempts: int, retry_after: float | None = None) -> float:
    """Capped exponential backoff with full jitter in [50 %, 100 %]; a receiver's Retry-After wins if longer."""
    cap = float(settings.DELIVERY_BACKOFF_MAX)
    delay = min(cap, settings.DELIVERY_BACKOFF_BASE * 2.0 ** (attempts - 1)) * random.uniform(0.5, 1.0)
    return min(cap, max(delay, retry_after or 0.0))


# --- webhooks ------------------------------------------------------------------------------------
def signer(secret: str) -> Webhook:
    """A ``whsec_<base64>`` secret is a Standard Webhooks key; any other string is used as its UTF-8 bytes.
    Raises ValidationError for a secret that cannot sign (stored before WebhookEndpoint.clean checked it)."""
    return Webhook(webhook_signing_key(secret))


def signed_headers(secret: str, message_id: str, body: str, at: datetime | None = None) -> dict[str, str]:
    at = at or timezone.now()
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Idempotency-Key": message_id,
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signer(secret).sign(message_id, at, body),
    }


@lru_cache(maxsize=1)
def tls_context() -> ssl.SSLContext:
    """The public CAs (certifi's, as requests used), loaded once: not per connection."""
    return ssl.create_default_context(cafile=certifi.where())


def post_pinned(target: WebhookTarget, body: bytes, headers: dict[str, str]) -> urllib3.BaseHTTPResponse:
    """POST to the addresses that were checked, never resolving the name again (DNS rebinding).

    The addresses are tried in turn while connecting fails, as a resolving client would. Host
    header, TLS SNI and the certificate's name check use the URL's host name. One connection per
    attempt (closed by the caller); environment proxies are never used. Raises urllib3's errors.
    """
    timeout = urllib3.Timeout(connect=settings.DELIVERY_CONNECT_TIMEOUT, read=settings.DELIVERY_READ_TIMEOUT)
    pool: urllib3.HTTPConnectionPool
    for i, address in enumerate(target.addresses):
        if target.scheme == "https":
            pool = urllib3.HTTPSConnectionPool(str(address), target.port, maxsize=1, ssl_context=tls_context(),
                                               server_hostname=target.hostname.rstrip("."))
        else:
            pool = urllib3.HTTPConnectionPool(str(address), target.port, maxsize=1)
        try:
            return pool.urlopen("POST", target.request_target, body=body,
                                headers={**headers, "Host": target.host_header}, redirect=False, retries=False,
                                timeout=timeout, preload_content=False, assert_same_host=False)
        except (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError):
            if i == len(target.addresses) - 1:
                raise
    raise AssertionError("a webhook target has at least one address")


def post_webhook(endpoint: WebhookEndpoint, message_id: str, body: str) -> Outcome:
    try:
        # Resolved and checked at every attempt; the request goes to exactly these addresses.
        target = webhook_target(endpoint.url)
        headers = signed_headers(endpoint.secret, message_id, body)
    except UnresolvedHost as exc:
        return Outcome(False, True, None, f"DNS: {'; '.join(exc.messages)}")  # DNS trouble passes: retry
    except ValidationError as exc:
        return Outcome(False, False, None, f"refused: {'; '.join(exc.messages)}")
    try:
        response = post_pinned(target, body.encode(), headers)
        try:
            excerpt = response.read(RESPONSE_READ_MAX, decode_content=True).decode(errors="replace")
        finally:
            response.close()
    except urllib3.exceptions.NewConnectionError as exc:  # (a ConnectTimeoutError subclass in urllib3 2)
        return Outcome(False, True, None, f"connection error: {mask_text(str(exc))}")
    except urllib3.exceptions.TimeoutError as exc:
        return Outcome(False, True, None, f"timeout: {mask_text(str(exc))}")
    except urllib3.exceptions.HTTPError as exc:
        return Outcome(False, True, None, f"connection error: {mask_text(str(exc))}")
    code = response.status
    detail = f"HTTP {code} {response.reason}: {excerpt.strip()}"
    if 200 <= code < 300:
        return Outcome(True, False, code, detail)
    if code in RETRY_STATUSES or code >= 500:
        return Outcome(False, True, code, detail, retry_after=parse_retry_after(response.headers.get("Retry-After")))
    if 300 <= code < 400:
        detail = f"HTTP {code}: redirects are not followed (to {response.headers.get('Location', '?')[:200]})"
    return Outcome(False, False, code, detail)


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - timezone.now()).total_seconds())
    except (TypeError, ValueError):
        return None


# --- MQTT ----------------------------------------------------------------------------------------
def publish_mqtt(topic: str, payload: str, *, retain: bool) -> Outcome:
    """Publish once at QoS 1 and wait for the broker's PUBACK (a short-lived connection: simple and
    robust to broker restarts; alarms are rare enough that the connect cost does not matter)."""
    parts = urlsplit(settings.MQTT_URL)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="", protocol=mqtt.MQTTv311)
    if parts.username:
        client.username_pw_set(unquote(parts.username), unquote(parts.password or "") or None)
    if parts.scheme == "mqtts":
        client.tls_set()
    timeout = float(settings.DELIVERY_CONNECT_TIMEOUT + settings.DELIVERY_READ_TIMEOUT)
    try:
        client.connect(parts.hostname or "127.0.0.1", parts.port or (8883 if parts.scheme == "mqtts" else 1883),
                       keepalive=30)
        client.loop_start()
        try:
            info = client.publish(topic, payload, qos=1, retain=retain)
            info.wait_for_publish(timeout=timeout)
            published = info.is_published()
        finally:
            client.disconnect()
            client.loop_stop()
    except (OSError, ValueError, RuntimeError) as exc:
        return Outcome(False, True, None, f"MQTT error: {mask_text(str(exc))}")
    if not published:
        return Outcome(False, True, None, f"MQTT: no PUBACK within {timeout:.0f} s")
    return Outcome(True, False, None, f"MQTT PUBACK on {topic}")


def publish_camera_statuses() -> int:
    """Retained ``<prefix>/<camera>/status`` topics, published when a camera's state or error changes
    (and once a minute), from the capture status in Redis."""
    if not settings.MQTT_URL:
        return 0
    from controlplane.cameras.models import Camera
    from controlplane.core.redis import client, key
    from workers.status import read_status

    r = client()
    ids = list(Camera.objects.values_list("id", flat=True))
    published = 0
    for camera_id, status in read_status(r, ids).items():
        view = {k: status.get(k, "") for k in ("state", "last_error", "last_segment_at", "reconnects", "config_version")}
        fingerprint = json.dumps({k: view[k] for k in ("state", "last_error")}, sort_keys=True)
        memo = key("mqtt", "status", camera_id)
        if r.get(memo) == fingerprint.encode():
            continue
        outcome = publish_mqtt(f"{settings.MQTT_TOPIC_PREFIX}/{camera_id}/status",
                               json.dumps({"camera": camera_id, **view, "at": time.time()}), retain=True)
        if outcome.delivered:
            r.set(memo, fingerprint, ex=60)
            published += 1
    return published


# --- what the beat re-sends ----------------------------------------------------------------------------
def dispatch_due(limit: int = 500) -> dict[str, int]:
    now = timezone.now()
    due = list(AlarmDelivery.objects.filter(state=DeliveryState.PENDING, next_attempt_at__lte=now)
               .order_by("next_attempt_at").values_list("id", flat=True)[:limit])
    sent = sum(send("panoptes.deliver", d, dedup_seconds=settings.DELIVERY_CLAIM_SECONDS) for d in due)
    # Alarms whose snapshot or replay is outstanding (their own messages may have been lost).
    # Snapshots are retried for an hour (a segment deleted or corrupt never gives one).
    snapshots = list(Alarm.objects.filter(snapshot_path="", created_at__lt=now - timedelta(seconds=10),
                                          created_at__gte=now - timedelta(hours=1)).values_list("id", flat=True)[:limit])
    for alarm_id in snapshots:
        send("panoptes.alarm_created", alarm_id, dedup_seconds=60)
    replays = 0
    for alarm_id in Alarm.objects.filter(replay_status=ReplayStatus.PENDING, event_time__lt=now - timedelta(seconds=5)) \
            .order_by("event_time").values_list("id", flat=True)[:limit]:
        replays += send("panoptes.cut_replay", alarm_id, dedup_seconds=10)
    statuses = 0
    try:
        statuses = publish_camera_statuses()
    except Exception as exc:  # MQTT or Redis trouble must not stop the deliveries above
        logger.warning("camera status not published to MQTT: %s", mask_text(str(exc)))
    return {"deliveries": sent, "snapshots": len(snapshots), "replays": replays, "statuses": statuses}
