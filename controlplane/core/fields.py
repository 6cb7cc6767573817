"""Encrypted model field for secrets (camera credentials, webhook secrets).

Fernet (AES-128-CBC + HMAC, from `cryptography`) via MultiFernet so keys can rotate: the first
key of PANOPTES_FIELD_KEYS encrypts, all of them decrypt. Written here (30 lines) because the
Django encrypted-field packages on PyPI are unmaintained or pin old Django versions.
"""
from __future__ import annotations

import base64
import hashlib
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    # Any key material works: it is stretched to a Fernet key with SHA-256.
    return MultiFernet([Fernet(base64.urlsafe_b64encode(hashlib.sha256(k.encode()).digest())) for k in keys])


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt(value: str) -> str:
    return fernet().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise ImproperlyConfigured(
            "An encrypted field cannot be decrypted: PANOPTES_FIELD_KEYS does not hold the key it was written with"
        ) from None


class EncryptedTextField(models.TextField):  # type: ignore[type-arg]
    """Stores text encrypted; the attribute holds plain text, the column the Fernet token."""

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        return decrypt(value) if value else value

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        return encrypt(value) if value else value
