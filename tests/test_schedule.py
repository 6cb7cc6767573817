"""Weekly schedules with a time zone (analytics.config.Schedule)."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from analytics.config import Schedule


def test_no_windows_means_always_active() -> None:
    assert Schedule().is_active(datetime(2026, 11, 23, 3, 0, tzinfo=UTC))


def test_a_window_is_read_in_its_own_time_zone() -> None:
    office = Schedule.model_validate({"timezone": "Europe/Berlin", "windows": [{"days": ["mon"], "start": "08:00", "end": "18:00"}]})
    # 2026-11-23 is a Monday; Berlin is UTC+1 in November.
    assert not office.is_active(datetime(2026, 11, 23, 6, 59, tzinfo=UTC))
    assert office.is_active(datetime(2026, 11, 23, 7, 0, tzinfo=UTC))
    assert not office.is_active(datetime(2026, 11, 23, 17, 0, tzinfo=UTC))


def test_an_overnight_window_belongs_to_the_day_it_starts() -> None:
    night = Schedule.model_validate({"timezone": "UTC", "windows": [{"days": ["fri"], "start": "22:00", "end": "06:00"}]})
    assert night.is_active(datetime(2026, 11, 27, 23, 0, tzinfo=UTC))  # Friday night
    assert night.is_active(datetime(2026, 11, 28, 5, 59, tzinfo=UTC))  # Saturday early morning
    assert not night.is_active(datetime(2026, 11, 28, 23, 0, tzinfo=UTC))  # Saturday night
    assert not night.is_active(datetime(2026, 11, 27, 5, 0, tzinfo=UTC))  # Friday early morning


@pytest.mark.parametrize(
    "bad",
    [
        {"timezone": "Nowhere/City"},
        {"windows": [{"days": [], "start": "08:00", "end": "09:00"}]},
        {"windows": [{"days": ["funday"], "start": "08:00", "end": "09:00"}]},
        {"windows": [{"days": ["mon", "mon"], "start": "08:00", "end": "09:00"}]},
        {"windows": [{"days": ["mon"], "start": "08:00", "end": "08:00"}]},
        {"windows": [{"days": ["mon"], "start": "25:00", "end": "08:00"}]},
        {"windows": [{"days": ["mon"], "start": "08:00", "end": "09:00", "extra": 1}]},
    ],
)
def test_malformed_schedules_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Schedule.model_validate(bad)
