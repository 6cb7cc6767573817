"""Zones in pixels: normalised polygons and lines scaled to a camera's frame size (DESIGN §6).

An object's position is one point of its box, the anchor (bottom-centre by default: where a
person stands). Mask zones suppress the detections whose anchor lies inside them.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
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
    x = (boxes[:, 0] + boxes[:, 2]) / 2
    y = {Anchor.BOTTOM_CENTER: boxes[:, 3], Anchor.CENTER: (boxes[:, 1] + boxes[:, 3]) / 2, Anchor.TOP_CENTER: boxes[:, 1]}[anchor]
    return np.stack([x, y], axis=1)


@dataclass(frozen=True)
class ZoneShape:
    """A zone scaled to a frame: ``contains`` for areas, ``side`` for lines. Coordinates in pixels."""

    zone: ZoneConfig
    frame_size: tuple[int, int]

    @property
    def scale(self) -> npt.NDArray[np.float64]:
        return np.asarray(self.frame_size, np.float64)

    @property
    def points(self) -> Points:
        return np.asarray(self.zone.points, np.float64) * self.scale

    def contains(self, points: Points) -> npt.NDArray[np.bool_]:
        """Which points lie inside (or on the edge of) the polygon; vectorised by shapely."""
        if self.zone.kind == ZoneKind.LINE:
            raise ValueError("a line has no inside")
        polygon = Polygon(self.points)
        return np.asarray(shapely.intersects_xy(polygon, points[:, 0], points[:, 1]), dtype=bool)

    def side(self, points: Points) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """(signed distance from the line in normalised units, position along it in [0, 1]) per point.

        Looking from the line's first point towards its second (image y pointing down), a negative
        distance is on the left, a positive one on the right.
        """
        if self.zone.kind != ZoneKind.LINE:
            raise ValueError("only a line has sides")
        a, b = np.asarray(self.zone.points, np.float64)
        p = points / self.scale
        ab = b - a
        length = float(np.hypot(*ab))
        cross = ab[0] * (p[:, 1] - a[1]) - ab[1] * (p[:, 0] - a[0])
        along = ((p - a) @ ab) / (length * length)
        return cross / length, along


def crossing_counts(direction: LineDirection, before: float, after: float) -> bool:
    """Whether moving from side ``before`` to side ``after`` (signs) counts for ``direction``."""
    if before == 0 or after == 0 or np.sign(before) == np.sign(after):
        return False
    left_to_right = before < 0 < after
    return direction == LineDirection.ANY or (direction == LineDirection.LEFT_TO_RIGHT) == left_to_right


def unmasked(boxes: Boxes, masks: list[ZoneShape], anchor: Anchor = Anchor.BOTTOM_CENTER) -> npt.NDArray[np.bool_]:
    """True for the boxes whose anchor is outside every mask zone."""
    keep = np.ones(len(boxes), dtype=bool)
    if len(boxes):
        points = anchor_points(boxes, anchor)
        for mask in masks:
            keep &= ~mask.contains(points)
    return keep
