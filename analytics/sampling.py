"""Which decoded frames a ``detect_fps`` sampling keeps (DESIGN §9), for every decoder.

The rule: a sample is the first decoded frame at or after each 1/fps slot, with times counted from
the segment's first frame (the first one that has a timestamp). A slot that passes without a frame
of its own is not filled later: one frame fills every slot up to its time. Used by
``analytics.decode`` (PyAV) and ``analytics.decode_nvdec``, so the two paths sample the same frames
from the same timestamps.
"""
from __future__ import annotations

import math
from collections.abc import Iterable

# A frame within a microsecond of its slot fills it: timestamps are exact rationals turned into
# floats, and 0.2 s steps summed in floats drift by ~1e-16 s, far below a frame interval.
EPSILON = 1e-6
# Slots skipped one at a time up to this many; past it (a gap or a wild timestamp) in one step, so
# a corrupt pts of 1e12 s cannot spin the loop. 1000 slots = 200 s at 5 fps, 40x a 5 s segment.
_MAX_STEPPED_SLOTS = 1000


class SampleClock:
    """Feed it each decoded frame's time in decode output order; it says which frames are samples."""

    def __init__(self, fps: float) -> None:
        if fps <= 0:
            raise ValueError("fps must be positive")
        self.interval = 1.0 / fps
        self.next_time = 0.0
        self.first: float | None = None

    @property
    def started(self) -> bool:
        """Whether a frame with a timestamp has been seen (the segment had a decodable frame)."""
        return self.first is not None

    def take(self, time: float) -> float | None:
        """The frame's time from the first frame if it is a sample, else None.

        ``time``: the frame's presentation time in seconds on the stream's clock, e.g.
        ``float(pts * time_base)``. Frames without a timestamp are not fed (they are never samples).
        """
        if self.first is None:
            self.first = time
        t = time - self.first
        if t + EPSILON < self.next_time:
            return None
        behind = t + EPSILON - self.next_time
        if behind > _MAX_STEPPED_SLOTS * self.interval:
            self.next_time += math.floor(behind / self.interval) * self.interval
        while self.next_time <= t + EPSILON:  # the slots this frame fills (or that passed without one)
            self.next_time += self.interval
        return t


def sample(times: Iterable[float | None], fps: float) -> list[tuple[int, float]]:
    """(index, time from the first frame) of the samples among frames with these times (None: no
    timestamp, never a sample but still counted), in order: the rule over a whole list."""
    clock = SampleClock(fps)
    picked: list[tuple[int, float]] = []
    for index, time in enumerate(times):
        if time is None:
            continue
        t = clock.take(time)
        if t is not None:
            picked.append((index, t))
    return picked
