"""Stream-copy recording into segments cut on keyframes (DESIGN §1, §3). No decoding.

``SegmentWriter`` takes demuxed video packets and writes ``segments/<camera>/<YYYY-MM-DD>/<HH>/
<start>.mp4`` files under the storage root. Each file is written under a temporary name and
renamed only once complete, so a crash leaves a ``.part`` file that nothing ever records.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import av
import av.container
import av.packet
import av.stream

from workers.storage import segment_relpath

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FinishedSegment:
    path: Path  # final absolute path
    relative_path: str  # relative to the storage root (what the Segment row stores)
    start_time: datetime
    end_time: datetime
    size_bytes: int
    discontinuity: bool  # first segment after (re)connecting: a gap may precede it


class SegmentWriter:
    """Cuts one input video stream into segments of about ``segment_seconds``, on keyframes.

    Wall-clock times come from the stream's own timestamps anchored at the first packet's arrival,
    so segment boundaries do not drift with processing delays.
    """

    def __init__(self, in_stream: av.stream.Stream, storage_root: Path, camera_id: int, segment_seconds: float) -> None:
        self.in_stream = in_stream
        self.storage_root = storage_root
        self.camera_id = camera_id
        self.segment_seconds = segment_seconds
        self.time_base: Fraction = in_stream.time_base or Fraction(1, 90_000)
        self._anchor: tuple[datetime, int] | None = None  # (wall time, pts) of the first packet
        self._out: av.container.OutputContainer | None = None
        self._out_stream: av.stream.Stream | None = None
        self._tmp: Path | None = None
        self._start_ts = 0  # stream timestamp of the current segment's first packet
        self._last_ts = 0
        self._last_duration = 0
        self._first_after_connect = True

    # --- time ------------------------------------------------------------------------------------
    def wall_time(self, ts: int) -> datetime:
        assert self._anchor is not None
        wall, ts0 = self._anchor
        return wall + timedelta(seconds=float((ts - ts0) * self.time_base))

    @staticmethod
    def _ts(packet: av.packet.Packet) -> int | None:
        return packet.dts if packet.dts is not None else packet.pts

    # --- writing ---------------------------------------------------------------------------------
    def write(self, packet: av.packet.Packet, arrived: datetime | None = None) -> FinishedSegment | None:
        """Add a packet; returns the segment it completed, if it started a new one."""
        ts = self._ts(packet)
        if ts is None or packet.size == 0:
            return None
        if self._anchor is None:
            self._anchor = (arrived or datetime.now(UTC), ts)
        finished = None
        if self._out is None:
            if not packet.is_keyframe:
                return None  # a segment must start with a keyframe
            self._open(ts)
        elif packet.is_keyframe and float((ts - self._start_ts) * self.time_base) >= self.segment_seconds:
            finished = self._finish(end_ts=ts)
            self._open(ts)
        if packet.dts is not None and ts < self._last_ts:
            logger.debug("camera %s: non-monotonic dts %s < %s dropped", self.camera_id, ts, self._last_ts)
            return finished
        self._mux(packet, ts)
        return finished

    def close(self, keep: bool) -> FinishedSegment | None:
        """End the current segment: keep it (the stream ended cleanly) or discard it (shutdown)."""
        if self._out is None:
            return None
        if keep and self._last_ts > self._start_ts:
            return self._finish(end_ts=self._last_ts + self._last_duration)
        self._abort()
        return None

    def _open(self, ts: int) -> None:
        start = self.wall_time(ts)
        relative = segment_relpath(self.camera_id, start)
        final = self.storage_root / relative
        final.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = final.with_name(f".{final.name}.part")
        self._final = final
        self._relative = relative
        self._out = av.open(str(self._tmp), "w", format="mp4")
        self._out_stream = self._out.add_stream_from_template(self.in_stream)
        self._start_ts = ts
        self._last_ts = ts

    def _mux(self, packet: av.packet.Packet, ts: int) -> None:
        assert self._out is not None and self._out_stream is not None
        # Read before muxing: mux() rescales the packet to the output's time base in place.
        duration = packet.duration or 0
        # Each file starts at timestamp 0; pts keeps its offset from dts (B-frames).
        shift = self._start_ts
        if packet.pts is not None:
            packet.pts -= shift
        if packet.dts is not None:
            packet.dts -= shift
        packet.stream = self._out_stream
        self._out.mux(packet)
        self._last_ts = max(self._last_ts, ts)
        self._last_duration = duration

    def _finish(self, end_ts: int) -> FinishedSegment | None:
        assert self._out is not None and self._tmp is not None
        try:
            self._out.close()
        except av.FFmpegError as exc:
            logger.warning("camera %s: could not finish segment: %s", self.camera_id, exc)
            self._abort()
            return None
        self._out = None
        os.replace(self._tmp, self._final)
        segment = FinishedSegment(
            path=self._final,
            relative_path=self._relative,
            start_time=self.wall_time(self._start_ts),
            end_time=self.wall_time(end_ts),
            size_bytes=self._final.stat().st_size,
            discontinuity=self._first_after_connect,
        )
        self._first_after_connect = False
        return segment

    def _abort(self) -> None:
        if self._out is not None:
            try:
                self._out.close()
            except av.FFmpegError:
                pass
            self._out = None
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
