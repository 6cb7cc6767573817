"""Strict helpers that read settings from the environment.

Every helper raises ``ImproperlyConfigured`` naming the variable when a value is malformed, so a
typo in a deployment fails at start-up instead of running with a silent default.
"""
from __future__ import annotations

import os
import secrets
import unicodedata
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be one of {sorted(_TRUE | _FALSE - {''})}, got {raw!r}")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be >= {minimum}, got {value}")
    return value


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return list(default or [])
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_url(name: str, default: str = "", *, schemes: tuple[str, ...]) -> str:
    """A URL with one of ``schemes`` ("" when unset): no control characters or spaces (they would
    end up inside a protocol request), well-formed brackets, a port from 1 to 65535."""
    raw = os.environ.get(name, default)
    if not raw:
        return ""
    bad = next((ch for ch in raw if ch.isspace() or unicodedata.category(ch)[0] == "C"), None)
    if bad is not None:
        raise ImproperlyConfigured(f"{name} holds a control character or space ({bad!r}); percent-encode it")
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 (raises ValueError when out of range or not a number)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} is not a valid URL: {exc}") from None
    if parts.scheme not in schemes or not parts.hostname:
        raise ImproperlyConfigured(f"{name} must be a {'/'.join(schemes)} URL with a host")
    if parts.port == 0:
        raise ImproperlyConfigured(f"{name}: the port must be from 1 to 65535")
    return raw


def env_path(name: str, default: Path) -> Path:
    raw = os.environ.get(name)
    return Path(raw).expanduser().resolve() if raw else default.resolve()


def database_from_url(url: str, *, default_sqlite: Path) -> dict[str, object]:
    """Turn ``DATABASE_URL`` into a Django ``DATABASES['default']`` entry.

    Accepted: ``mysql://user:pass@host:port/name?charset=utf8mb4`` (mysqlclient) and
    ``sqlite:///abs/path.sqlite3`` (``sqlite://`` alone means the default file under var/).
    Written here rather than taken from dj-database-url because we accept two schemes only and
    want MySQL's strict mode and utf8mb4 always on.
    """
    if not url:
        return _sqlite(str(default_sqlite))
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        return _sqlite(unquote(parts.path) if parts.path not in ("", "/") else str(default_sqlite))
    if parts.scheme in ("mysql", "mariadb"):
        name = parts.path.lstrip("/")
        if not name:
            raise ImproperlyConfigured("DATABASE_URL must name a database: mysql://user@host/panoptes")
        options: dict[str, object] = {
            "charset": "utf8mb4",
            # Strict mode: MySQL refuses bad data instead of truncating it silently.
            "init_command": "SET sql_mode='STRICT_TRANS_TABLES'",
            # A database host that drops packets must not block a capture loop (or a request) for
            # the operating system's connect timeout (minutes): fail in 5 s and retry.
            "connect_timeout": 5,
        }
        options.update({k: int(v) if k.endswith("timeout") and v.isdigit() else v for k, v in parse_qsl(parts.query)})
        return {
            "ENGINE": "django.db.backends.mysql",
            "NAME": name,
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "127.0.0.1",
            "PORT": str(parts.port or 3306),
            "OPTIONS": options,
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
            "TEST": {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"},
        }
    raise ImproperlyConfigured(f"DATABASE_URL scheme {parts.scheme!r} is not supported (use mysql:// or sqlite://)")


def _sqlite(path: str) -> dict[str, object]:
    """SQLite set up for many writer threads (a capture worker records dozens of cameras at once).

    With Django's defaults, 50 cameras in one worker raised tens of thousands of "database is
    locked" errors (bench/RESULTS.md): a DEFERRED transaction that reads and then writes cannot
    wait for the lock (SQLite fails it at once to avoid a deadlock), and the rollback journal
    blocks readers while anyone writes. So: BEGIN IMMEDIATE (take the write lock first, then
    wait up to ``timeout`` seconds for it), WAL (readers never block the writer or each other),
    and synchronous=NORMAL (safe with WAL; a power cut loses at most the last transactions).
    """
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": path,
        "OPTIONS": {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
        },
    }


def is_strong_key(key: str) -> bool:
    """Whether a field-encryption key looks like 32 random bytes or more.

    At least 43 characters (``secrets.token_urlsafe(32)`` gives 43, ``Fernet.generate_key()`` 44,
    ``secrets.token_hex(32)`` 64) of which at least 10 differ (``aaaa...`` or ``abab...`` is
    not random). Length is what can be checked; a long phrase still passes, so generate keys.
    Used by the production settings and ``check --deploy`` (controlplane.core.checks).
    """
    return len(key) >= 43 and len(set(key)) >= 10


def local_secret(path: Path, *, nbytes: int = 48) -> str:
    """A random secret kept in a file under var/, made on first use (development only).

    Used by the quick start so a fresh checkout runs without configuration and keeps decrypting
    what it stored across restarts. Production settings never call this.
    """
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(nbytes)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return value
