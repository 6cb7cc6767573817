"""Roles from groups, enforced on every endpoint and on querysets (DESIGN §11)."""
from __future__ import annotations

from typing import Any

import pytest

WRITE_PATHS = ["/api/v1/cameras/", "/api/v1/zones/", "/api/v1/bindings/", "/api/v1/models/", "/api/v1/endpoints/",
               "/api/v1/sites/", "/api/v1/users/"]


@pytest.fixture
def world(api: Any) -> dict[str, Any]:
    admin = api("admin")
    camera = admin.post("/api/v1/cameras/", {"name": "lobby", "stream_url": "rtsp://10.0.0.2/s"}, format="json").json()
    zone = admin.post(
        "/api/v1/zones/", {"camera": camera["id"], "name": "desk", "points": [[0.2, 0.2], [0.6, 0.2], [0.6, 0.6]]}, format="json"
    ).json()
    return {"admin": admin, "camera": camera, "zone": zone}


@pytest.mark.parametrize("path", WRITE_PATHS)
def test_a_viewer_token_cannot_change_anything(api: Any, world: dict[str, Any], path: str) -> None:
    viewer = api("viewer")
    assert viewer.post(path, {"name": "x"}, format="json").status_code == 403
    assert viewer.patch(f"/api/v1/cameras/{world['camera']['id']}/", {"enabled": False}, format="json").status_code == 403
    assert viewer.delete(f"/api/v1/zones/{world['zone']['id']}/").status_code == 403
    assert viewer.post("/api/v1/revisions/1/rollback/").status_code == 403


def test_a_viewer_can_read(api: Any, world: dict[str, Any]) -> None:
    viewer = api("viewer")
    for path in ["/api/v1/cameras/", "/api/v1/zones/", "/api/v1/bindings/", "/api/v1/algorithms/", "/api/v1/alarms/",
                 "/api/v1/revisions/", "/api/v1/models/"]:
        assert viewer.get(path).status_code == 200, path
    assert viewer.get("/api/v1/endpoints/").status_code == 403  # endpoints are operator business
    assert viewer.get("/api/v1/users/").status_code == 403


def test_an_operator_edits_zones_and_bindings_but_cannot_create_users_endpoints_or_cameras(api: Any, world: dict[str, Any]) -> None:
    operator = api("operator")
    moved = operator.patch(
        f"/api/v1/zones/{world['zone']['id']}/", {"points": [[0.1, 0.1], [0.7, 0.1], [0.7, 0.7]]}, format="json"
    )
    assert moved.status_code == 200, moved.json()
    bound = operator.post("/api/v1/bindings/", {"zone": world["zone"]["id"], "algorithm": "loitering"}, format="json")
    assert bound.status_code == 201, bound.json()
    assert operator.post("/api/v1/users/", {"username": "mallory", "password": "Long-enough-pw-9", "role": "admin"}, format="json").status_code == 403
    assert operator.post(
        "/api/v1/endpoints/", {"name": "e", "url": "https://8.8.8.8/hook", "secret": "s" * 20}, format="json"
    ).status_code == 403
    assert operator.post("/api/v1/cameras/", {"name": "new", "stream_url": "rtsp://10.0.0.3/s"}, format="json").status_code == 403


def test_requests_without_credentials_are_refused(live_db: Any) -> None:
    from rest_framework.test import APIClient

    anonymous = APIClient()
    assert anonymous.get("/api/v1/cameras/").status_code == 401
    assert anonymous.get("/api/v1/schema/").status_code == 200  # the API's shape is public, not its data


def test_a_user_in_no_role_group_sees_nothing(api: Any, world: dict[str, Any]) -> None:
    assert api(None).get("/api/v1/cameras/").status_code == 403


def test_an_admin_creates_a_user_with_a_role_who_can_then_log_in_to_the_api(api: Any) -> None:
    admin = api("admin")
    created = admin.post("/api/v1/users/", {"username": "olga", "password": "Long-enough-pw-9", "role": "operator"}, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["role"] == "operator" and "password" not in created.json()
    from rest_framework.test import APIClient

    token = APIClient().post("/api/v1/auth/token/", {"username": "olga", "password": "Long-enough-pw-9"}, format="json")
    assert token.status_code == 200


def test_site_members_see_only_their_sites_cameras_and_cannot_reference_others(api: Any) -> None:
    admin = api("admin")
    north = admin.post("/api/v1/sites/", {"name": "north"}, format="json").json()
    south = admin.post("/api/v1/sites/", {"name": "south"}, format="json").json()
    cam_n = admin.post("/api/v1/cameras/", {"name": "n1", "stream_url": "rtsp://10.0.1.1/s", "site": north["id"]}, format="json").json()
    cam_s = admin.post("/api/v1/cameras/", {"name": "s1", "stream_url": "rtsp://10.0.2.1/s", "site": south["id"]}, format="json").json()
    operator = api("operator")
    admin.patch(f"/api/v1/sites/{north['id']}/", {"members": [operator.user.pk]}, format="json")

    names = [c["name"] for c in operator.get("/api/v1/cameras/").json()["results"]]
    assert names == ["n1"]
    assert operator.get(f"/api/v1/cameras/{cam_s['id']}/").status_code == 404
    refused = operator.post("/api/v1/zones/", {"camera": cam_s["id"], "name": "z", "points": [[0, 0], [1, 0], [1, 1]]}, format="json")
    assert refused.status_code == 400 and "camera" in refused.json()
    allowed = operator.post("/api/v1/zones/", {"camera": cam_n["id"], "name": "z", "points": [[0, 0], [1, 0], [1, 1]]}, format="json")
    assert allowed.status_code == 201
