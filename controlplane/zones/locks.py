"""The edit lock of a camera's zones (DESIGN.md §8, seed 000): one user edits them at a time.

The lock is one Redis key per camera holding its owner and expiry, with a Redis TTL as well, so a
vanished browser frees it by itself. Used by:

- controlplane.panel (the zone editor): ``acquire`` when the editor opens and every ~20 s while it
  stays open, ``release`` on save or when the page is left, ``acquire(take_over=True)`` by an admin.
- the zone and binding API viewsets: ``check_write`` refuses (409) a write to a camera's zones or
  bindings by anyone but the holder while a lock is held. With no lock held the API works as it
  always did, so integrators' scripts are unaffected.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from rest_framework import status
from rest_framework.exceptions import APIException

from controlplane.core.choices import Role
from controlplane.core.redis import client, key
from controlplane.core.roles import has_role

# 60 s: the editor renews every 20 s, so two lost renewals in a row still keep the lock; a closed
# laptop frees it within a minute.
LOCK_SECONDS = 60

# Set the lock if it is free, already ours, or taken over; return the value now stored.
_ACQUIRE = """
local current = redis.call('GET', KEYS[1])
if current and ARGV[3] ~= '1' then
  local owner = cjson.decode(current)
  if tostring(owner['user_id']) ~= ARGV[2] then return current end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[4])
return ARGV[1]
"""
# Delete the lock only if it is ours.
_RELEASE = """
local current = redis.call('GET', KEYS[1])
if current and tostring(cjson.decode(current)['user_id']) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


@dataclass(frozen=True)
class EditLock:
    camera_id: int
    user_id: int
    username: str
    expires_at: float  # Unix time

    def held_by(self, user: Any) -> bool:
        return bool(user.is_authenticated) and int(user.pk) == self.user_id

    def as_json(self) -> dict[str, Any]:
        return {"camera": self.camera_id, "user_id": self.user_id, "username": self.username,
                "expires_at": self.expires_at}


class ZonesLocked(APIException):
    """409 from the API: another user holds the camera's edit lock."""

    status_code = status.HTTP_409_CONFLICT
    default_code = "zones_locked"

    def __init__(self, lock: EditLock) -> None:
        until = time.strftime("%H:%M:%S", time.gmtime(lock.expires_at))
        super().__init__(f"camera {lock.camera_id}'s zones are being edited by {lock.username} (lock held until"
                         f" {until} UTC); try again after it is released or expires")
        self.lock = lock


def lock_key(camera_id: int) -> str:
    return key("zone-lock", camera_id)


def _parse(camera_id: int, raw: bytes | str | None) -> EditLock | None:
    if raw is None:
        return None
    data = json.loads(raw)
    return EditLock(camera_id, int(data["user_id"]), str(data["username"]), float(data["expires_at"]))


def current(camera_id: int) -> EditLock | None:
    """The lock held on the camera's zones, or None."""
    lock = _parse(camera_id, client().get(lock_key(camera_id)))
    return lock if lock is not None and lock.expires_at > time.time() else None


def acquire(camera_id: int, user: Any, *, take_over: bool = False) -> tuple[bool, EditLock]:
    """Take or renew the lock for ``user``; ``take_over`` (admins only) takes it from its holder.

    Returns (whether ``user`` holds it now, the lock as it stands).
    """
    take_over = take_over and has_role(user, Role.ADMIN)
    expires_at = time.time() + LOCK_SECONDS
    mine = json.dumps({"user_id": user.pk, "username": user.get_username(), "expires_at": expires_at})
    stored = client().eval(_ACQUIRE, 1, lock_key(camera_id), mine, str(user.pk), "1" if take_over else "0",
                           str(LOCK_SECONDS * 1000))
    lock = _parse(camera_id, stored)
    assert lock is not None
    return lock.held_by(user), lock


def release(camera_id: int, user: Any) -> bool:
    """Give the lock up if ``user`` holds it; whether it did."""
    return bool(client().eval(_RELEASE, 1, lock_key(camera_id), str(user.pk)))


def check_write(camera_id: int, user: Any) -> None:
    """Raise ZonesLocked if another user holds the camera's lock (used by the zone and binding API)."""
    lock = current(camera_id)
    if lock is not None and not lock.held_by(user):
        raise ZonesLocked(lock)
