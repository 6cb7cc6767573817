"""Camera ownership through a Redis lease with a fencing epoch from MySQL (DESIGN §4).

The lease ``<prefix>:cam:<id>:lease`` holds ``<owner>:<epoch>`` with a TTL. The owner renews it
with compare-and-extend and releases it with compare-and-delete, so nobody else's lease is ever
touched. An owner considers itself lost once it has not renewed for TTL minus a margin on its own
monotonic clock (a frozen process wakes up knowing it is no longer owner). After a Redis restart
(detected by the missing boot marker), no lease is granted for one TTL, so a lease held before
the restart has surely expired at its owner before anyone else can take the camera.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import redis

from controlplane.core.redis import key

# Grant only if the lease is free and Redis has been up (as far as leases know) for one TTL.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local boot = redis.call('GET', KEYS[2])
if not boot then
  redis.call('SET', KEYS[2], now)
  boot = now
end
if now - tonumber(boot) < tonumber(ARGV[2]) then return -1 end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
"""
_REPLACE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
"""
_EXTEND = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class LeaseGraceError(Exception):
    """Redis restarted less than one TTL ago: no lease can be granted yet."""


def lease_key(camera_id: int) -> str:
    return key("cam", camera_id, "lease")


@dataclass
class Lease:
    """One owner's claim on one camera. Not thread-safe: it belongs to one capture loop."""

    client: redis.Redis
    camera_id: int
    owner: str
    ttl: float = 10.0
    margin: float = 2.0
    epoch: int = 0
    _renewed_at: float = field(default=0.0, init=False)

    @property
    def token(self) -> str:
        return f"{self.owner}:{self.epoch}"

    def acquire(self) -> bool:
        """Take the camera if it is free (epoch 0 until ``fence`` sets the real one)."""
        started = time.monotonic()
        got = self.client.eval(_ACQUIRE, 2, lease_key(self.camera_id), key("lease", "boot"), self.token, int(self.ttl * 1000))
        if got == -1:
            raise LeaseGraceError("Redis restarted less than one lease TTL ago")
        if got == 1:
            self._renewed_at = started
        return bool(got == 1)

    def fence(self, epoch: int) -> bool:
        """Put the owner's fresh epoch (from MySQL) into the lease value."""
        old = self.token
        self.epoch = epoch
        started = time.monotonic()
        ok = bool(self.client.eval(_REPLACE, 1, lease_key(self.camera_id), old, self.token, int(self.ttl * 1000)) == 1)
        if ok:
            self._renewed_at = started
        return ok

    def renew(self) -> bool:
        """Extend the TTL if the lease is still ours; False (and lost) otherwise."""
        if not self.held():
            return False
        started = time.monotonic()
        try:
            ok = bool(self.client.eval(_EXTEND, 1, lease_key(self.camera_id), self.token, int(self.ttl * 1000)) == 1)
        except redis.RedisError:
            return self.held()  # a Redis blip: still ours until our own clock says otherwise
        if ok:
            self._renewed_at = started
        else:
            self._renewed_at = 0.0
        return ok

    def held(self) -> bool:
        """Still ours by our own monotonic clock (renewed within TTL minus the margin)."""
        return self._renewed_at > 0 and time.monotonic() - self._renewed_at < self.ttl - self.margin

    def lose(self) -> None:
        """Consider the camera lost now (the database said another owner has it)."""
        self._renewed_at = 0.0

    def release(self) -> None:
        try:
            self.client.eval(_RELEASE, 1, lease_key(self.camera_id), self.token)
        except redis.RedisError:
            pass  # it expires by itself
        self._renewed_at = 0.0


def current_owner(client: redis.Redis, camera_id: int) -> str | None:
    raw: Any = client.get(lease_key(camera_id))
    return raw.decode() if raw else None
