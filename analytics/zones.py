"""Zones in pixels: normalised polygons and lines scaled to a camera's frame size (DESIGN §6).

An object's position is one point of its box, the anchor (bottom-centre by default: where a
person stands). Mask zones suppress the detections whose anchor lies inside them.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import Polygon

from analytics.config import LineDirection, ZoneConfig, ZoneKind

Boxes = npt.NDArray[np.float32]
Points = npt.NDArray[np.float64]


class Anchor(StrEnum):
    BOTTOM_CENTER = "bottom_center"
    CENTER = "center"
    TOP_CENTER = "top_center"


def anchor_points(boxes: Boxes | npt.NDArray[np.float64] | Sequence[tuple[float, float, float, float]],
                  anchor: Anchor = Anchor.BOTTOM_CENTER) -> Points:
    """(N, 2) points of (N, 4) x1, y1, x2, y2 boxes."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    points = np.empty((boxes.shape[0], 2))
    points[:, 0] = (boxes[:, 0] + boxes[:, 2]) / 2
    if anchor == Anchor.BOTTOM_CENTER:
        points[:, 1] = boxes[:, 3]
    elif anchor == Anchor.CENTER:
        points[:, 1] = (boxes[:, 1] + boxes[:, 3]) / 2
    else:
        points[:, 1] = boxes[:, 1]
    return points


@dataclass(frozen=True)
class ZoneShape:
    """A zone scaled to a frame: ``contains`` for areas, ``side`` for lines. Coordinates in pixels.

    The polygon is built and prepared once, here: ``contains`` runs for every zone on every
    analysed frame (CameraAnalyzer.feed), and building it per call, with the anchor points, was a
    fifth to a third of a 12-rule camera's analysis (bench/RESULTS.md, cProfile).
    """

    zone: ZoneConfig
    frame_size: tuple[int, int]
    scale: npt.NDArray[np.float64] = field(init=False, repr=False, compare=False)
    points: Points = field(init=False, repr=False, compare=False)
    polygon: Polygon | None = field(init=False, repr=False, compare=False)  # None for a line
    # A line's first point and its vector to the second, normalised (``side``); zeros for a polygon.
    line: tuple[Points, Points, float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        scale = np.asarray(self.frame_size, np.float64)
        points = np.asarray(self.zone.points, np.float64) * scale
        scale.setflags(write=False)
        points.setflags(write=False)
        polygon, line = None, (np.zeros(2), np.zeros(2), 0.0)
        if self.zone.kind != ZoneKind.LINE:
            polygon = Polygon(points)
            shapely.prepare(polygon)
        else:
            a, b = np.asarray(self.zone.points, np.float64)
            line = (a, b - a, float(np.hypot(*(b - a))))
        object.__setattr__(self, "line", line)
        object.__setattr__(self, "scale", scale)
        object.__setattr__(self, "points", points)
        object.__setattr__(self, "polygon", polygon)

    def contains(self, points: Points) -> npt.NDArray[np.bool_]:
        """Which points lie inside (or on the edge of) the polygon; vectorised by shapely."""
        return contains(self, points)

    def side(self, points: Points) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """(signed distance from the line in normalised units, position along it in [0, 1]) per point.

        Looking from the line's first point towards its second (image y pointing down), a negative
        distance is on the left, a positive one on the right.
        """
        if self.zone.kind != ZoneKind.LINE:
            raise ValueError("only a line has sides")
        a, ab, length = self.line
        p = points / self.scale
        cross = ab[0] * (p[:, 1] - a[1]) - ab[1] * (p[:, 0] - a[0])
        along = ((p - a) @ ab) / (length * length)
        return cross / length, along


# (zones x points) from which ``contains`` first drops the points outside each zone's bounding box:
# measured, 11 zones x 200 points 63 -> 31 us, but 11 x 10 points 10 -> 14 us.
BOUNDS_FIRST_FROM = 512


def contains(zones: ZoneShape | Sequence[ZoneShape], points: Points) -> npt.NDArray[np.bool_]:
    """Which points lie inside (or on the edge of) each polygon: (N,) for one zone, (Z, N) for a
    sequence, in one vectorised shapely call over the prepared polygons (used by rules.Frame to
    test every zone of a camera at once)."""
    shapes = [zones] if isinstance(zones, ZoneShape) else list(zones)
    if any(shape.polygon is None for shape in shapes):
        raise ValueError("a line has no inside")
    polygons = np.empty(len(shapes), dtype=object)
    polygons[:] = [shape.polygon for shape in shapes]
    x, y = points[:, 0], points[:, 1]
    if len(shapes) * len(points) < BOUNDS_FIRST_FROM:
        flags = np.asarray(shapely.intersects_xy(polygons[:, None], x[None, :], y[None, :]), dtype=bool)
    else:  # only the points within a zone's bounding box (edges included) can be in it
        bounds = np.asarray([shape.polygon.bounds for shape in shapes if shape.polygon is not None]).reshape(-1, 4)
        near = (x >= bounds[:, 0:1]) & (x <= bounds[:, 2:3]) & (y >= bounds[:, 1:2]) & (y <= bounds[:, 3:4])
        zone, point = np.nonzero(near)
        flags = np.zeros(near.shape, np.bool_)
        flags[zone, point] = shapely.intersects_xy(polygons[zone], x[point], y[point])
    flags = flags.reshape(len(shapes), points.shape[0])
    return flags[0] if isinstance(zones, ZoneShape) else flags


def crossing_counts(direction: LineDirection, before: float, after: float) -> bool:
    """Whether moving from side ``before`` to side ``after`` (signs) counts for ``direction``."""
    if before == 0 or after == 0 or np.sign(before) == np.sign(after):
        return False
    left_to_right = before < 0 < after
    return direction == LineDirection.ANY or (direction == LineDirection.LEFT_TO_RIGHT) == left_to_right


def unmasked(boxes: Boxes, masks: list[ZoneShape], anchor: Anchor = Anchor.BOTTOM_CENTER) -> npt.NDArray[np.bool_]:
    """True for the boxes whose anchor is outside every mask zone."""
    if not len(boxes) or not masks:
        return np.ones(len(boxes), dtype=bool)
    return np.asarray(~contains(masks, anchor_points(boxes, anchor)).any(axis=0), dtype=bool)
