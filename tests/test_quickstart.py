"""`manage.py quickstart` takes a fresh checkout to a working panel, and can be run again safely.

Each test runs the command in a subprocess, as a user would, with its own var/ directory (so an
SQLite database of its own: DATABASE_URL is unset) and its own Redis key prefix. No Django
database fixture is involved.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from websockets.sync.client import connect

ROOT = Path(__file__).resolve().parent.parent
# Settings the quick start must not inherit from the environment of whoever runs the tests.
SETTINGS_VARS = (
    "DATABASE_URL", "PANOPTES_ENV", "DEBUG", "SECRET_KEY", "PANOPTES_FIELD_KEYS", "ALLOWED_HOSTS",
    "STORAGE_ROOT", "STATIC_ROOT", "PANOPTES_VAR_DIR", "PANOPTES_REDIS_PREFIX",
)
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    prefix = f"test-quickstart-{uuid.uuid4().hex[:12]}"
    yield prefix
    r = redis.Redis.from_url(REDIS_URL)
    keys = list(r.scan_iter(f"{prefix}:*"))
    if keys:
        r.delete(*keys)


@pytest.fixture
def var_dir(tmp_path: Path) -> Path:
    return tmp_path / "var"


@pytest.fixture
def env(var_dir: Path, redis_prefix: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if k not in SETTINGS_VARS}
    return {
        **clean,
        "DJANGO_SETTINGS_MODULE": "controlplane.settings",
        "PANOPTES_VAR_DIR": str(var_dir),
        "PANOPTES_REDIS_PREFIX": redis_prefix,
    }


def quickstart(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "quickstart", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )


def superusers(database: Path) -> list[tuple[str, str]]:
    """(username, group) of every superuser, read straight from the SQLite file."""
    with sqlite3.connect(database) as db:
        return db.execute(
            "SELECT u.username, g.name FROM auth_user u "
            "LEFT JOIN auth_user_groups ug ON ug.user_id = u.id LEFT JOIN auth_group g ON g.id = ug.group_id "
            "WHERE u.is_superuser"
        ).fetchall()


def test_it_sets_up_a_fresh_checkout_with_the_embedded_defaults(env: dict[str, str], var_dir: Path, redis_prefix: str) -> None:
    result = quickstart(env, "--no-serve")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "http://127.0.0.1:8000/admin/" in result.stdout
    password_file = var_dir / "admin_password"
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    assert password_file.read_text().strip() in result.stdout
    assert (var_dir / "panoptes.sqlite3").is_file()
    assert superusers(var_dir / "panoptes.sqlite3") == [("admin", "admin")]
    assert redis.Redis.from_url(REDIS_URL).get(f"{redis_prefix}:config:version") == b"1"


def test_running_it_again_keeps_the_admin_and_its_password(env: dict[str, str], var_dir: Path) -> None:
    assert quickstart(env, "--no-serve").returncode == 0
    password = (var_dir / "admin_password").read_text()

    again = quickstart(env, "--no-serve")

    assert again.returncode == 0, again.stdout + again.stderr
    assert "http://127.0.0.1:8000/admin/" in again.stdout
    assert (var_dir / "admin_password").read_text() == password
    assert password.strip() not in again.stdout  # printed once, when it was made
    assert superusers(var_dir / "panoptes.sqlite3") == [("admin", "admin")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def status_of(url: str, data: bytes | None = None) -> int | None:
    """The HTTP status of a GET (or a form POST when ``data`` is given); None if nothing listens."""
    try:
        with urllib.request.urlopen(url, data=data, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, ConnectionError):
        return None


def wait_for(url: str, proc: subprocess.Popen[bytes], log: Path, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while status_of(url) is None:
        assert proc.poll() is None, f"quickstart exited with {proc.returncode}:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"nothing answered at {url}:\n{log.read_text()}"
        time.sleep(0.2)


def test_it_serves_the_panel_and_the_api_until_stopped(env: dict[str, str], var_dir: Path, tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "quickstart.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "quickstart", "--port", str(port)],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        wait_for(f"{base}/admin/login/", proc, log)

        assert status_of(f"{base}/admin/login/") == 200
        assert status_of(f"{base}/api/v1/schema/") == 200
        password = (var_dir / "admin_password").read_text().strip()
        form = urllib.parse.urlencode({"username": "admin", "password": password}).encode()
        assert status_of(f"{base}/api/v1/auth/token/", data=form) == 200
        # The panel and its WebSocket, from the same ASGI server (daphne), with its static files.
        assert status_of(f"{base}/panel/login/") == 200
        assert status_of(f"{base}/static/vendor/htmx.org/dist/htmx.min.js") == 200
        with urllib.request.urlopen(f"{base}/api/v1/auth/token/", data=form, timeout=5) as response:
            token = json.load(response)["token"]
        with connect(f"ws://127.0.0.1:{port}/ws/v1/events/", additional_headers={"Authorization": f"Token {token}"},
                     open_timeout=5) as ws:
            assert json.loads(ws.recv(timeout=5))["type"] == "hello"

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0, log.read_text()
        assert status_of(f"{base}/admin/login/") is None  # the panel stopped with it
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
