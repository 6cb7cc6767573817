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

    Wall-clock times come from the stream's own timestamps and one anchor (the wall time of one
    stream timestamp), so segment boundaries do not drift with processing delays.

    The anchor: a packet that arrives at wall time A with stream offset O from the first packet
    implies the stream started at A - O, or earlier if it was delayed on the way. ``av.open`` reads
    ~3 s of a live stream while probing it and hands those packets over at once, so the first
    packet's arrival is ~3 s late; later packets arrive when they are sent. The anchor is the
    earliest implied start over the first ``settle_seconds`` of arrivals (the least delayed
    packet); it only ever moves earlier, and only before the first segment is finished, which is
    not cut until the anchor has settled (so no finished segment ever changes). Callers that feed
    a file at full speed (no real arrival times) keep ``settle_seconds=0``: the first packet's
    arrival is the anchor.
    """

    def __init__(
        self, in_stream: av.stream.Stream, storage_root: Path, camera_id: int, segment_seconds: float,
        settle_seconds: float = 0.0,
    ) -> None:
        self.in_stream = in_stream
        self.storage_root = storage_root
        self.camera_id = camera_id
        self.segment_seconds = segment_seconds
        self.settle_seconds = settle_seconds
        self.time_base: Fraction = in_stream.time_base or Fraction(1, 90_000)
        self._anchor: tuple[datetime, int] | None = None  # (wall time, timestamp) of the first packet
        self._first_arrival: datetime | None = None
        self._settled = settle_seconds <= 0
        self._out: av.container.OutputContainer | None = None
        self._out_stream: av.stream.Stream | None = None
        self._tmp: Path | None = None
        self._start_ts = 0  # stream timestamp of the current segment's first packet
        self._last_ts = 0
        self._last_duration = 0
        self._first_after_connect = True

    # --- time ------------------------------------------------------------------------------------
    @property
    def settled(self) -> bool:
        """The time anchor no longer moves (workers.capture reads in batches only from then on)."""
        return self._settled

    def wall_time(self, ts: int) -> datetime:
        assert self._anchor is not None
        wall, ts0 = self._anchor
        return wall + timedelta(seconds=float((ts - ts0) * self.time_base))

    def _settle(self, ts: int, arrived: datetime) -> None:
        """Move the anchor earlier if this packet implies an earlier start (see the class doc)."""
        if self._anchor is None or self._first_arrival is None:
            self._anchor, self._first_arrival = (arrived, ts), arrived
            return
        if self._settled:
            return
        wall, ts0 = self._anchor
        offset = float((ts - ts0) * self.time_base)
        # Settled after settle_seconds of arrivals; the bound on stream time ends it even for a
        # source whose arrival times do not advance (a probe burst holds at most ~5 s).
        if (arrived - self._first_arrival).total_seconds() >= self.settle_seconds or offset >= self.settle_seconds + 10:
            self._settled = True
            return
        implied = arrived - timedelta(seconds=offset)
        if implied < wall:
            self._anchor = (implied, ts0)

    @staticmethod
    def _ts(packet: av.packet.Packet) -> int | None:
        return packet.dts if packet.dts is not None else packet.pts

    # --- writing ---------------------------------------------------------------------------------
    def write(self, packet: av.packet.Packet, arrived: datetime | None = None) -> FinishedSegment | None:
        """Add a packet; returns the segment it completed, if it started a new one."""
        ts = self._ts(packet)
        if ts is None or packet.size == 0:
            return None
        if self._anchor is None or not self._settled:
            self._settle(ts, arrived or datetime.now(UTC))
        finished = None
        if self._out is None:
            if not packet.is_keyframe:
                return None  # a segment must start with a keyframe
            self._open(ts)
        elif (
            packet.is_keyframe and self._settled
            and float((ts - self._start_ts) * self.time_base) >= self.segment_seconds
        ):
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
        # Named after its start by the anchor now; the final name comes when it is finished (the
        # first segment's anchor may still move earlier). Retention removes .part files of the dead.
        provisional = self.storage_root / segment_relpath(self.camera_id, self.wall_time(ts))
        provisional.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = provisional.with_name(f".{provisional.name}.part")
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
        self._settled = True  # a finished segment's times never change
        start = self.wall_time(self._start_ts)
        relative = segment_relpath(self.camera_id, start)
        final = self.storage_root / relative
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self._tmp, final)
        segment = FinishedSegment(
            path=final,
            relative_path=relative,
            start_time=start,
            end_time=self.wall_time(end_ts),
            size_bytes=final.stat().st_size,
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
