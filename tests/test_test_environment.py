"""The suite runs where it says it runs: a guard against silently testing the dev defaults."""
from __future__ import annotations

import os
from typing import Any


def test_the_suite_uses_the_test_database_and_its_own_redis_prefix(db: Any, settings: Any) -> None:
    from django.db import connection

    wanted = os.environ["DATABASE_URL"].split("://")[0]
    assert connection.vendor == {"mysql": "mysql", "sqlite": "sqlite"}[wanted]
    assert settings.REDIS_PREFIX == os.environ["PANOPTES_REDIS_PREFIX"] != "panoptes"
    assert str(settings.VAR_DIR) == os.environ["PANOPTES_VAR_DIR"]
    assert settings.LEASE_TTL == int(os.environ["PANOPTES_LEASE_TTL"])
