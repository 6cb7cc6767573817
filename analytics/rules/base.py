"""What every rule shares: filters (enabled, schedule, min score, classes), cooldown, episodes.

A rule is fed each analysed frame, in time order, and returns events: ``step(t, frame)`` with
the ``Frame`` a camera's rules share (CameraAnalyzer), or ``update(t, tracks)`` with a list of
tracks. An event is one violation episode: its key (binding, track, episode) is what makes alarm
creation idempotent, so a stationary object, or a person standing in a zone, yields one event, not
one per frame. Rule state is a small JSON-able dict, saved with the tracker between segments;
``forget`` drops what it holds about tracks the tracker no longer knows (their ids never return).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from analytics.config import BindingConfig
from analytics.rules.frame import Frame, Mask
from analytics.tracking import Track, Tracks
from analytics.zones import Anchor, ZoneShape

Rows = npt.NDArray[np.intp]


@dataclass(frozen=True)
class Event:
    binding_id: int
    track_id: int | None  # None for zone-level rules (crowding, absence)
    episode: int  # the track's (or zone's) n-th violation, for people; not part of the key
    started: float  # epoch seconds the violation began (entered, stopped, crowd formed, crossed)
    time: float  # epoch seconds of the event
    object_class: int | None
    score: float | None
    box: tuple[float, float, float, float] | None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def dedup_key(self) -> str:
        """binding, track, episode: the same violation gives the same key on every re-run.

        The episode is named by its start time, not a counter, so a lost analysis state (whose
        track ids and counters start again) can never make a new violation look like an old one.
        """
        who = f"t{self.track_id}" if self.track_id is not None else "zone"
        return f"{self.binding_id}:{who}:{self.started:.2f}"


class Rule(ABC):
    slug: ClassVar[str]

    def __init__(self, binding: BindingConfig, zone: ZoneShape, class_ids: set[int], anchor: Anchor = Anchor.BOTTOM_CENTER) -> None:
        self.binding, self.zone, self.class_ids, self.anchor = binding, zone, frozenset(class_ids), anchor
        self.params = binding.params
        self.last_event_at: float | None = None  # for the binding's cooldown
        self.episodes = 0  # zone-level episode counter

    # --- shared filters ------------------------------------------------------------------------
    def active(self, t: float) -> bool:
        return self.binding.enabled and self.zone.zone.enabled and self.binding.schedule.is_active(datetime.fromtimestamp(t, UTC))

    def relevant(self, frame: Frame) -> Mask:
        """Confirmed tracks of the target classes, scoring at least the binding's min score."""
        return frame.selected(self.class_ids, self.binding.min_score)

    def inside(self, frame: Frame, mask: Mask) -> Rows:
        """Rows of the ``mask``ed tracks whose anchor lies in the zone, in the frame's order."""
        return np.flatnonzero(mask & frame.inside(self.zone, self.anchor))

    def cooled_down(self, t: float) -> bool:
        return self.last_event_at is None or t - self.last_event_at >= self.binding.cooldown_seconds

    def event(self, t: float, track: Track | None, episode: int, started: float, **details: Any) -> Event:
        self.last_event_at = t
        return Event(
            binding_id=self.binding.id, track_id=track.id if track else None, episode=episode, started=started, time=t,
            object_class=track.cls if track else None, score=track.score if track else None,
            box=track.box if track else None, details=details,
        )

    def update(self, t: float, tracks: Sequence[Track]) -> list[Event]:
        """``step`` on a frame of these tracks alone (tests, callers without a shared Frame)."""
        return self.step(t, Frame(Tracks.of(tracks), [self.zone]))

    # --- per rule --------------------------------------------------------------------------------
    @abstractmethod
    def step(self, t: float, frame: Frame) -> list[Event]: ...

    def forget(self, live: set[int]) -> None:  # noqa: B027 (zone-level rules keep nothing per track)
        """Drop per-track state of every track id not in ``live`` (the tracker's tracks, lost ones
        included): ids are never reused, so those tracks can never be seen again."""

    def state(self) -> dict[str, Any]:
        return {"last_event_at": self.last_event_at, "episodes": self.episodes}

    def restore(self, state: dict[str, Any]) -> None:
        self.last_event_at = state.get("last_event_at")
        self.episodes = state.get("episodes", 0)


class DwellRule(Rule):
    """A track inside the zone for ``seconds()`` raises one event per visit (intrusion, loitering)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.entered: dict[int, float] = {}  # track id -> time it entered
        self.visits: dict[int, int] = {}  # track id -> visit number (its episode)
        self.reported: set[int] = set()  # tracks whose current visit already raised an event

    @abstractmethod
    def seconds(self) -> float: ...

    def step(self, t: float, frame: Frame) -> list[Event]:
        rows = self.inside(frame, self.relevant(frame))
        inside = dict(zip(frame.tracks.ids[rows].tolist(), rows.tolist(), strict=True))  # track id -> row
        for tid in list(self.entered):
            # A track that is seen outside ends its visit; one merely not detected keeps it.
            if tid not in inside and tid in frame.ids:
                del self.entered[tid]
                self.reported.discard(tid)
        events = []
        for tid, row in inside.items():
            if tid not in self.entered:
                self.entered[tid] = t
                self.visits[tid] = self.visits.get(tid, 0) + 1
            dwell = t - self.entered[tid]
            if tid not in self.reported and dwell >= self.seconds() and self.active(t) and self.cooled_down(t):
                self.reported.add(tid)
                events.append(self.event(t, frame.tracks.track(row), self.visits[tid], self.entered[tid], dwell=round(dwell, 2)))
        return events

    def forget(self, live: set[int]) -> None:
        self.entered = {k: v for k, v in self.entered.items() if k in live}
        self.visits = {k: v for k, v in self.visits.items() if k in live}
        self.reported &= live

    def state(self) -> dict[str, Any]:
        return {**super().state(), "entered": {str(k): v for k, v in self.entered.items()},
                "visits": {str(k): v for k, v in self.visits.items()}, "reported": sorted(self.reported)}

    def restore(self, state: dict[str, Any]) -> None:
        super().restore(state)
        self.entered = {int(k): v for k, v in state.get("entered", {}).items()}
        self.visits = {int(k): v for k, v in state.get("visits", {}).items()}
        self.reported = set(state.get("reported", []))


class ZoneConditionRule(Rule):
    """A zone-level condition (a crowd, an empty post) held for some seconds raises one event per episode."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.since: float | None = None  # when the condition began to hold
        self.reported = False

    def held(self, t: float, holds: bool, seconds: float, **details: Any) -> list[Event]:
        if not holds:
            self.since, self.reported = None, False
            return []
        if self.since is None:
            self.since = t
            self.episodes += 1
        if not self.reported and t - self.since >= seconds and self.active(t) and self.cooled_down(t):
            self.reported = True
            return [self.event(t, None, self.episodes, self.since, **details)]
        return []

    def state(self) -> dict[str, Any]:
        return {**super().state(), "since": self.since, "reported": self.reported}

    def restore(self, state: dict[str, Any]) -> None:
        super().restore(state)
        self.since, self.reported = state.get("since"), state.get("reported", False)
