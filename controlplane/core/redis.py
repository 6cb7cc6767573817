from __future__ import annotations

from functools import lru_cache

import redis
from django.conf import settings


@lru_cache(maxsize=4)
def _client(url: str) -> redis.Redis:
    # Short timeouts: a request that publishes config must not hang on a dead Redis.
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30)


def client() -> redis.Redis:
    return _client(settings.REDIS_URL)


def key(*parts: object) -> str:
    """A Redis key under the configured prefix: key("config", "version") -> "panoptes:config:version"."""
    return ":".join([settings.REDIS_PREFIX, *(str(p) for p in parts)])
