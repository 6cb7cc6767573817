"""Multi-object tracking (ByteTrack family) over a camera's detections, frame by frame.

``ByteTracker().update(detections, t) -> list[Track]`` (``step``: the same as ``Tracks`` columns);
``state()``/``restore()`` carry a camera's tracks from one segment to the next (DESIGN §5),
``reset()`` after a declared gap.
"""
from __future__ import annotations

from analytics.tracking.bytetrack import ByteTracker, Track, Tracks

__all__ = ["ByteTracker", "Track", "Tracks"]
