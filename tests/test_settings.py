"""Settings from the environment: strict helpers, and a production profile that passes check --deploy."""
from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from controlplane.env import database_from_url, env_bool, env_int

ROOT = Path(__file__).resolve().parent.parent


def _manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    # DJANGO_ALLOW_ASYNC_UNSAFE: set by the browser tests' fixture while Playwright runs; check --deploy refuses it.
    skip = ("PANOPTES_", "DATABASE_URL", "SECRET_KEY", "DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE")
    base = {k: v for k, v in os.environ.items() if not k.startswith(skip)}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=120)


def _production_env(tmp_path: Path) -> dict[str, str]:
    return {
        "PANOPTES_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "PANOPTES_FIELD_KEYS": secrets.token_urlsafe(32),
        "ALLOWED_HOSTS": "panoptes.example.com",
        "PANOPTES_VAR_DIR": str(tmp_path),
        "DATABASE_URL": "mysql://panoptes@db.example.com/panoptes",  # check does not connect
    }


def test_production_settings_pass_check_deploy_at_warning_level(tmp_path: Path) -> None:
    result = _manage(_production_env(tmp_path), "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize("missing", ["SECRET_KEY", "PANOPTES_FIELD_KEYS", "ALLOWED_HOSTS"])
def test_production_refuses_to_start_without_its_secrets_and_hosts(tmp_path: Path, missing: str) -> None:
    env = _production_env(tmp_path)
    del env[missing]
    result = _manage(env, "check")
    assert result.returncode != 0
    assert missing in result.stderr
    assert not any(tmp_path.iterdir())  # no development secret was generated in its place


def test_env_helpers_refuse_malformed_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_BOOL", "perhaps")
    with pytest.raises(ImproperlyConfigured, match="X_BOOL"):
        env_bool("X_BOOL")
    monkeypatch.setenv("X_INT", "ten")
    with pytest.raises(ImproperlyConfigured, match="X_INT"):
        env_int("X_INT", 1)
    monkeypatch.setenv("X_INT", "-1")
    with pytest.raises(ImproperlyConfigured, match=">= 0"):
        env_int("X_INT", 1, minimum=0)


def test_database_urls_map_to_django_settings(tmp_path: Path) -> None:
    mysql = database_from_url("mysql://u:p%40ss@db.example:3307/panoptes", default_sqlite=tmp_path / "x.sqlite3")
    assert (mysql["ENGINE"], mysql["HOST"], mysql["PORT"], mysql["USER"], mysql["PASSWORD"], mysql["NAME"]) == (
        "django.db.backends.mysql", "db.example", "3307", "u", "p@ss", "panoptes",
    )
    assert mysql["OPTIONS"]["connect_timeout"] == 5  # type: ignore[index]
    slow = database_from_url("mysql://u@db.example/panoptes?connect_timeout=20", default_sqlite=tmp_path / "x.sqlite3")
    assert slow["OPTIONS"]["connect_timeout"] == 20  # type: ignore[index]  (an int, as mysqlclient wants)
    assert database_from_url("", default_sqlite=tmp_path / "x.sqlite3")["NAME"] == str(tmp_path / "x.sqlite3")
    with pytest.raises(ImproperlyConfigured, match="postgres"):
        database_from_url("postgres://x/y", default_sqlite=tmp_path / "x.sqlite3")
    with pytest.raises(ImproperlyConfigured, match="name a database"):
        database_from_url("mysql://root@localhost", default_sqlite=tmp_path / "x.sqlite3")


@pytest.mark.parametrize(("env", "error"), [
    ({"PANOPTES_DECODER": "nvdec"}, "PANOPTES_DECODER=nvdec needs PANOPTES_DETECTOR_BACKEND=torch"),
    ({"PANOPTES_DECODER": "nvdec", "PANOPTES_DETECTOR_BACKEND": "tensorrt"}, "got PANOPTES_DETECTOR_BACKEND='tensorrt'"),
    ({"PANOPTES_DECODER": "ffmpeg"}, "PANOPTES_DECODER must be pyav or nvdec"),
    ({"PANOPTES_DECODER": "nvdec", "PANOPTES_DETECTOR_BACKEND": "torch"}, ""),
])
def test_nvdec_decoding_is_accepted_only_with_the_torch_backend(tmp_path: Path, env: dict[str, str], error: str) -> None:
    result = _manage({"PANOPTES_VAR_DIR": str(tmp_path), **env}, "check")

    assert (result.returncode == 0) == (not error), result.stderr[-2000:]
    assert error in result.stderr


@pytest.mark.parametrize("key", [
    "x",  # the finding: one character was accepted
    "correct-horse-battery",  # a phrase, not 32 random bytes
    "a" * 64,  # long, but one character repeated
    "abababababababababababababababababababababababab",
])
def test_production_refuses_a_weak_field_key(tmp_path: Path, key: str) -> None:
    env = {**_production_env(tmp_path), "PANOPTES_FIELD_KEYS": key}

    result = _manage(env, "check")

    assert result.returncode != 0
    assert "PANOPTES_FIELD_KEYS" in result.stderr
    assert len(key) == 1 or key not in result.stderr  # the key is never echoed


@pytest.mark.parametrize("key", [
    secrets.token_urlsafe(32),  # 43 characters
    "Fernet",  # Fernet.generate_key(), filled in below
    secrets.token_hex(32),  # 64 hexadecimal digits
])
def test_production_accepts_fernet_keys_and_32_random_bytes(tmp_path: Path, key: str) -> None:
    from cryptography.fernet import Fernet

    key = Fernet.generate_key().decode() if key == "Fernet" else key
    result = _manage({**_production_env(tmp_path), "PANOPTES_FIELD_KEYS": key}, "check", "--deploy",
                     "--fail-level", "WARNING")

    assert result.returncode == 0, result.stderr


def test_a_weak_older_field_key_still_decrypts_but_check_deploy_says_to_retire_it(tmp_path: Path) -> None:
    env = {**_production_env(tmp_path), "PANOPTES_FIELD_KEYS": f"{secrets.token_urlsafe(32)},old"}

    started = _manage(env, "check")
    deploy = _manage(env, "check", "--deploy", "--fail-level", "WARNING")

    assert started.returncode == 0, started.stderr
    assert deploy.returncode != 0 and "panoptes.W002" in deploy.stderr + deploy.stdout


def test_check_deploy_warns_that_sqlite_is_not_for_production(tmp_path: Path) -> None:
    env = _production_env(tmp_path)
    del env["DATABASE_URL"]

    result = _manage(env, "check", "--deploy", "--fail-level", "WARNING")

    assert result.returncode != 0
    assert "panoptes.W001" in result.stderr + result.stdout and "SQLite" in result.stderr + result.stdout


_CONTENT_TYPE_OF_API_PAGE = (
    "from django.test import Client; "
    "r = Client().get('/api/v1/cameras/', HTTP_ACCEPT='text/html,application/xhtml+xml,*/*;q=0.8', "
    "HTTP_HOST='panoptes.example.com', secure=True); "
    "print(r.status_code, r['Content-Type'])"
)


def test_production_serves_no_browsable_api(tmp_path: Path) -> None:
    """A browser asking for HTML (and anything else) gets JSON in production."""
    production = _manage(_production_env(tmp_path), "shell", "-v", "0", "-c", _CONTENT_TYPE_OF_API_PAGE)
    development = _manage({"PANOPTES_VAR_DIR": str(tmp_path), "ALLOWED_HOSTS": "panoptes.example.com"},
                          "shell", "-v", "0", "-c", _CONTENT_TYPE_OF_API_PAGE)

    assert production.stdout.split() == ["401", "application/json"], production.stderr
    assert development.stdout.split()[1] == "text/html;", development.stderr  # a browser gets the browsable API
