"""The whole spine with real parts: an RTSP camera -> capture -> detection -> analysis -> alarm ->
a signed webhook with the snapshot, then the replay.

Every role runs as its own worker process (capture, gpu, analysis, alarms, control, beat) against
MariaDB, Redis and the real RTSP server serving one-by-one-person-detection.mp4 from its first
frame; the only thing the test does is configure, through the API, what an operator would.
The first visitor walks onto the floor at about 6 s into the stream.
"""
from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from capture_helpers import clear_lease_grace, worker_env
from standardwebhooks.webhooks import Webhook
from test_capture_faults import Fleet, _purge
from test_delivery_faults import _purge_queues

pytestmark = pytest.mark.slow

BROKER = "redis://127.0.0.1:6379/14"
SECRET = "whsec_" + base64.b64encode(b"end-to-end-secret-0123456789").decode()
FLOOR = [[0.40, 0.70], [0.85, 0.70], [0.85, 1.0], [0.40, 1.0]]


@pytest.fixture
def fleet(live_db: Any, settings: Any, tmp_path: Path) -> Iterator[Fleet]:
    from django.db import connection

    if connection.vendor != "mysql":
        pytest.skip("worker processes need a database server they can share with the test (MariaDB)")
    _purge(BROKER)
    _purge_queues(BROKER, ("gpu", "analysis", "alarms"))
    clear_lease_grace()
    settings.STORAGE_ROOT = tmp_path / "storage"
    fleet = Fleet(tmp_path, worker_env(settings, tmp_path, BROKER, PANOPTES_WEBHOOK_ALLOWED_NETWORKS="127.0.0.0/8"))
    try:
        yield fleet
    finally:
        fleet.stop()


def test_a_person_walking_into_a_zone_on_a_real_camera_reaches_a_webhook_with_snapshot_and_replay(
    fleet: Fleet, rtsp_server: Any, webhook_receiver: Any, api: Any, settings: Any
) -> None:
    from django.test import Client

    from controlplane.alarms.models import Alarm
    from controlplane.detectors.actions import register_assets_model
    from controlplane.detectors.models import DetectorModel

    assert register_assets_model(DetectorModel, settings.PANOPTES_ASSETS) is not None
    receiver = webhook_receiver({"/soc": "200"})
    admin, operator = api("admin"), api("operator")
    camera = admin.post("/api/v1/cameras/", {
        "name": "lobby", "stream_url": rtsp_server.url("onebyone"), "segment_seconds": 2, "detect_fps": 5,
        "replay_pre_seconds": 3, "replay_post_seconds": 3,
    }, format="json").json()
    zone = operator.post("/api/v1/zones/", {"camera": camera["id"], "name": "floor", "points": FLOOR}, format="json").json()
    binding = operator.post("/api/v1/bindings/", {"zone": zone["id"], "algorithm": "intrusion", "params": {"min_dwell": 1},
                                                  "cooldown_seconds": 600, "severity": "high"}, format="json")
    assert binding.status_code == 201, binding.json()
    assert admin.post("/api/v1/endpoints/", {"name": "soc", "url": receiver.url("/soc"), "secret": SECRET},
                      format="json").status_code == 201

    fleet.start_all()  # capture x2, control, beat
    fleet.start("gpu", "worker", "-Q", "gpu", "-P", "threads", "-c", "2", "-n", "gpu@%h", "-l", "INFO")
    fleet.start("analysis", "worker", "-Q", "analysis", "-P", "threads", "-c", "4", "-n", "analysis@%h", "-l", "INFO")
    fleet.start("alarms", "worker", "-Q", "alarms", "-P", "threads", "-c", "4", "-n", "alarms@%h", "-l", "INFO")

    created = receiver.wait_for(1, "/soc", timeout=120)[0]
    event = Webhook(SECRET).verify(created["body"], created["headers"])
    assert event["type"] == "alarm.created"
    data = event["data"]
    assert (data["camera"]["name"], data["zone"]["name"], data["algorithm"], data["object_class"]) == (
        "lobby", "floor", "intrusion", "person")
    alarm = Alarm.objects.get(pk=data["id"])
    # The snapshot link works without an account and is a JPEG of the camera's frame size.
    snapshot = Client().get(data["snapshot_url"][len(settings.PUBLIC_URL):])
    assert snapshot.status_code == 200 and snapshot["Content-Type"] == "image/jpeg"
    image = cv2.imdecode(np.frombuffer(b"".join(snapshot.streaming_content), np.uint8), cv2.IMREAD_COLOR)  # type: ignore[attr-defined]
    assert image.shape[:2] == (432, 768)

    ready = receiver.wait_for(2, "/soc", timeout=90)[1]
    replay = Webhook(SECRET).verify(ready["body"], ready["headers"])
    assert replay["type"] == "alarm.replay_ready" and replay["data"]["id"] == alarm.pk
    assert replay["data"]["replay_status"] in ("ready", "partial")
    assert 6 - 0.3 <= replay["data"]["replay_seconds"] <= 6 + 1.5  # 3 s + 3 s from the keyframe (GOP 1 s) before
    clip = Client().get(replay["data"]["replay_url"][len(settings.PUBLIC_URL):])
    assert clip.status_code == 200 and clip["Content-Type"] == "video/mp4"
    assert len({r["headers"]["webhook-id"] for r in receiver.requests("/soc")}) == 2  # one message per event
    assert Alarm.objects.count() == 1  # the cooldown keeps the binding to one alarm
