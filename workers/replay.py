"""An alarm's media: the snapshot (event frame with zone and box drawn) and the replay clip (DESIGN §6).

The replay covers [event - pre, event + post] (the binding's window, else the camera's; 15 s + 15 s
by default). It is cut by stream copy from the recorded segments, starting at the keyframe at or
before the window start, once a recorded segment reaches the window end (segment rows exist only
for complete files), or after ``PANOPTES_REPLAY_WAIT`` seconds with what exists (a broken stream),
saying on the alarm what is missing. It is written under a temporary name, its duration read back,
and only then stored on the alarm and announced (``alarm.replay_ready``).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.container
import av.packet
import av.stream
import cv2
import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from controlplane.alarms import media
from controlplane.alarms.choices import AlarmEventType, ReplayStatus
from controlplane.alarms.models import Alarm
from controlplane.cameras.models import Segment
from controlplane.panel.events import publish_alarm_after_commit
from workers.delivery import create_deliveries, send_after_commit
from workers.storage import write_atomically

logger = logging.getLogger(__name__)

GAP_TOLERANCE = 1.0  # seconds between segments that still count as continuous
ZONE_COLOUR = (0, 200, 255)  # BGR: amber
BOX_COLOUR = (0, 0, 255)  # BGR: red
SNAPSHOT_MAX_WIDTH = 1280


# --- snapshot ------------------------------------------------------------------------------------
def ensure_snapshot(alarm: Alarm) -> bool:
    """Render the alarm's snapshot if it has none; False when no recorded frame is available."""
    if alarm.snapshot_path:
        return True
    segment = (Segment.objects.filter(camera_id=alarm.camera_id, start_time__lte=alarm.event_time,
                                      end_time__gte=alarm.event_time).order_by("-seq").first()
               or Segment.objects.filter(camera_id=alarm.camera_id, start_time__lte=alarm.event_time)
               .order_by("-start_time").first())
    if segment is None:
        logger.warning("alarm %s: no segment holds its event time; no snapshot", alarm.pk)
        return False
    offset = (alarm.event_time - segment.start_time).total_seconds()
    try:
        frame = frame_at(Path(settings.STORAGE_ROOT) / segment.path, offset)
    except (av.FFmpegError, OSError, ValueError) as exc:
        logger.warning("alarm %s: snapshot from %s failed: %s", alarm.pk, segment.path, exc)
        return False
    jpeg = render_snapshot(frame, alarm)
    relative = media.snapshot_relpath(alarm.pk)
    write_atomically(media.absolute(relative), jpeg)
    Alarm.objects.filter(pk=alarm.pk).update(snapshot_path=relative)
    alarm.snapshot_path = relative
    return True


def frame_at(path: Path, offset: float) -> np.ndarray[Any, np.dtype[np.uint8]]:
    """The decoded frame nearest ``offset`` seconds after the file's first frame (BGR)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        best: tuple[float, Any] | None = None
        first: float | None = None
        for frame in container.decode(stream):
            if frame.pts is None or frame.time_base is None:
                continue
            t = float(frame.pts * frame.time_base)
            first = t if first is None else first
            distance = abs(t - first - offset)
            if best is None or distance < best[0]:
                best = (distance, frame)
            elif t - first > offset:
                break  # past the event and getting further away
        if best is None:
            raise ValueError("no decodable frame")
        image: np.ndarray[Any, np.dtype[np.uint8]] = best[1].to_ndarray(format="bgr24")  # type: ignore[assignment]
        return image


def render_snapshot(image: np.ndarray[Any, np.dtype[np.uint8]], alarm: Alarm) -> bytes:
    """JPEG of the frame with the zone (as configured at the event) and the object's box drawn."""
    height, width = image.shape[:2]
    scale = min(1.0, SNAPSHOT_MAX_WIDTH / width)
    if scale < 1.0:
        image = cv2.resize(image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)  # type: ignore[assignment]
        height, width = image.shape[:2]
    else:
        image = image.copy()
    details = alarm.details
    points = details.get("zone_points") or (alarm.zone.points if alarm.zone else None)
    thickness = max(2, width // 400)
    if points:
        polygon = np.array([[x * width, y * height] for x, y in points], dtype=np.int32)
        overlay = image.copy()
        if len(polygon) >= 3:
            cv2.fillPoly(overlay, [polygon], ZONE_COLOUR)
            image = cv2.addWeighted(overlay, 0.2, image, 0.8, 0)  # type: ignore[assignment]
        cv2.polylines(image, [polygon], isClosed=len(polygon) >= 3, color=ZONE_COLOUR, thickness=thickness)
    box = details.get("box")
    if box:
        # Boxes are in the detection frame's pixels (the camera's detect size); scale to this frame.
        det_w, det_h = details.get("frame_size") or (width / scale, height / scale)
        sx, sy = width / det_w, height / det_h
        x1, y1, x2, y2 = box
        cv2.rectangle(image, (round(x1 * sx), round(y1 * sy)), (round(x2 * sx), round(y2 * sy)), BOX_COLOUR, thickness)
        label = f"{alarm.object_class} {alarm.score:.2f}" if alarm.score is not None else alarm.object_class
        if label:
            cv2.putText(image, label, (round(x1 * sx), max(12, round(y1 * sy) - 6)), cv2.FONT_HERSHEY_SIMPLEX,
                        0.5 * max(1.0, width / 960), BOX_COLOUR, max(1, thickness // 2), cv2.LINE_AA)
    ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return bytes(jpeg.tobytes())


# --- replay --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Clip:
    start: datetime | None  # wall time of the first frame written; None: nothing could be written
    seconds: float
    gaps: list[str]


def cut_replay(alarm_id: int) -> str:
    alarm = Alarm.objects.select_related("camera", "binding").filter(pk=alarm_id).first()
    if alarm is None or alarm.replay_status != ReplayStatus.PENDING:
        return "done"
    pre, post = alarm.replay_window()
    start = alarm.event_time - timedelta(seconds=pre)
    end = alarm.event_time + timedelta(seconds=post)
    last = Segment.objects.filter(camera_id=alarm.camera_id).order_by("-seq").only("end_time").first()
    complete = last is not None and last.end_time >= end
    if not complete and timezone.now() < end + timedelta(seconds=settings.REPLAY_WAIT):
        return "waiting for the post-roll"
    segments = list(Segment.objects.filter(camera_id=alarm.camera_id, end_time__gt=start, start_time__lt=end).order_by("seq"))
    relative = media.replay_relpath(alarm.pk)
    clip = None
    if segments:
        try:
            clip = cut(segments, start, end, media.absolute(relative))
        except (av.FFmpegError, OSError, ValueError) as exc:  # writing the clip failed (disk full, ...)
            logger.warning("alarm %s: replay cut failed: %s", alarm.pk, exc)
            return finish(alarm, ReplayStatus.MISSING, note=f"the replay could not be written: {exc}"[:500])
    if clip is None or clip.start is None:
        unreadable = [g for g in clip.gaps if "could not be read" in g] if clip else []
        return finish(alarm, ReplayStatus.MISSING, note="; ".join(unreadable)[:500] or "nothing was recorded in the replay window")
    status = ReplayStatus.PARTIAL if clip.gaps else ReplayStatus.READY
    return finish(alarm, status, note="; ".join(clip.gaps)[:500], path=relative, clip=clip)


def finish(alarm: Alarm, status: str, *, note: str = "", path: str = "", clip: Clip | None = None) -> str:
    with transaction.atomic():
        updated = Alarm.objects.filter(pk=alarm.pk, replay_status=ReplayStatus.PENDING).update(
            replay_status=status, replay_note=note, replay_path=path,
            replay_start=clip.start if clip else None, replay_seconds=round(clip.seconds, 3) if clip else None,
        )
        if not updated:
            return "done"  # another worker finished it first
        if path:
            alarm.refresh_from_db()
            send_after_commit(create_deliveries(alarm, AlarmEventType.REPLAY_READY))
            publish_alarm_after_commit(alarm.pk, AlarmEventType.REPLAY_READY)
    logger.info("alarm %s: replay %s%s", alarm.pk, status, f" ({note})" if note else "")
    return status


def cut(segments: list[Segment], start: datetime, end: datetime, out_path: Path) -> Clip:
    """Stream-copy the packets of ``segments`` covering [start, end) into one MP4, and say what is missing."""
    root = Path(settings.STORAGE_ROOT)
    gaps = []
    if segments[0].start_time - start > timedelta(seconds=GAP_TOLERANCE):
        gaps.append(f"no video for {(segments[0].start_time - start).total_seconds():.1f} s before the first segment")
    for before, after in zip(segments, segments[1:], strict=False):
        hole = (after.start_time - before.end_time).total_seconds()
        if after.seq != before.seq + 1 or hole > GAP_TOLERANCE or after.discontinuity:
            gaps.append(f"stream broken between {before.end_time:%H:%M:%S} and {after.start_time:%H:%M:%S}")
    if end - segments[-1].end_time > timedelta(seconds=GAP_TOLERANCE):
        gaps.append(f"no video for the last {(end - segments[-1].end_time).total_seconds():.1f} s")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.{os.getpid()}.part")
    writer = _ClipWriter(tmp)
    try:
        for segment in segments:
            try:
                writer.add(root / segment.path, segment.start_time, start, end)
            except (av.FFmpegError, OSError, IndexError) as exc:  # IndexError: a file with no video stream
                gaps.append(f"segment {segment.seq} could not be read ({type(exc).__name__})")
        clip_start = writer.close()
    except BaseException:
        writer.abort()
        raise
    if clip_start is None:
        tmp.unlink(missing_ok=True)
        return Clip(None, 0.0, gaps)
    seconds = probe_duration(tmp)
    if seconds <= 0:
        tmp.unlink(missing_ok=True)
        raise ValueError("the cut clip has no duration")
    os.replace(tmp, out_path)
    return Clip(clip_start, seconds, gaps)


class _ClipWriter:
    """Copies packets in decode order; the clip begins at the keyframe at or before the window start."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.out: av.container.OutputContainer | None = None
        self.out_stream: av.stream.Stream | None = None
        self.extradata: bytes | None = None
        self.origin: datetime | None = None  # wall time of the clip's timestamp 0
        self.last_dts: float = -1.0  # seconds from origin
        self.stopped = False

    def add(self, path: Path, segment_start: datetime, start: datetime, end: datetime) -> None:
        if self.stopped:
            return
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            tb: Fraction = stream.time_base or Fraction(1, 90_000)
            if self.extradata is not None and stream.codec_context.extradata != self.extradata:
                self.stopped = True  # the stream changed (resolution, codec): a clip cannot span it
                return
            gop: list[av.packet.Packet] = []  # packets since the last keyframe, before the window starts
            first_ts: int | None = None
            for packet in container.demux(stream):
                ts = packet.dts if packet.dts is not None else packet.pts
                if ts is None or packet.size == 0:
                    continue
                first_ts = ts if first_ts is None else first_ts
                wall = segment_start + timedelta(seconds=float((ts - first_ts) * tb))
                if wall >= end:
                    self.stopped = True
                    return
                if self.out is None and wall < start:
                    if packet.is_keyframe:
                        gop = [packet]
                    elif gop:
                        gop.append(packet)
                    continue
                if self.out is None:
                    if not gop and not packet.is_keyframe:
                        continue  # a clip must start on a keyframe
                    self._open(stream)
                    for held in gop:
                        self._mux(held, segment_start, first_ts, tb)
                    gop = []
                self._mux(packet, segment_start, first_ts, tb)

    def _open(self, stream: av.stream.Stream) -> None:
        self.out = av.open(str(self.path), "w", format="mp4", options={"movflags": "+faststart"})
        self.out_stream = self.out.add_stream_from_template(stream)
        self.extradata = stream.codec_context.extradata

    def _mux(self, packet: av.packet.Packet, segment_start: datetime, first_ts: int, tb: Fraction) -> None:
        assert self.out is not None and self.out_stream is not None
        dts_ticks = packet.dts if packet.dts is not None else packet.pts
        assert dts_ticks is not None
        if self.origin is None:
            self.origin = segment_start + timedelta(seconds=float((dts_ticks - first_ts) * tb))
        seconds = (segment_start - self.origin).total_seconds() + float((dts_ticks - first_ts) * tb)
        if seconds <= self.last_dts:
            return  # overlapping segments (a reconnect re-anchored the clock): keep decode order strict
        self.last_dts = seconds
        shift = round(seconds / tb) - dts_ticks
        if packet.pts is not None:
            packet.pts += shift
        packet.dts = dts_ticks + shift
        packet.stream = self.out_stream
        self.out.mux(packet)

    def close(self) -> datetime | None:
        if self.out is None:
            return None
        self.out.close()
        self.out = None
        return self.origin

    def abort(self) -> None:
        if self.out is not None:
            try:
                self.out.close()
            except av.FFmpegError:
                pass
            self.out = None
        self.path.unlink(missing_ok=True)


def probe_duration(path: Path) -> float:
    """Seconds from the first to past the last frame, read back from the written file."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        tb = stream.time_base or Fraction(1, 90_000)
        first = last = None
        duration = 0
        for packet in container.demux(stream):
            if packet.pts is None:
                continue
            first = packet.pts if first is None else min(first, packet.pts)
            if last is None or packet.pts >= last:
                last, duration = packet.pts, packet.duration or 0
        if first is None or last is None:
            return 0.0
        return float((last + duration - first) * tb)
