"""Zone geometry validation (analytics.config), tested directly and with hypothesis."""
from __future__ import annotations

from unittest.mock import patch

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from analytics.config import ZoneKind, validate_zone_points

unit = st.floats(min_value=0, max_value=1, allow_nan=False)
SQUARE = [(0.4, 0.4), (0.6, 0.4), (0.6, 0.6), (0.4, 0.6)]


@given(st.lists(st.tuples(unit, unit), min_size=3, max_size=12))
def test_a_polygon_is_accepted_exactly_when_shapely_calls_it_simple_and_valid(points: list[tuple[float, float]]) -> None:
    from shapely.geometry import LinearRing, Polygon

    expected_ok = len(set(points)) == len(points) and LinearRing(points).is_simple and Polygon(points).is_valid and Polygon(points).area > 0
    try:
        validate_zone_points(ZoneKind.POLYGON, points)
    except ValueError:
        assert not expected_ok
    else:
        assert expected_ok


@given(st.lists(st.tuples(unit, unit), min_size=0, max_size=2))
def test_fewer_than_three_points_is_never_a_polygon(points: list[tuple[float, float]]) -> None:
    with pytest.raises(ValueError, match="at least 3 points"):
        validate_zone_points(ZoneKind.POLYGON, points)


@given(st.floats(allow_nan=False, allow_infinity=False).filter(lambda v: v < 0 or v > 1))
def test_any_coordinate_outside_the_unit_square_is_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="outside the image"):
        validate_zone_points(ZoneKind.POLYGON, [(0.1, 0.1), (bad, 0.5), (0.5, 0.9)])


def test_a_line_needs_exactly_two_distinct_points() -> None:
    assert validate_zone_points(ZoneKind.LINE, [[0, 0.5], [1, 0.5]]) == [(0.0, 0.5), (1.0, 0.5)]
    for bad in ([[0, 0]], [[0, 0], [0, 0]], [[0, 0], [0.5, 0.5], [1, 1]]):
        with pytest.raises(ValueError):
            validate_zone_points(ZoneKind.LINE, bad)


@pytest.mark.parametrize("bad", ["abc", [[0, "x"], [1, 1], [0, 1]], [[0, 0, 0], [1, 1], [0, 1]], [[True, 0], [1, 1], [0, 1]]])
def test_malformed_points_get_a_clear_error(bad: object) -> None:
    with pytest.raises(ValueError, match="pair|list"):
        validate_zone_points(ZoneKind.POLYGON, bad)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(unit, unit), min_size=3, max_size=8), st.lists(st.tuples(unit, unit), max_size=80))
def test_zone_membership_is_shapelys_with_or_without_the_bounding_boxes_first(
    corners: list[tuple[float, float]], others: list[tuple[float, float]]
) -> None:
    import numpy as np
    import shapely
    from shapely.geometry import MultiPoint

    from analytics import zones
    from analytics.config import ZoneConfig

    hull = MultiPoint(corners).convex_hull
    assume(hull.geom_type == "Polygon" and hull.area > 1e-3)
    ring = [(round(x, 4), round(y, 4)) for x, y in list(hull.exterior.coords)[:-1]]
    assume(len(set(ring)) == len(ring) >= 3)
    shapes = [zones.ZoneShape(ZoneConfig(id=k + 1, name=f"z{k}", kind="polygon", points=ring if k == 0 else SQUARE), (640, 480))
              for k in range(2)]
    # Vertices and edge midpoints (on the boundary: inside), and points anywhere.
    outline = np.asarray(ring) * (640, 480)
    points = np.concatenate([outline, (outline + np.roll(outline, 1, axis=0)) / 2, np.asarray(others).reshape(-1, 2) * (640, 480)])
    expected = np.stack([shapely.intersects_xy(shape.polygon, points[:, 0], points[:, 1]) for shape in shapes])
    for bounds_first_from in (0, 10**9):
        with patch.object(zones, "BOUNDS_FIRST_FROM", bounds_first_from):
            assert (zones.contains(shapes, points) == expected).all()
            assert (zones.contains(shapes[0], points) == expected[0]).all()
