"""One analysed frame as all of a camera's rules see it, computed once and shared.

Every rule asks the same questions of a frame: which tracks are of my classes and score, where
their anchor points are, which of them lie in my zone. A camera with 12 bindings used to answer
them 12 times per frame, one polygon built per question (bench/analysis_cost.py: about half of a
segment's analysis). ``Frame`` answers each once, vectorised over the tracks (numpy columns) and
over the zones (one shapely call for every polygon of the camera), and caches the answer for the
other rules of the same frame.
"""
from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

import numpy as np
import numpy.typing as npt

from analytics.config import ZoneKind
from analytics.tracking import Tracks
from analytics.zones import Anchor, Points, ZoneShape, anchor_points, contains

Mask = npt.NDArray[np.bool_]


class Frame:
    """The tracks of one frame (``Tracks`` columns) and ``areas``, the polygon zones to test together."""

    def __init__(self, tracks: Tracks, areas: Sequence[ZoneShape] = ()) -> None:
        self.tracks = tracks
        self.areas = [shape for shape in areas if shape.zone.kind != ZoneKind.LINE]
        self._row = {id(shape): k for k, shape in enumerate(self.areas)}  # a zone's row in ``_inside``
        self._anchors: dict[Anchor, Points] = {}
        self._inside: dict[Anchor, npt.NDArray[np.bool_]] = {}  # (zones, tracks) per anchor kind
        self._selected: dict[tuple[frozenset[int], float, bool], Mask] = {}

    def __len__(self) -> int:
        return len(self.tracks)

    @cached_property
    def ids(self) -> set[int]:
        """Ids of every track of the frame (a dwell ends when its track is seen outside)."""
        return set(self.tracks.ids.tolist())

    def anchors(self, anchor: Anchor) -> Points:
        """(N, 2) anchor points of every track."""
        if anchor not in self._anchors:
            self._anchors[anchor] = anchor_points(self.tracks.boxes, anchor)
        return self._anchors[anchor]

    def selected(self, class_ids: frozenset[int], min_score: float, confirmed_only: bool = True) -> Mask:
        """Tracks of the classes scoring at least ``min_score`` (confirmed ones only, unless told)."""
        key = (class_ids, min_score, confirmed_only)
        if key not in self._selected:
            tracks = self.tracks
            mask = tracks.scores >= min_score
            of_class = np.zeros(len(tracks), np.bool_)
            for cls in class_ids:  # a few classes: cheaper than np.isin's sort
                of_class |= tracks.classes == cls
            mask &= of_class
            self._selected[key] = mask & tracks.confirmed if confirmed_only else mask
        return self._selected[key]

    def inside(self, zone: ZoneShape, anchor: Anchor) -> Mask:
        """Tracks whose anchor lies in the zone (or on its edge): every area zone of the frame is
        tested at the first question about an anchor kind; any other zone alone."""
        row = self._row.get(id(zone))
        if row is None:
            return zone.contains(self.anchors(anchor)) if len(self.tracks) else np.zeros(0, np.bool_)
        if anchor not in self._inside:
            self._inside[anchor] = contains(self.areas, self.anchors(anchor))
        inside: Mask = self._inside[anchor][row]
        return inside
