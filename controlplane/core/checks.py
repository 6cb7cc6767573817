"""Panoptes' own ``manage.py check --deploy`` warnings (DESIGN §11: clean for production settings).

- panoptes.W001: SQLite is the development database; production runs MySQL/MariaDB.
- panoptes.W002: an older PANOPTES_FIELD_KEYS key is weak (the first one is refused at start).
"""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Tags, Warning, register

from controlplane.env import is_strong_key


@register(Tags.database, Tags.security, deploy=True)
def check_database_for_production(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
        return []
    return [Warning(
        "The database is SQLite: one file on this machine, for development and the quick start. Capture, "
        "detection and alarm workers on other machines cannot share it, and it has no access control of its own.",
        hint="Set DATABASE_URL=mysql://user:password@host/panoptes (MySQL or MariaDB).",
        id="panoptes.W001",
    )]


@register(Tags.security, deploy=True)
def check_field_keys(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    weak = [i for i, key in enumerate(settings.FIELD_ENCRYPTION_KEYS) if i and not is_strong_key(key)]
    if not weak:
        return []
    return [Warning(
        f"PANOPTES_FIELD_KEYS: older key(s) number {', '.join(str(i + 1) for i in weak)} are weak "
        "(fewer than 43 characters, or fewer than 10 different ones); values encrypted with them can be guessed.",
        hint="Save every camera and webhook endpoint once (values are re-encrypted with the first key), "
        "then remove the weak key(s).",
        id="panoptes.W002",
    )]
