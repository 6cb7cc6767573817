"""``manage.py publish_config``: put the latest configuration revision back into Redis.

Run after a Redis restart (or a publish that failed while Redis was down): workers read their
configuration from Redis only (DESIGN §7). Does nothing when Redis already holds the latest version.
"""
from __future__ import annotations

from typing import Any

import redis
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from analytics.config import mask_url
from controlplane.configs import publish
from controlplane.configs.actions import ensure_published
from controlplane.core.redis import key


class Command(BaseCommand):
    help = "Republish the latest configuration revision to Redis if Redis lacks it, and print its version."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            before = publish.published_version()
            version = ensure_published()
        except redis.RedisError as exc:
            raise CommandError(f"Redis at {mask_url(settings.REDIS_URL)}: {exc}") from None
        if version is None:
            raise CommandError("the configuration could not be published to Redis (see the log above)")
        state = "was already published" if before == version else "published"
        self.stdout.write(f"config v{version} {state} ({key('config', 'version')} = {version})")
