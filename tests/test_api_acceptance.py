"""Issue 2 acceptance: a new user, through the API alone, configures a camera and sees a version."""
from __future__ import annotations

import json
from typing import Any

import pytest


def test_a_new_camera_zone_and_intrusion_binding_publish_a_new_config_version(api: Any, redis_client: Any) -> None:
    from controlplane.core.redis import key

    admin = api("admin")
    camera = admin.post(
        "/api/v1/cameras/",
        {"name": "gate", "stream_url": "rtsp://10.1.2.3:554/stream1", "username": "viewer", "password": "hunter2"},
        format="json",
    )
    assert camera.status_code == 201, camera.json()
    version_after_camera = int(redis_client.get(key("config", "version")))

    zone = admin.post(
        "/api/v1/zones/",
        {"camera": camera.json()["id"], "name": "yard", "kind": "polygon", "points": [[0.1, 0.5], [0.9, 0.5], [0.9, 1.0], [0.1, 1.0]]},
        format="json",
    )
    assert zone.status_code == 201, zone.json()
    binding = admin.post("/api/v1/bindings/", {"zone": zone.json()["id"], "algorithm": "intrusion"}, format="json")
    assert binding.status_code == 201, binding.json()
    assert binding.json()["params"] == {"min_dwell": 1.0}  # defaults filled in from the schema

    version = int(redis_client.get(key("config", "version")))
    assert version == version_after_camera + 2
    published = json.loads(redis_client.get(key("config", "camera", camera.json()["id"])))
    assert published["version"] == version
    assert published["camera"]["bindings"][0]["algorithm"] == "intrusion"
    assert published["camera"]["zones"][0]["points"][0] == [0.1, 0.5]
    assert "hunter2" not in redis_client.get(key("config", "snapshot")).decode()
    events = redis_client.xrevrange(key("config", "changes"), count=1)
    assert events[0][1][b"version"] == str(version).encode()
    assert events[0][1][b"camera_id"] == str(camera.json()["id"]).encode()

    revisions = admin.get("/api/v1/revisions/").json()["results"]
    assert revisions[0]["version"] == version
    assert revisions[0]["author_name"] == admin.user.username


@pytest.mark.parametrize(
    ("path", "payload", "field"),
    [
        ("/api/v1/zones/", {"name": "bowtie", "kind": "polygon", "points": [[0, 0], [1, 1], [1, 0], [0, 1]]}, "points"),
        ("/api/v1/zones/", {"name": "outside", "kind": "polygon", "points": [[0, 0], [1.5, 0], [1, 1]]}, "points"),
        ("/api/v1/zones/", {"name": "dot", "kind": "line", "points": [[0.5, 0.5], [0.5, 0.5]]}, "points"),
        ("/api/v1/bindings/", {"algorithm": "intrusion", "params": {"dwell": 3}}, "params"),
        ("/api/v1/bindings/", {"algorithm": "intrusion", "schedule": {"timezone": "Mars/Olympus", "windows": []}}, "schedule"),
        ("/api/v1/cameras/", {"name": "leak", "stream_url": "file:///etc/passwd"}, "stream_url"),
        ("/api/v1/cameras/", {"name": "concat", "stream_url": "concat:/a|/b"}, "stream_url"),
        ("/api/v1/endpoints/", {"name": "meta", "url": "http://169.254.169.254/latest/meta-data", "secret": "s" * 20}, "url"),
        ("/api/v1/endpoints/", {"name": "lan", "url": "http://10.0.0.1/hook", "secret": "s" * 20}, "url"),
    ],
)
def test_bad_input_is_refused_with_a_400_naming_the_field(api: Any, path: str, payload: dict[str, Any], field: str) -> None:
    admin = api("admin")
    camera = admin.post("/api/v1/cameras/", {"name": "cam", "stream_url": "rtsp://10.0.0.9/s"}, format="json").json()
    zone = admin.post(
        "/api/v1/zones/", {"camera": camera["id"], "name": "z", "points": [[0, 0], [1, 0], [1, 1]]}, format="json"
    ).json()
    payload = {**payload, **({"camera": camera["id"]} if path == "/api/v1/zones/" else {})}
    payload = {**payload, **({"zone": zone["id"]} if path == "/api/v1/bindings/" else {})}
    response = admin.post(path, payload, format="json")
    assert response.status_code == 400
    assert field in response.json(), response.json()


def test_credentials_are_write_only_and_masked(api: Any) -> None:
    admin = api("admin")
    created = admin.post("/api/v1/cameras/", {"name": "c", "stream_url": "rtsp://alice:pa55@10.0.0.7/live"}, format="json")
    assert created.status_code == 201
    body = json.dumps(created.json()) + json.dumps(admin.get(f"/api/v1/cameras/{created.json()['id']}/").json())
    assert "pa55" not in body and "alice" not in body
    assert created.json()["has_credentials"] is True
    assert created.json()["stream_url"] == "rtsp://10.0.0.7/live"

    from controlplane.cameras.models import Camera

    camera = Camera.objects.get(pk=created.json()["id"])
    assert camera.get_credentials() == ("alice", "pa55")
    assert camera.masked_url == "rtsp://***:***@10.0.0.7/live"
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT credentials FROM cameras_camera WHERE id = %s", [camera.pk])
        assert "pa55" not in cur.fetchone()[0]  # encrypted at rest


def test_a_webhook_to_loopback_is_accepted_when_the_allow_list_admits_it(api: Any, settings: Any) -> None:
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    response = api("admin").post(
        "/api/v1/endpoints/", {"name": "local", "url": "http://127.0.0.1:9999/hook", "secret": "s" * 20}, format="json"
    )
    assert response.status_code == 201, response.json()
    assert "secret" not in response.json()
