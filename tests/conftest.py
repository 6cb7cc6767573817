"""Test environment: real MariaDB and Redis on localhost (README "Tests").

PANOPTES_TEST_DATABASE_URL picks the database (default: MariaDB at 127.0.0.1:3306 as root;
``sqlite://`` runs the suite on SQLite). Each run writes Redis keys under its own prefix and
removes them at the end; var/ is a temporary directory.
"""
from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

pytest_plugins = ["fixtures_rtsp", "fixtures_receiver"]  # real RTSP server (footage), real webhook receiver

_VAR = tempfile.mkdtemp(prefix="panoptes-test-var-")
# PANOPTES_TEST_DB_SUFFIX lets two suites run at once on one server (test_panoptes_<suffix>).
_SUFFIX = os.environ.get("PANOPTES_TEST_DB_SUFFIX", "")
os.environ["DATABASE_URL"] = os.environ.get(
    "PANOPTES_TEST_DATABASE_URL", f"mysql://root@127.0.0.1:3306/panoptes{'_' + _SUFFIX if _SUFFIX else ''}"
)
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
os.environ["PANOPTES_REDIS_PREFIX"] = f"panoptes-test-{uuid.uuid4().hex[:8]}"
os.environ["PANOPTES_VAR_DIR"] = _VAR
os.environ.pop("PANOPTES_ENV", None)
# Announcements go to a broker database of their own; capture timings short enough for tests.
os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/14")
for _name, _value in {"PANOPTES_LEASE_TTL": "4", "PANOPTES_RECONCILE_SECONDS": "1", "PANOPTES_OPEN_TIMEOUT": "3",
                      "PANOPTES_STALL_SECONDS": "3", "PANOPTES_BACKOFF_MAX": "4", "PANOPTES_SNAPSHOT_SECONDS": "2"}.items():
    os.environ.setdefault(_name, _value)
# Set here, after all the variables above, and not in pytest.ini: pytest-django would import the
# settings before this file runs, and the suite would silently use the development defaults.
os.environ["DJANGO_SETTINGS_MODULE"] = "controlplane.settings"
import django  # noqa: E402

django.setup()  # pytest-django finishes its own set-up in pytest_configure, on these settings


def pytest_configure(config: pytest.Config) -> None:
    """Fail fast, with the fix, when a service the suite needs is not there."""
    import redis

    try:
        redis.Redis.from_url(os.environ["REDIS_URL"], socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        raise pytest.UsageError(f"Redis is not reachable at {os.environ['REDIS_URL']} ({exc}); start redis-server") from None
    if os.environ["DATABASE_URL"].startswith("mysql"):
        import MySQLdb  # type: ignore[import-untyped]

        from controlplane.env import database_from_url

        db: dict[str, Any] = database_from_url(os.environ["DATABASE_URL"], default_sqlite=None)  # type: ignore[arg-type]
        try:
            MySQLdb.connect(host=db["HOST"], port=int(db["PORT"]), user=db["USER"], password=db["PASSWORD"]).close()
        except MySQLdb.OperationalError as exc:
            raise pytest.UsageError(
                f"MariaDB is not reachable ({exc}); start it, or run on SQLite with PANOPTES_TEST_DATABASE_URL=sqlite://"
            ) from None


@pytest.fixture(scope="session", autouse=True)
def _redis_cleanup() -> Iterator[None]:
    yield
    from controlplane.core.redis import client, key

    r = client()
    for k in r.scan_iter(match=key("*"), count=1000):
        r.delete(k)


@pytest.fixture
def redis_client() -> Iterator[Any]:
    """The Redis client of the code under test, with this test's keys removed afterwards."""
    from controlplane.core.redis import client, key

    r = client()
    yield r
    for k in r.scan_iter(match=key("*"), count=1000):
        r.delete(k)


@pytest.fixture
def live_db(transactional_db: None, redis_client: Any) -> Any:
    """Real commits (so on-commit publishing runs), the algorithm catalog and role groups in place."""
    from controlplane.algorithms.catalog import sync_catalog
    from controlplane.algorithms.models import Algorithm
    from controlplane.core.roles import sync_role_groups

    sync_catalog(Algorithm)
    sync_role_groups()
    return redis_client


def make_user(username: str, role: str | None) -> Any:
    from django.contrib.auth.models import Group, User

    user = User.objects.create_user(username=username, password="Panoptes-test-pw-1")
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def api(live_db: Any) -> Any:
    """A factory of authenticated API clients by role: ``api("operator")`` (token auth)."""
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    def client_for(role: str | None, username: str | None = None) -> APIClient:
        user = make_user(username or f"{role or 'nobody'}-{uuid.uuid4().hex[:6]}", role)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
        client.user = user  # type: ignore[attr-defined]
        return client

    return client_for


@pytest.fixture
def panel(live_db: Any) -> Any:
    """A factory of logged-in admin-panel clients: ``panel("operator")``; ``panel(None)`` is a superuser."""
    from django.contrib.auth.models import Group, User
    from django.test import Client

    def client_for(role: str | None, sites: list[Any] | None = None) -> Any:
        name = f"{role or 'root'}-{uuid.uuid4().hex[:6]}"
        if role is None:
            user = User.objects.create_superuser(username=name, password="Panoptes-test-pw-1")
        else:
            user = User.objects.create_user(username=name, password="Panoptes-test-pw-1", is_staff=True)
            user.groups.add(Group.objects.get(name=role))
        for site in sites or []:
            site.members.add(user)
        client = Client()
        client.force_login(user)
        client.user = user  # type: ignore[attr-defined]
        return client

    return client_for
