"""Camera leases on real Redis: one owner at a time, compare-and-extend, compare-and-delete."""
from __future__ import annotations

import time
from typing import Any

import pytest

from workers.leases import Lease, LeaseGraceError, current_owner


@pytest.fixture
def redis_up(redis_client: Any) -> Any:
    """A Redis whose lease boot marker is old enough: no restart grace in force."""
    from controlplane.core.redis import key

    redis_client.set(key("lease", "boot"), 0)
    return redis_client


def test_only_one_owner_holds_a_camera(redis_up: Any) -> None:
    first = Lease(redis_up, 1, "worker-a", ttl=5)
    second = Lease(redis_up, 1, "worker-b", ttl=5)
    assert first.acquire()
    assert not second.acquire()
    assert first.fence(42)
    assert current_owner(redis_up, 1) == "worker-a:42"


def test_a_lease_not_renewed_expires_and_another_owner_takes_the_camera(redis_up: Any) -> None:
    first = Lease(redis_up, 2, "worker-a", ttl=3, margin=1)
    assert first.acquire()
    time.sleep(3.2)
    assert not first.held()  # its own clock says it lost the camera
    second = Lease(redis_up, 2, "worker-b", ttl=3)
    assert second.acquire()
    assert not first.renew()  # compare-and-extend: never extends someone else's lease
    first.release()  # compare-and-delete: never deletes someone else's lease
    assert current_owner(redis_up, 2) == "worker-b:0"


def test_renewing_keeps_the_lease_past_its_ttl(redis_up: Any) -> None:
    lease = Lease(redis_up, 3, "worker-a", ttl=3, margin=1)
    assert lease.acquire()
    for _ in range(4):
        time.sleep(1)
        assert lease.renew()
    assert lease.held()
    lease.release()
    assert current_owner(redis_up, 3) is None


def test_no_lease_is_granted_for_one_ttl_after_a_redis_restart(redis_client: Any) -> None:
    from controlplane.core.redis import key

    redis_client.delete(key("lease", "boot"))  # what a restarted Redis (no persistence) looks like
    lease = Lease(redis_client, 4, "worker-a", ttl=3)
    with pytest.raises(LeaseGraceError):
        lease.acquire()
    time.sleep(3.1)
    assert lease.acquire()
