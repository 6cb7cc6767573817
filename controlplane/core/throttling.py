"""Login throttling: failed password checks counted per user name and per client address.

Every password check goes through ``ThrottledModelBackend`` (the admin login, ``POST
/api/v1/auth/token/``, anything calling ``authenticate``), so one count in Redis covers them all,
across web processes. The token view answers 429 with Retry-After and the admin login form shows
an error, both from ``locked_for(request)``.

1. Before the password is checked, the user name's and the address's counts are read; at either
   limit the attempt is refused without checking the password (the right one fails too).
2. Otherwise the attempt is counted in both, atomically with the check (a Lua script), so
   concurrent guesses cannot overshoot the limit. The first count starts the window: counts
   expire ``LOGIN_LOCKOUT_SECONDS`` after the first failure.
3. A success takes its attempt back: the user name's count is cleared, the address's count
   lowered by one (a user cannot clear their address's count by logging in themselves).

A user name is counted as the user it finds in the database (MariaDB's collation matches "OLGA"
and "olga " to "olga"), an unknown one by its case-folded text. IPv6 clients are counted per /64,
what one customer usually gets. If Redis is down, logins go on unthrottled and each is logged as
an error: an outage must not lock every admin out of the panel.
"""
from __future__ import annotations

import hashlib
import ipaddress
import logging
from typing import Any

import redis
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied

from controlplane.core.redis import client, key

logger = logging.getLogger(__name__)

#: Where the backend leaves the lockout for the view that called ``authenticate`` to report.
_LOCKED_ATTR = "panoptes_login_locked_for"

# KEYS: the counts; ARGV: window seconds, then each count's limit. Returns the seconds to wait
# (0: the attempt was counted and may go on).
_BEGIN = """
local wait = 0
for i, k in ipairs(KEYS) do
  if tonumber(redis.call('GET', k) or '0') >= tonumber(ARGV[i + 1]) then
    local ttl = redis.call('TTL', k)
    if ttl < 1 then ttl = tonumber(ARGV[1]) end
    wait = math.max(wait, ttl)
  end
end
if wait > 0 then return wait end
for _, k in ipairs(KEYS) do
  if redis.call('INCR', k) == 1 then redis.call('EXPIRE', k, ARGV[1]) end
end
return 0
"""
# KEYS[1]: the user name's count (cleared), KEYS[2]: the address's (one attempt taken back).
_SUCCEEDED = """
redis.call('DEL', KEYS[1])
if KEYS[2] and tonumber(redis.call('GET', KEYS[2]) or '0') > 0 then redis.call('DECR', KEYS[2]) end
return 0
"""


def client_address(request: Any) -> str:
    """The client's address: ``REMOTE_ADDR``, or behind ``NUM_PROXIES`` proxies the address the
    outermost of them saw (from the right of X-Forwarded-For; entries left of it are the client's
    own claims and not trusted)."""
    address = str(request.META.get("REMOTE_ADDR") or "")
    if settings.NUM_PROXIES:
        forwarded = [a.strip() for a in str(request.META.get("HTTP_X_FORWARDED_FOR", "")).split(",") if a.strip()]
        if forwarded:
            address = forwarded[-min(settings.NUM_PROXIES, len(forwarded))]
    return address


def _address_bucket(address: str) -> str:
    try:
        addr = ipaddress.ip_address(address)
    except ValueError:
        return address[:64] or "unknown"
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped:
            return str(addr.ipv4_mapped)
        return str(ipaddress.IPv6Network((addr, 64), strict=False))
    return str(addr)


def _user_bucket(username: str) -> str:
    User = get_user_model()
    try:
        user = User._default_manager.get_by_natural_key(username)
    except (User.DoesNotExist, User.MultipleObjectsReturned, UnicodeError):
        name = username.strip().casefold()
        return "name-" + hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"user-{user.pk}"


class LoginAttempt:
    """One password check by a user name from an address, and its counts in Redis."""

    def __init__(self, username: str, request: Any | None) -> None:
        self.username = username
        self.address = client_address(request) if request is not None else ""
        self.keys = [key("login", _user_bucket(username))]
        self.limits = [settings.LOGIN_FAILURES_PER_USER]
        if request is not None:
            self.keys.append(key("login", "addr", _address_bucket(self.address)))
            self.limits.append(settings.LOGIN_FAILURES_PER_ADDRESS)

    def begin(self) -> int:
        """Count this attempt, or return the seconds the user name or address is locked for."""
        try:
            wait = client().eval(_BEGIN, len(self.keys), *self.keys, settings.LOGIN_LOCKOUT_SECONDS, *self.limits)
        except redis.RedisError as exc:
            logger.error("login throttling unavailable (%s): login of user %r from %s not throttled",
                         exc, self.username, self.address)
            return 0
        return int(wait)  # type: ignore[arg-type]

    def failed(self) -> None:
        logger.warning("login failed: user %r from %s", self.username, self.address)

    def refused(self, wait: int) -> None:
        logger.warning("login refused, locked out for %d s: user %r from %s", wait, self.username, self.address)

    def succeeded(self) -> None:
        try:
            client().eval(_SUCCEEDED, len(self.keys), *self.keys)
        except redis.RedisError as exc:
            logger.error("login throttling unavailable (%s): count of user %r not cleared", exc, self.username)


def locked_for(request: Any) -> int:
    """Seconds the last ``authenticate`` on this request was locked out for (0: it was not)."""
    return int(getattr(request, _LOCKED_ATTR, 0))


class ThrottledModelBackend(ModelBackend):
    """Django's user/password backend behind the login throttle (settings.AUTHENTICATION_BACKENDS)."""

    def authenticate(
        self, request: Any, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> Any:
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if username is None or password is None:
            return None
        attempt = LoginAttempt(str(username), request)
        wait = attempt.begin()
        if wait:
            attempt.refused(wait)
            if request is not None:
                setattr(request, _LOCKED_ATTR, wait)
            raise PermissionDenied("too many failed logins")  # authenticate() stops here, returns None
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            attempt.failed()
        else:
            attempt.succeeded()
        return user


def lockout_message(wait: int) -> str:
    minutes = max(1, (wait + 59) // 60)
    return (f"Too many failed logins for this user name or from this address. "
            f"Try again in {minutes} minute{'s' if minutes != 1 else ''}.")
