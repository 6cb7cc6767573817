"""Who is changing configuration right now, and why (read by controlplane.configs to author revisions)."""
from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Actor:
    user: Any = None  # a User or None (system)
    comment: str = ""


_current: contextvars.ContextVar[Actor] = contextvars.ContextVar("panoptes_actor", default=Actor())  # noqa: B039 (frozen)


def current_actor() -> Actor:
    return _current.get()


def set_actor(user: Any, comment: str = "") -> contextvars.Token[Actor]:
    return _current.set(Actor(user=user, comment=comment))


@contextmanager
def acting_as(user: Any, comment: str = "") -> Iterator[None]:
    token = set_actor(user, comment)
    try:
        yield
    finally:
        _current.reset(token)
