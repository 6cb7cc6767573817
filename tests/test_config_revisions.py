"""Config versions: every change makes a revision, published after commit; rollback restores exactly."""
from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction


def _config_state() -> dict[str, Any]:
    from controlplane.algorithms.models import AlgorithmBinding
    from controlplane.zones.models import Zone

    zones = list(Zone.objects.order_by("id").values("id", "camera_id", "name", "kind", "points", "direction", "enabled"))
    bindings = list(
        AlgorithmBinding.objects.order_by("id").values(
            "id", "zone_id", "algorithm__slug", "params", "target_classes", "min_score", "schedule",
            "cooldown_seconds", "severity", "enabled",
        )
    )
    return {"zones": zones, "bindings": bindings}


def test_rolling_back_to_revision_n_restores_zones_and_bindings_exactly_and_publishes_a_new_version(
    api: Any, redis_client: Any
) -> None:
    from controlplane.core.redis import key

    admin = api("admin")
    cam = admin.post("/api/v1/cameras/", {"name": "dock", "stream_url": "rtsp://10.0.0.4/s"}, format="json").json()
    door = admin.post("/api/v1/zones/", {"camera": cam["id"], "name": "door", "points": [[0.1, 0.1], [0.4, 0.1], [0.4, 0.4]]}, format="json").json()
    line = admin.post("/api/v1/zones/", {"camera": cam["id"], "name": "gate", "kind": "line", "points": [[0.5, 0.0], [0.5, 1.0]], "direction": "left_to_right"}, format="json").json()
    admin.post("/api/v1/bindings/", {"zone": door["id"], "algorithm": "loitering", "params": {"threshold": 45},
                                     "schedule": {"timezone": "Europe/Berlin", "windows": [{"days": ["mon", "fri"], "start": "22:00", "end": "06:00"}]},
                                     "severity": "high"}, format="json")
    admin.post("/api/v1/bindings/", {"zone": line["id"], "algorithm": "line_crossing"}, format="json")
    revision_n = admin.get("/api/v1/revisions/").json()["results"][0]["version"]
    state_n = _config_state()

    # Then: edits, a deletion and additions.
    admin.patch(f"/api/v1/zones/{door['id']}/", {"points": [[0.2, 0.2], [0.8, 0.2], [0.8, 0.8]], "enabled": False}, format="json")
    admin.delete(f"/api/v1/zones/{line['id']}/")
    extra = admin.post("/api/v1/zones/", {"camera": cam["id"], "name": "extra", "points": [[0, 0], [1, 0], [1, 1]]}, format="json").json()
    admin.post("/api/v1/bindings/", {"zone": extra["id"], "algorithm": "crowding"}, format="json")
    assert _config_state() != state_n
    latest_before = int(redis_client.get(key("config", "version")))

    rolled = admin.post(f"/api/v1/revisions/{revision_n}/rollback/")

    assert rolled.status_code == 201, rolled.json()
    assert _config_state() == state_n
    assert rolled.json()["version"] > latest_before
    assert rolled.json()["restored_from"] == revision_n
    assert int(redis_client.get(key("config", "version"))) == rolled.json()["version"]
    assert rolled.json()["snapshot"]["cameras"] == admin.get(f"/api/v1/revisions/{revision_n}/").json()["snapshot"]["cameras"]


def test_rollback_is_admin_only(api: Any) -> None:
    admin = api("admin")
    admin.post("/api/v1/cameras/", {"name": "c", "stream_url": "rtsp://10.0.0.4/s"}, format="json")
    version = admin.get("/api/v1/revisions/").json()["results"][0]["version"]
    assert api("operator").post(f"/api/v1/revisions/{version}/rollback/").status_code == 403


def test_a_transaction_touching_many_rows_makes_one_revision_and_a_rolled_back_one_none(live_db: Any) -> None:
    from controlplane.cameras.models import Camera
    from controlplane.configs.models import ConfigRevision
    from controlplane.zones.models import Zone

    with transaction.atomic():
        cam = Camera.objects.create(name="a", stream_url="rtsp://10.0.0.1/s")
        Zone.objects.create(camera=cam, name="z1", points=[[0, 0], [1, 0], [1, 1]])
        Zone.objects.create(camera=cam, name="z2", points=[[0, 0], [1, 0], [0, 1]])
    assert ConfigRevision.objects.count() == 1

    with pytest.raises(RuntimeError), transaction.atomic():
        Zone.objects.create(camera=cam, name="z3", points=[[0, 0], [1, 0], [0, 1]])
        raise RuntimeError("operator cancelled")
    assert ConfigRevision.objects.count() == 1

    cam.save()  # no change in content: no new revision
    assert ConfigRevision.objects.count() == 1


def test_a_change_while_redis_is_down_is_recorded_and_published_later(live_db: Any, settings: Any) -> None:
    from controlplane.cameras.models import Camera
    from controlplane.configs import actions, publish
    from controlplane.configs.models import ConfigRevision

    reachable = settings.REDIS_URL
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    Camera.objects.create(name="offline", stream_url="rtsp://10.0.0.1/s")
    revision = ConfigRevision.objects.get()
    settings.REDIS_URL = reachable

    assert publish.published_version() is None
    assert actions.ensure_published() == revision.version


def test_an_older_version_never_overwrites_a_newer_one(live_db: Any) -> None:
    from datetime import UTC, datetime

    from analytics.config import ConfigSnapshot
    from controlplane.configs import publish

    now = datetime.now(UTC)
    assert publish.publish(ConfigSnapshot(version=7, created_at=now), publish.Changes(full=True))
    assert not publish.publish(ConfigSnapshot(version=6, created_at=now), publish.Changes(full=True))
    assert publish.published_version() == 7


def test_a_change_to_one_camera_announces_only_that_camera(api: Any, redis_client: Any) -> None:
    from controlplane.core.redis import key

    admin = api("admin")
    first = admin.post("/api/v1/cameras/", {"name": "one", "stream_url": "rtsp://u:p@10.0.0.1/s"}, format="json").json()
    admin.post("/api/v1/cameras/", {"name": "two", "stream_url": "rtsp://u:p@10.0.0.2/s"}, format="json")
    last_id = redis_client.xrevrange(key("config", "changes"), count=1)[0][0]

    admin.post("/api/v1/zones/", {"camera": first["id"], "name": "z", "points": [[0, 0], [1, 0], [1, 1]]}, format="json")

    events = redis_client.xrange(key("config", "changes"), min=f"({last_id.decode()}")
    assert [(e[b"scope"], e[b"camera_id"]) for _, e in events] == [(b"camera", str(first["id"]).encode())]


def test_deleting_a_camera_announces_it_and_removes_its_key(api: Any, redis_client: Any) -> None:
    from controlplane.core.redis import key

    admin = api("admin")
    cam = admin.post("/api/v1/cameras/", {"name": "gone", "stream_url": "rtsp://10.0.0.1/s"}, format="json").json()
    assert redis_client.exists(key("config", "camera", cam["id"]))
    admin.delete(f"/api/v1/cameras/{cam['id']}/")
    assert not redis_client.exists(key("config", "camera", cam["id"]))
    _, event = redis_client.xrevrange(key("config", "changes"), count=1)[0]
    assert (event[b"camera_id"], event[b"deleted"]) == (str(cam["id"]).encode(), b"1")
