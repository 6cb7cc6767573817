"""Zone rules on synthetic tracks: pure logic, with hypothesis properties (DESIGN §6)."""
from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.config import BindingConfig, Schedule, ZoneConfig
from analytics.rules import build
from analytics.tracking import Track
from analytics.zones import ZoneShape

FRAME = (1000, 1000)
CLASSES = ["person", "bicycle", "car"]
SQUARE = [(0.4, 0.4), (0.6, 0.4), (0.6, 0.6), (0.4, 0.6)]


def rule(algorithm: str, params: dict[str, Any], *, kind: str = "polygon", points: Any = SQUARE, direction: str = "any",
         classes: list[str] | None = None, cooldown: int = 0, schedule: Schedule | None = None) -> Any:
    zone = ZoneConfig(id=1, name="z", kind=kind, points=points, direction=direction)
    binding = BindingConfig(id=7, zone_id=1, algorithm=algorithm, params=params, target_classes=classes or ["person"],
                            min_score=0.3, cooldown_seconds=cooldown, severity="medium", schedule=schedule or Schedule())
    return build(binding, ZoneShape(zone, FRAME), CLASSES)


def track(tid: int, x: float, y: float, cls: int = 0, t: float = 0.0) -> Track:
    """A 40x100 px box whose bottom-centre (the anchor) is at normalised (x, y)."""
    px, py = x * FRAME[0], y * FRAME[1]
    return Track(id=tid, box=(px - 20, py - 100, px + 20, py), score=0.9, cls=cls, confirmed=True, hits=5,
                 first_seen=0.0, last_seen=t)


def run(r: Any, path: list[tuple[float, float]], dt: float = 0.2, tid: int = 1, cls: int = 0) -> list[Any]:
    events = []
    for i, (x, y) in enumerate(path):
        events += r.update(1000 + i * dt, [track(tid, x, y, cls, 1000 + i * dt)])
    return events


unit = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(unit, unit), min_size=1, max_size=60))
def test_a_track_that_never_enters_the_zone_never_raises_intrusion(path: list[tuple[float, float]]) -> None:
    outside = [(x, y) for x, y in path if not (0.4 <= x <= 0.6 and 0.4 <= y <= 0.6)]
    assert run(rule("intrusion", {"min_dwell": 0.0}), outside) == []


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=0.05, max_value=0.35), st.floats(min_value=0.65, max_value=0.95), st.floats(min_value=0.1, max_value=0.9),
       st.integers(min_value=3, max_value=30))
def test_a_track_that_crosses_a_line_once_counts_once_in_the_right_direction(start: float, end: float, y: float, steps: int) -> None:
    line = [(0.5, 0.0), (0.5, 1.0)]  # looking down the image: x > 0.5 is on the left
    path = [(start + (end - start) * i / steps, y) for i in range(steps + 1)]  # west to east: right -> left
    wanted = rule("line_crossing", {"min_distance": 0.02}, kind="line", points=line, direction="right_to_left")
    unwanted = rule("line_crossing", {"min_distance": 0.02}, kind="line", points=line, direction="left_to_right")
    events = run(wanted, path)
    assert len(events) == 1 and events[0].details["direction"] == "right_to_left"
    assert run(unwanted, path) == []
    assert unwanted.counts == {"left_to_right": 0, "right_to_left": 1}  # counted both ways regardless


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(min_value=-0.015, max_value=0.015), min_size=2, max_size=80))
def test_jitter_around_a_line_never_counts(offsets: list[float]) -> None:
    r = rule("line_crossing", {"min_distance": 0.02}, kind="line", points=[(0.5, 0.0), (0.5, 1.0)])
    assert run(r, [(0.5 + o, 0.5) for o in offsets]) == []


def test_intrusion_needs_the_dwell_time_and_raises_once_per_visit() -> None:
    r = rule("intrusion", {"min_dwell": 1.0})
    inside = [(0.5, 0.5)] * 10  # 2 s inside at 5 fps
    events = run(r, inside + [(0.9, 0.9)] * 3 + inside)
    assert len(events) == 2
    assert events[0].time - 1000 >= 1.0
    assert events[0].dedup_key != events[1].dedup_key  # a second visit is a second episode


def test_cooldown_suppresses_a_second_alarm_of_the_binding() -> None:
    r = rule("intrusion", {"min_dwell": 0.0}, cooldown=60)
    events = run(r, [(0.5, 0.5), (0.9, 0.9), (0.5, 0.5), (0.9, 0.9), (0.5, 0.5)])
    assert len(events) == 1


def test_only_target_classes_count() -> None:
    r = rule("intrusion", {"min_dwell": 0.0}, classes=["car"])
    assert run(r, [(0.5, 0.5)] * 5, cls=0) == []
    assert len(run(r, [(0.5, 0.5)] * 5, cls=2, tid=2)) == 1


def test_a_schedule_outside_its_window_raises_nothing() -> None:
    never_now = Schedule.model_validate({"timezone": "UTC", "windows": [{"days": ["mon"], "start": "03:00", "end": "03:01"}]})
    assert run(rule("intrusion", {"min_dwell": 0.0}, schedule=never_now), [(0.5, 0.5)] * 5) == []  # t=1000 s is a Thursday


def test_loitering_waits_for_its_threshold() -> None:
    r = rule("loitering", {"threshold": 3.0})
    assert run(r, [(0.5, 0.5)] * 10) == []  # 1.8 s
    r = rule("loitering", {"threshold": 3.0})
    assert len(run(r, [(0.5, 0.5)] * 20)) == 1  # 3.8 s


def test_crowding_needs_enough_people_for_long_enough() -> None:
    r = rule("crowding", {"min_count": 3, "min_duration": 1.0})
    events = []
    for i in range(10):
        t = 1000 + i * 0.2
        events += r.update(t, [track(k, 0.45 + 0.05 * k, 0.5, t=t) for k in range(3)])
    assert len(events) == 1 and events[0].details["count"] == 3


def test_absence_raises_once_when_the_post_stays_empty() -> None:
    r = rule("absence", {"threshold": 2.0, "min_count": 1})
    events = []
    for i in range(30):  # 6 s: a person for 1 s, then nobody
        t = 1000 + i * 0.2
        events += r.update(t, [track(1, 0.5, 0.5, t=t)] if i < 5 else [])
    assert len(events) == 1 and events[0].time - 1001.0 >= 2.0


def test_a_stationary_vehicle_alarms_once_and_again_only_after_moving_on() -> None:
    r = rule("stationary_vehicle", {"threshold": 2.0, "max_movement": 0.02}, classes=["car"])
    parked = [(0.5, 0.5)] * 20
    events = run(r, parked, cls=2)
    assert len(events) == 1
    assert run(r, parked, cls=2) == []  # still the same stop: no new alarm every segment


def test_rule_state_survives_a_restore_between_segments() -> None:
    first = rule("intrusion", {"min_dwell": 1.0})
    run(first, [(0.5, 0.5)] * 3)  # 0.4 s inside, then the segment ends
    second = rule("intrusion", {"min_dwell": 1.0})
    second.restore(first.state())
    events = []
    for i in range(3, 10):
        events += second.update(1000 + i * 0.2, [track(1, 0.5, 0.5)])
    assert len(events) == 1 and events[0].started == 1000.0
