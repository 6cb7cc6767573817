"""The zone editor's lock (controlplane.zones.locks) as the API enforces it, on a real Redis."""
from __future__ import annotations

import time
from typing import Any

import pytest
from conftest import make_user

from controlplane.zones import locks

SQUARE = [[0.2, 0.2], [0.6, 0.2], [0.6, 0.6], [0.2, 0.6]]


@pytest.fixture
def world(api: Any) -> dict[str, Any]:
    admin = api("admin")
    camera = admin.post("/api/v1/cameras/", {"name": "lobby", "stream_url": "rtsp://10.0.0.2/s"}, format="json").json()
    zone = admin.post("/api/v1/zones/", {"camera": camera["id"], "name": "desk", "points": SQUARE}, format="json").json()
    return {"admin": admin, "camera": camera["id"], "zone": zone["id"], "alice": api("operator"), "bob": api("operator")}


def writes(client: Any, world: dict[str, Any]) -> list[int]:
    """A PATCH and a create of a zone, and a create of a binding on the camera: their status codes."""
    moved = client.patch(f"/api/v1/zones/{world['zone']}/", {"points": SQUARE[:3]}, format="json")
    created = client.post("/api/v1/zones/", {"camera": world["camera"], "name": f"z{time.monotonic_ns()}",
                                             "points": SQUARE}, format="json")
    bound = client.post("/api/v1/bindings/", {"zone": world["zone"], "algorithm": "loitering"}, format="json")
    return [moved.status_code, created.status_code, bound.status_code]


def test_another_users_writes_are_refused_with_409_while_the_holder_writes(world: dict[str, Any]) -> None:
    alice, bob = world["alice"], world["bob"]
    held, _ = locks.acquire(world["camera"], alice.user)
    assert held

    refused = bob.patch(f"/api/v1/zones/{world['zone']}/", {"points": SQUARE[:3]}, format="json")
    assert refused.status_code == 409
    assert alice.user.username in refused.json()["detail"]
    assert writes(bob, world) == [409, 409, 409]
    assert bob.delete(f"/api/v1/zones/{world['zone']}/").status_code == 409
    assert writes(alice, world) == [200, 201, 201]


def test_without_a_lock_the_api_works_as_before(world: dict[str, Any]) -> None:
    assert locks.current(world["camera"]) is None
    assert writes(world["bob"], world) == [200, 201, 201]


def test_an_expired_lock_frees_the_camera(world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(locks, "LOCK_SECONDS", 1)
    assert locks.acquire(world["camera"], world["alice"].user)[0]
    assert writes(world["bob"], world)[0] == 409
    time.sleep(1.2)
    assert locks.current(world["camera"]) is None
    assert writes(world["bob"], world) == [200, 201, 201]


def test_only_an_admin_takes_the_lock_over(world: dict[str, Any], api: Any) -> None:
    alice, bob, admin = world["alice"], world["bob"], world["admin"]
    assert locks.acquire(world["camera"], alice.user)[0]
    held, lock = locks.acquire(world["camera"], bob.user, take_over=True)  # an operator cannot
    assert not held and lock.username == alice.user.username

    held, lock = locks.acquire(world["camera"], admin.user, take_over=True)
    assert held and lock.username == admin.user.username
    assert writes(alice, world) == [409, 409, 409]
    assert admin.patch(f"/api/v1/zones/{world['zone']}/", {"points": SQUARE}, format="json").status_code == 200


def test_a_released_lock_frees_the_camera_and_only_its_holder_releases_it(world: dict[str, Any]) -> None:
    alice, bob = world["alice"], world["bob"]
    assert locks.acquire(world["camera"], alice.user)[0]
    assert not locks.release(world["camera"], bob.user)
    assert writes(bob, world)[0] == 409
    assert locks.release(world["camera"], alice.user)
    assert locks.current(world["camera"]) is None
    assert writes(bob, world) == [200, 201, 201]


def test_the_holder_renews_its_lock(world: dict[str, Any]) -> None:
    alice = world["alice"]
    _, first = locks.acquire(world["camera"], alice.user)
    time.sleep(0.05)
    held, renewed = locks.acquire(world["camera"], alice.user)
    assert held and renewed.expires_at > first.expires_at


def test_the_panels_lock_endpoint_and_editor_follow_roles_and_sites(world: dict[str, Any]) -> None:
    from django.contrib.auth.models import User
    from django.test import Client

    from controlplane.cameras.models import Camera, Site

    def logged_in(username: str, role: str) -> Client:
        client = Client()
        client.force_login(User.objects.filter(username=username).first() or make_user(username, role))
        return client

    camera = world["camera"]
    lock_url = f"/panel/cameras/{camera}/zones/lock/"
    alice = logged_in(world["alice"].user.username, "operator")
    assert alice.get(f"/panel/cameras/{camera}/zones/").status_code == 200  # opening the editor takes the lock
    assert locks.current(camera).username == world["alice"].user.username  # type: ignore[union-attr]
    assert alice.post(lock_url, {"action": "renew"}).json()["held"] is True

    bob = logged_in(world["bob"].user.username, "operator")
    answer = bob.post(lock_url, {"action": "take_over"}).json()  # an operator cannot take over
    assert answer["held"] is False and answer["lock"]["username"] == world["alice"].user.username
    assert logged_in("vic", "viewer").post(lock_url, {"action": "renew"}).status_code == 403

    assert alice.post(lock_url, {"action": "release"}).json()["held"] is False
    assert locks.current(camera) is None

    south = Site.objects.create(name="south")
    Camera.objects.filter(pk=camera).update(site=south)
    guard = logged_in("guard", "operator")
    Site.objects.create(name="north").members.add(User.objects.get(username="guard"))
    assert guard.get(f"/panel/cameras/{camera}/zones/").status_code == 404
    assert guard.post(lock_url, {"action": "renew"}).status_code == 404
    assert locks.current(camera) is None
