"""The capture loop: one camera, owned through a lease, recorded into segments (DESIGN §1, §4).

``CaptureLoop.run`` claims the camera, then repeats small steps (each returns quickly) until it
is told to stop, loses the lease, or the camera is disabled or deleted; then it releases the
lease at once. A process runs dozens of these on Celery's threads pool.
"""
from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import av
import av.codec.context
import av.container
import av.packet
import av.stream
import redis
from av.video.codeccontext import VideoCodecContext
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from analytics.config import CameraConfig, mask_text, mask_url
from controlplane.cameras.models import Camera, Segment, StaleEpochError
from controlplane.core.fields import decrypt
from controlplane.core.redis import client, key
from controlplane.core.validators import media_file_target, validate_credential
from workers.config import CameraGone, camera_config
from workers.leases import Lease, LeaseGraceError
from workers.recorder import FinishedSegment, SegmentWriter
from workers.snapshots import save_keyframe
from workers.spool import spool, spooled
from workers.status import CaptureState, write_status

logger = logging.getLogger(__name__)

#: Set when the worker shuts down (workers.tasks connects it to Celery's signal): loops drain.
SHUTDOWN = threading.Event()

PENDING_MAX = 720  # finished segments held while MySQL is down: one hour of 5 s segments
# While the database is down, record again after 0.5 s, then 1 s, then every 2 s: not at every
# packet (50 cameras retrying per packet kept a locked SQLite file locked; bench/RESULTS.md).
DB_RETRY_FIRST, DB_RETRY_MAX = 0.5, 2.0
# At stop, how long the loop keeps trying to record what it holds before it spools it
# (workers.spool): short enough for a container's 10 s stop grace, long enough for a blip.
FINAL_FLUSH_SECONDS = 5.0
# How long a new connection's time anchor may move earlier (workers.recorder): av.open hands
# over ~3 s of probed packets at once, and the first live ones arrive right after.
SETTLE_SECONDS = 2.0
# A live stream is read in batches every 0.25 s rather than frame by frame: wake-ups per camera
# drop from the frame rate (10-30/s) to ~4/s, for 0.25 s more latency on a 5 s segment.
BATCH_SECONDS = 0.25
WAITED = 0.002  # a read that took longer waited for the network: nothing was buffered


def owner_name() -> str:
    return f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"


# --- configuration change notifications ---------------------------------------------------------
class ConfigWatcher:
    """One thread per process reading the config change stream; wakes the loops it concerns.

    Used by CaptureLoop so a new version reaches its camera within about a second.
    """

    _lock = threading.Lock()
    _instance: ConfigWatcher | None = None

    def __init__(self) -> None:
        self._subscribers: dict[int, set[threading.Event]] = {}
        self._thread = threading.Thread(target=self._run, name="config-watcher", daemon=True)
        self._thread.start()

    @classmethod
    def get(cls) -> ConfigWatcher:
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def subscribe(self, camera_id: int) -> threading.Event:
        event = threading.Event()
        with self._lock:
            self._subscribers.setdefault(camera_id, set()).add(event)
        return event

    def unsubscribe(self, camera_id: int, event: threading.Event) -> None:
        with self._lock:
            self._subscribers.get(camera_id, set()).discard(event)

    def _notify(self, camera_id: int | None) -> None:
        with self._lock:
            groups = list(self._subscribers.values()) if camera_id is None else [self._subscribers.get(camera_id, set())]
            for events in groups:
                for event in events:
                    event.set()

    def _run(self) -> None:
        last_id = "$"
        while True:
            try:
                replies: Any = client().xread({key("config", "changes"): last_id}, block=1000, count=100)
            except redis.RedisError:
                self._notify(None)  # let every loop re-read (from Redis or its local copy)
                time.sleep(1)
                continue
            for _stream, events in replies or []:
                for event_id, fields in events:
                    last_id = event_id
                    scope = fields.get(b"scope", b"full")
                    self._notify(int(fields[b"camera_id"]) if scope == b"camera" else None)


# --- the loop ---------------------------------------------------------------------------------
@dataclass
class Meter:
    """Input packets and bytes over a sliding window, for the fps and bitrate in the status."""

    window: float = 5.0
    samples: deque[tuple[float, int]] = field(default_factory=deque)

    def add(self, size: int) -> None:
        now = time.monotonic()
        self.samples.append((now, size))
        while self.samples and now - self.samples[0][0] > self.window:
            self.samples.popleft()

    def rates(self) -> tuple[float, float]:
        if len(self.samples) < 2:
            return 0.0, 0.0
        span = max(self.samples[-1][0] - self.samples[0][0], 1e-3)
        return (len(self.samples) - 1) / span, 8 * sum(s for _, s in self.samples) / span


class LeaseKeeper(threading.Thread):
    """Renews the lease every TTL/5 while the loop may be blocked opening or reading a stream."""

    def __init__(self, lease: Lease) -> None:
        super().__init__(name=f"lease-{lease.camera_id}", daemon=True)
        self.lease = lease
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.lease.ttl / 5):
            if not self.lease.renew():
                return


def stream_url_with_credentials(config: CameraConfig) -> str:
    """The URL PyAV opens. It holds the password: never log it (log ``mask_url`` of it)."""
    if not config.credentials:
        return config.stream_url
    import json

    creds = json.loads(decrypt(config.credentials))
    try:  # a row stored before the API checked them: never into ffmpeg's Authorization header
        validate_credential(creds["username"] + creds["password"])
    except ValidationError:
        raise ValueError("the camera's user name or password holds a control character") from None
    parts = urlsplit(config.stream_url)
    userinfo = quote(creds["username"], safe="") + (":" + quote(creds["password"], safe="") if creds["password"] else "")
    return urlunsplit((parts.scheme, f"{userinfo}@{parts.netloc}", parts.path, parts.query, parts.fragment))


# ffmpeg protocols each scheme may use: nothing else (no file:/concat: behind an RTSP URL).
PROTOCOLS = {
    "rtsp": "rtsp,rtp,srtp,udp,tcp,tls", "rtsps": "rtsps,rtsp,rtp,srtp,udp,tcp,tls",
    "http": "http,tcp", "https": "https,http,tcp,tls", "file": "file",
}


class CaptureLoop:
    def __init__(self, camera_id: int, *, stop: threading.Event | None = None, owner: str | None = None) -> None:
        self.camera_id = camera_id
        self.stop = stop or threading.Event()
        self.redis = client()
        self.lease = Lease(self.redis, camera_id, owner or owner_name(), ttl=float(settings.LEASE_TTL))
        self.storage = Path(settings.STORAGE_ROOT)
        self.config: CameraConfig | None = None
        self.version = 0
        self.reload = threading.Event()
        self.input: av.container.InputContainer | None = None
        self.packets: Iterator[av.packet.Packet] | None = None
        self.writer: SegmentWriter | None = None
        self.state = CaptureState.CONNECTING
        self.last_error = ""
        self.reconnects = 0
        self.failures = 0  # consecutive failed connections, for the backoff
        self.retry_at = 0.0
        self.last_segment_at: datetime | None = None
        self.pending: deque[FinishedSegment] = deque(maxlen=PENDING_MAX)
        self.db_down_since: float | None = None  # monotonic start of a database outage
        self.db_retry_at = 0.0
        self.db_retry_delay = DB_RETRY_FIRST
        self.held_recorded = 0  # segments recorded since the outage began (for the recovery log)
        # The path whose record failed with a DatabaseError: the connection may have dropped while
        # the commit's reply was in flight, so its row may exist. Looked up before recording again.
        self.unconfirmed: str | None = None
        self.meter = Meter()
        self.status_at = 0.0
        self.snapshot_at = 0.0
        self.pace: tuple[float, float] | None = None  # (monotonic, stream seconds) anchor for file sources

    # --- life cycle ----------------------------------------------------------------------------
    def run(self) -> None:
        if not self.claim():
            return
        keeper = LeaseKeeper(self.lease)
        keeper.start()
        watcher = ConfigWatcher.get()
        subscription = watcher.subscribe(self.camera_id)
        self.reload = subscription
        logger.info("camera %s: recording as %s (epoch %s)", self.camera_id, self.lease.owner, self.lease.epoch)
        try:
            while self.running():
                self.step()
        except Exception:
            logger.exception("camera %s: capture loop failed", self.camera_id)
            raise
        finally:
            watcher.unsubscribe(self.camera_id, subscription)
            self.close_input(keep=self.lease.held())
            self.drain_pending()  # still renewing the lease: nobody else claims until it is done
            keeper.done.set()
            self.state = CaptureState.STOPPED
            self.publish_status(force=True)
            self.lease.release()
            logger.info("camera %s: stopped (%s)", self.camera_id, self.stop_reason())

    def claim(self) -> bool:
        """Take the camera: config says enabled, lease free, fresh epoch from MySQL in the lease."""
        if not self.load_config() or self.config is None or not self.config.enabled:
            return False
        try:
            if not self.lease.acquire():
                return False
        except (LeaseGraceError, redis.RedisError) as exc:
            logger.info("camera %s: not claimed now: %s", self.camera_id, exc)
            return False
        try:
            epoch = self.take_over()
        except (Camera.DoesNotExist, DatabaseError) as exc:
            logger.warning("camera %s: no epoch from the database (%s); giving the lease back", self.camera_id, exc)
            self.lease.release()
            return False
        return self.lease.fence(epoch)

    def take_over(self) -> int:
        """A fresh epoch, after recording what the previous owner spooled (workers.spool).

        One transaction: a spooled segment is recorded only if its epoch is still the camera's
        (no one owned the camera since its writer), then the epoch moves on, so no later owner
        can record a stale one. Entries already recorded (a crash after the commit) are dropped.
        """
        entries = spooled(self.storage, self.camera_id)
        recorded, refused = [], []
        with transaction.atomic():
            for entry in entries:
                row = Segment.objects.filter(camera_id=self.camera_id, path=entry.path).first()
                if row is not None:  # its commit went through after all: announce it if it never was
                    if row.announced_at is None:
                        recorded.append(row)
                    continue
                if not (self.storage / entry.path).is_file():
                    refused.append(entry)
                    continue
                try:
                    recorded.append(Segment.record(camera_id=self.camera_id, epoch=entry.epoch, **entry.fields))
                except StaleEpochError:
                    refused.append(entry)
            epoch = Camera.bump_epoch(self.camera_id)
        for entry in entries:
            entry.entry.unlink(missing_ok=True)
        if recorded:
            logger.info("camera %s: recorded %d segment(s) spooled by its previous owner", self.camera_id, len(recorded))
        for entry in refused:
            logger.error("camera %s: spooled segment %s (epoch %s) cannot be recorded: the camera had another owner"
                         " since, or the file is gone; left on storage, unrecorded", self.camera_id, entry.path, entry.epoch)
        for row in recorded:
            announce(row)
        return epoch

    def running(self) -> bool:
        return not (SHUTDOWN.is_set() or self.stop.is_set() or not self.lease.held() or self.config is None or not self.config.enabled)

    def stop_reason(self) -> str:
        if SHUTDOWN.is_set():
            return "worker shutdown"
        if self.stop.is_set():
            return "asked to stop"
        if self.config is None:
            return "camera deleted"
        if not self.config.enabled:
            return "camera disabled"
        return "lease lost"

    def step(self) -> bool:
        """One bounded piece of work; True if it did any."""
        if self.reload.is_set():
            self.reload.clear()
            self.apply_new_config()
        self.flush_pending()
        self.publish_status()
        if self.input is None:
            return self.connect_when_due()
        return self.read_packet()

    # --- configuration -------------------------------------------------------------------------
    def load_config(self) -> bool:
        try:
            self.version, self.config = camera_config(self.camera_id)
        except CameraGone:
            self.config = None
        except (redis.RedisError, ValueError) as exc:
            logger.warning("camera %s: keeping the current config: %s", self.camera_id, exc)
            return self.config is not None
        return True

    @staticmethod
    def capture_settings(config: CameraConfig | None) -> tuple[Any, ...]:
        return (config.stream_url, config.credentials and decrypt(config.credentials), config.segment_seconds) if config else ()

    def apply_new_config(self) -> None:
        before = self.capture_settings(self.config)
        self.load_config()
        if self.config is not None and self.capture_settings(self.config) != before:
            logger.info("camera %s: config v%s changes the stream; reopening", self.camera_id, self.version)
            self.close_input(keep=True)
            self.failures, self.retry_at = 0, 0.0

    # --- the stream ----------------------------------------------------------------------------
    def connect_when_due(self) -> bool:
        wait = self.retry_at - time.monotonic()
        if wait > 0:
            self.reload.wait(min(wait, 0.5))
            return False
        assert self.config is not None
        self.state = CaptureState.CONNECTING
        self.publish_status(force=True)
        try:
            url = stream_url_with_credentials(self.config)
        except ValueError as exc:
            self.fail(exc)
            return False
        scheme = urlsplit(url).scheme
        if scheme == "file":
            try:  # ffmpeg opens exactly the path checked now: canonical, inside PANOPTES_MEDIA_DIRS
                url = media_file_target(url)
            except ValidationError as exc:
                self.fail(ValueError("; ".join(exc.messages)))
                return False
        options = {"protocol_whitelist": PROTOCOLS.get(scheme, "")}
        if scheme in ("rtsp", "rtsps"):
            options["rtsp_transport"] = "tcp"
        if scheme in ("http", "https"):
            options["max_redirects"] = "0"  # the URL's host was checked (DESIGN §11), a redirect's never is
        if scheme != "file":
            # Stall detection by ffmpeg's own socket timeout ("timeout", in microseconds, for
            # rtsp, tcp and http since FFmpeg 5): no data for STALL_SECONDS fails the read. The
            # rtsp demuxer over TCP gives up after two of them (measured with FFmpeg 8.1: 1 s ->
            # 2.2 s, 3 s -> 6.2 s), so it gets half. Not PyAV's read timeout: its interrupt
            # callback takes the GIL at every ffmpeg I/O check (x1.3-1.6 CPU, x3-5 context
            # switches: bench/capture_demux.py). PyAV's open timeout still bounds the whole open
            # (its callback returns at once, without the GIL, once the open is over).
            seconds = settings.STALL_SECONDS / (2 if scheme in ("rtsp", "rtsps") else 1)
            options["timeout"] = str(int(seconds * 1_000_000))
        try:
            container = av.open(url, options=options, timeout=(float(settings.OPEN_TIMEOUT), None))
            if not container.streams.video:
                container.close()
                raise ValueError("the stream has no video")
            video = container.streams.video[0]
        except (av.FFmpegError, OSError, ValueError) as exc:
            self.fail(exc)
            return False
        self.input = container
        self.packets = container.demux(video)
        self.writer = SegmentWriter(video, self.storage, self.camera_id, self.config.segment_seconds, settle_seconds=SETTLE_SECONDS)
        self.pace = None if scheme != "file" else (time.monotonic(), -1.0)
        self.state = CaptureState.STREAMING
        self.last_error = ""
        logger.info("camera %s: streaming %s", self.camera_id, mask_url(url))
        return True

    def fail(self, exc: BaseException) -> None:
        """A failed open or a broken stream: say why, back off (capped, jittered), try again."""
        assert self.config is not None
        # ffmpeg's messages quote the URL it opened, password included: keep only the reason.
        reason = exc.strerror if isinstance(exc, av.FFmpegError) and exc.strerror else str(exc)
        self.last_error = mask_text(reason)
        self.failures += 1
        self.reconnects += 1
        delay = min(float(settings.BACKOFF_MAX), 2.0 ** (self.failures - 1)) * random.uniform(0.8, 1.2)
        self.retry_at = time.monotonic() + delay
        self.state = CaptureState.BACKOFF
        logger.warning("camera %s: %s; retrying in %.1f s", self.camera_id, self.last_error, delay)
        self.publish_status(force=True)

    def read_packet(self) -> bool:
        assert self.packets is not None and self.writer is not None
        asked = time.monotonic()
        try:
            packet = next(self.packets)
        except StopIteration:
            self.close_input(keep=True)
            self.fail(EOFError("the stream ended"))
            return False
        except (av.FFmpegError, OSError) as exc:
            self.close_input(keep=True)
            self.fail(exc)
            return False
        if packet.size == 0:
            return False
        self.pace_file_source(packet)
        arrived = datetime.now(UTC)  # after pacing: a file's packet "arrives" when it is due
        self.meter.add(packet.size)
        if packet.is_keyframe and time.monotonic() - self.snapshot_at >= settings.SNAPSHOT_SECONDS:
            self.snapshot_at = time.monotonic()
            self.save_snapshot(packet)
        finished = self.writer.write(packet, arrived)
        if finished is not None:
            self.pending.append(finished)
            self.flush_pending()
        if self.pace is None and self.writer.settled and time.monotonic() - asked > WAITED:
            # Caught up with a live stream (this read waited for data): let packets gather in the
            # socket for a moment and take them in one go, instead of one thread wake-up and GIL
            # hand-over per frame. Not while the time anchor settles: it needs true arrivals.
            self.reload.wait(BATCH_SECONDS)
        return True

    def pace_file_source(self, packet: av.packet.Packet) -> None:
        """Files are read at their own frame rate, like a camera (the demo and tests use them)."""
        if self.pace is None or packet.dts is None or packet.time_base is None:
            return
        stream_seconds = float(packet.dts * packet.time_base)
        started, first = self.pace
        if first < 0:
            self.pace = (time.monotonic(), stream_seconds)
            return
        delay = started + (stream_seconds - first) - time.monotonic()
        if delay > 0:
            self.reload.wait(min(delay, 1.0))

    def close_input(self, keep: bool) -> None:
        if self.writer is not None:
            finished = self.writer.close(keep=keep)
            if finished is not None:
                self.pending.append(finished)
            self.writer = None
        if self.input is not None:
            try:
                self.input.close()
            except av.FFmpegError:
                pass
            self.input = None
            self.packets = None

    # --- outputs ---------------------------------------------------------------------------------
    def flush_pending(self) -> bool:
        """Record finished segments (oldest first); True when none is left held.

        While the database is unreachable they are held, retried after DB_RETRY_FIRST and then
        every DB_RETRY_MAX seconds; the outage is logged once when it starts and once when it ends.
        """
        if not self.pending:
            return True
        if time.monotonic() < self.db_retry_at:
            return False
        while self.pending:
            segment = self.pending[0]
            try:
                row = self.recorded_row(segment.relative_path) or Segment.record(
                    camera_id=self.camera_id, epoch=self.lease.epoch, start_time=segment.start_time,
                    end_time=segment.end_time, path=segment.relative_path, size_bytes=segment.size_bytes,
                    discontinuity=segment.discontinuity,
                )
            except StaleEpochError as exc:
                logger.warning("camera %s: %s; discarding %s", self.camera_id, exc, segment.relative_path)
                segment.path.unlink(missing_ok=True)
                self.pending.popleft()
                self.lease.lose()  # another owner took over: stop
                continue
            except DatabaseError as exc:
                self.unconfirmed = segment.relative_path
                self.database_down(exc)
                return False
            self.pending.popleft()
            self.unconfirmed = None
            self.failures = 0
            self.last_segment_at = segment.end_time
            if self.db_down_since is not None:
                self.held_recorded += 1
            announce(row)
        if self.db_down_since is not None:
            logger.info("camera %s: database back after %.0f s; recorded the %d segment(s) held meanwhile",
                        self.camera_id, time.monotonic() - self.db_down_since, self.held_recorded)
            self.db_down_since, self.db_retry_at, self.held_recorded = None, 0.0, 0
        return True

    def recorded_row(self, path: str) -> Segment | None:
        """The row of a segment whose last record attempt may have committed after all, else None."""
        if path != self.unconfirmed:
            return None
        row = Segment.objects.filter(camera_id=self.camera_id, path=path).first()
        if row is not None:
            logger.info("camera %s: %s was recorded although its commit was not confirmed", self.camera_id, path)
        return row

    def database_down(self, exc: DatabaseError) -> None:
        now = time.monotonic()
        if self.db_down_since is None:
            self.db_down_since, self.db_retry_delay = now, DB_RETRY_FIRST
            logger.warning("camera %s: database unavailable (%s); holding finished segments until it is back",
                           self.camera_id, mask_text(str(exc)))
        else:
            self.db_retry_delay = min(2 * self.db_retry_delay, DB_RETRY_MAX)
        self.db_retry_at = now + self.db_retry_delay
        # A connection that failed stays broken in this thread (no request cycle closes it here).
        try:
            connection.close_if_unusable_or_obsolete()
        except DatabaseError:
            connection.close()

    def drain_pending(self) -> None:
        """At stop: keep trying to record for FINAL_FLUSH_SECONDS, then spool what is left.

        Spooled segments (workers.spool) are recorded by the camera's next owner, if no one else
        owned the camera in between; the files stay where they are either way.
        """
        deadline = time.monotonic() + FINAL_FLUSH_SECONDS
        self.db_retry_at = 0.0
        while not self.flush_pending() and self.db_retry_at < deadline:
            time.sleep(max(0.0, self.db_retry_at - time.monotonic()))
        if not self.pending:
            return
        paths = [s.relative_path for s in self.pending]
        try:
            for segment in self.pending:
                spool(self.storage, self.camera_id, self.lease.epoch, segment)
        except OSError as exc:
            logger.error("camera %s: the database is still unavailable and spooling failed (%s); %d complete"
                         " segment file(s) left unrecorded: %s", self.camera_id, exc, len(paths), ", ".join(paths))
            return
        # The unconfirmed one may already have a row; the next owner looks before recording it.
        unconfirmed = f" ({self.unconfirmed}: its commit was not confirmed)" if self.unconfirmed in paths else ""
        logger.error("camera %s: the database is still unavailable; %d complete segment file(s) spooled for the"
                     " camera's next owner to record%s: %s", self.camera_id, len(paths), unconfirmed, ", ".join(paths))
        self.pending.clear()

    def save_snapshot(self, packet: av.packet.Packet) -> None:
        """Keep the keyframe for the camera's latest picture, decoded only when asked for (workers.snapshots)."""
        assert self.writer is not None
        codec = self.writer.in_stream.codec_context
        assert isinstance(codec, VideoCodecContext)  # the recorder takes the video stream only
        try:
            save_keyframe(self.camera_id, codec, packet)
        except OSError as exc:
            logger.debug("camera %s: keyframe not saved: %s", self.camera_id, exc)

    def publish_status(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.status_at < 1.0:
            return
        self.status_at = now
        fps, bitrate = self.meter.rates() if self.state == CaptureState.STREAMING else (0.0, 0.0)
        try:
            write_status(self.redis, self.camera_id, {
                "state": self.state.value, "worker": self.lease.owner, "epoch": self.lease.epoch,
                "input_fps": f"{fps:.2f}", "bitrate": int(bitrate), "last_error": self.last_error,
                "last_segment_at": self.last_segment_at.isoformat() if self.last_segment_at else "",
                "reconnects": self.reconnects, "config_version": self.version,
            })
        except redis.RedisError:
            pass  # status is best effort; the lease keeper notices a Redis outage that matters


def announce(segment: Segment) -> None:
    """Tell the gpu queue about a recorded segment (ids and paths only, never frames).

    A failed announcement leaves ``announced_at`` empty; the supervisor announces it again.
    Not added to the parent task: Celery appends each task sent from inside a running task to
    that task's ``request.children``, and the capture task runs for days, so every segment kept
    an AsyncResult (~1 KB: 0.65 MB/min for 50 cameras; tests/test_capture_memory.py).
    """
    from workers.celery import app

    try:
        app.send_task(
            "panoptes.detect_segment", args=[segment.pk],
            kwargs={"camera_id": segment.camera_id, "seq": segment.seq, "path": segment.path}, queue="gpu",
            add_to_parent=False,
        )
    except Exception as exc:  # kombu raises many kinds of errors on a broker outage
        logger.warning("segment %s: not announced (%s); the supervisor will retry", segment.pk, exc)
        return
    try:
        Segment.objects.filter(pk=segment.pk).update(announced_at=timezone.now())
    except DatabaseError:
        pass  # announced twice at worst: the supervisor announces it again, and detection is idempotent


