"""Alarm media files (snapshot JPEG, replay MP4) and the signed, expiring links to them.

Webhook receivers get links they can open without a Panoptes account: the token is the alarm and
the file kind signed with the SECRET_KEY (``django.core.signing``), valid for
``PANOPTES_MEDIA_URL_TTL`` seconds. Panel users and API clients use the authenticated
``/api/v1/alarms/<id>/snapshot/`` and ``/replay/`` instead.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from django.conf import settings
from django.core import signing
from django.urls import reverse

MediaKind = Literal["snapshot", "replay"]
SALT = "panoptes.alarm-media"


def snapshot_relpath(alarm_id: int) -> str:
    return f"alarms/{alarm_id // 1000}/{alarm_id}.jpg"


def replay_relpath(alarm_id: int) -> str:
    return f"alarms/{alarm_id // 1000}/{alarm_id}.mp4"


def absolute(relative: str) -> Path:
    return Path(settings.STORAGE_ROOT) / relative


def sign(alarm_id: int, kind: MediaKind) -> str:
    return signing.TimestampSigner(salt=SALT).sign_object({"a": alarm_id, "k": kind}, compress=False)


def unsign(token: str) -> tuple[int, MediaKind]:
    """(alarm id, kind) of a valid token; raises signing.BadSignature (or SignatureExpired)."""
    value = signing.TimestampSigner(salt=SALT).unsign_object(token, max_age=settings.MEDIA_URL_TTL)
    if not isinstance(value, dict) or value.get("k") not in ("snapshot", "replay") or not isinstance(value.get("a"), int):
        raise signing.BadSignature("malformed media token")
    return value["a"], value["k"]


def signed_url(alarm_id: int, kind: MediaKind) -> str:
    return settings.PUBLIC_URL + reverse("alarm-media", args=[sign(alarm_id, kind)])
