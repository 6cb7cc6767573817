"""The stream-copy recorder on real footage: keyframe cuts, complete files, nothing decoded, live time stamps."""
from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import pytest

from workers.recorder import FinishedSegment, SegmentWriter
from workers.storage import segment_relpath

ASSETS = Path(__file__).resolve().parents[2] / "shared" / "assets" / "videos"


def record(video: str, root: Path, seconds: float) -> list:  # type: ignore[type-arg]
    container = av.open(str(ASSETS / video))
    stream = container.streams.video[0]
    writer = SegmentWriter(stream, root, camera_id=7, segment_seconds=seconds)
    anchor = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    finished = [s for p in container.demux(stream) if (s := writer.write(p, anchor)) is not None]
    last = writer.close(keep=True)
    return finished + ([last] if last else [])


@pytest.mark.parametrize(("video", "frames", "gop_seconds"), [("one-by-one-person-detection.mp4", 1394, 1.0), ("vtest.avi", 795, 25.0)])
def test_segments_start_on_keyframes_and_together_hold_every_frame(tmp_path: Path, video: str, frames: int, gop_seconds: float) -> None:
    segments = record(video, tmp_path, seconds=5)

    decoded = 0
    for seg in segments:
        with av.open(str(seg.path)) as c:
            packets = [p for p in c.demux(c.streams.video[0]) if p.size]
            assert packets[0].is_keyframe
        with av.open(str(seg.path)) as c:
            decoded += sum(1 for _ in c.decode(video=0))
    assert decoded == frames
    # Each segment is at least the asked length (cut at the next keyframe), except the last.
    for seg in segments[:-1]:
        assert 5 <= (seg.end_time - seg.start_time).total_seconds() < 5 + gop_seconds + 0.01
    # Back to back: each segment starts where the previous ended.
    assert all(a.end_time == b.start_time for a, b in zip(segments, segments[1:], strict=False))
    assert segments[0].discontinuity and not any(s.discontinuity for s in segments[1:])


def test_files_appear_complete_or_not_at_all(tmp_path: Path) -> None:
    container = av.open(str(ASSETS / "one-by-one-person-detection.mp4"))
    stream = container.streams.video[0]
    writer = SegmentWriter(stream, tmp_path, camera_id=7, segment_seconds=5)
    for i, packet in enumerate(container.demux(stream)):
        writer.write(packet)
        if i == 30:
            break
    in_progress = list(tmp_path.rglob("*"))
    assert [p.name for p in in_progress if p.is_file()][0].endswith(".mp4.part")  # still a temporary name
    assert writer.close(keep=False) is None  # a shutdown discards the partial segment
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_paths_follow_the_storage_layout(tmp_path: Path) -> None:
    segments = record("one-by-one-person-detection.mp4", tmp_path, seconds=5)
    assert segments[0].relative_path == "segments/7/2026-11-23/12/20261123T120000.000Z.mp4"
    assert segments[1].relative_path == "segments/7/2026-11-23/12/20261123T120005.000Z.mp4"


# --- the time anchor of a live stream ------------------------------------------------------------
CAPTURED = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # when the camera sent the first packet
BURST = 2.6  # seconds of stream that av.open read while probing, handed over at once (measured)


def record_live(root: Path, segment_seconds: float, delay: Callable[[int, float], float]) -> list[FinishedSegment]:
    """Feed real footage as a live stream: packet i at stream offset t arrives at CAPTURED + t + delay(i, t),
    except the probe burst, which arrives all at once when av.open returns."""
    container = av.open(str(ASSETS / "one-by-one-person-detection.mp4"))
    stream = container.streams.video[0]
    writer = SegmentWriter(stream, root, camera_id=7, segment_seconds=segment_seconds, settle_seconds=2)
    finished, first = [], None
    for i, packet in enumerate(container.demux(stream)):
        if packet.dts is None:
            continue
        first = packet.dts if first is None else first
        t = float((packet.dts - first) * packet.time_base)
        arrived = CAPTURED + timedelta(seconds=max(t, BURST) + delay(i, t))
        if (segment := writer.write(packet, arrived)) is not None:
            finished.append(segment)
            # Returned as final: its times are those of its name and never change afterwards.
            assert segment.relative_path == segment_relpath(7, segment.start_time)
        if t > 30:
            break
    return finished


def test_a_live_streams_segments_are_stamped_when_captured_not_when_the_probe_burst_arrives(tmp_path: Path) -> None:
    jitter = random.Random(3)
    # Given: 2.6 s of packets handed over at once, then live packets 10-90 ms late (at least one 10 ms).
    segments = record_live(tmp_path, 5, lambda i, t: 0.010 if i == 40 else jitter.uniform(0.010, 0.090))

    # Then: the first segment starts when its first frame was captured (within the least delay),
    # not 2.6 s later, and every later one follows it back to back.
    assert abs((segments[0].start_time - CAPTURED).total_seconds() - 0.010) < 0.001
    assert all(a.end_time == b.start_time for a, b in zip(segments, segments[1:], strict=False))
    for seg in segments[1:]:
        assert 5 <= (seg.end_time - seg.start_time).total_seconds() < 6.01


def test_late_packets_never_move_the_anchor_later(tmp_path: Path) -> None:
    # Given: no burst lateness for the very first packet, then packets up to 1.5 s late.
    segments = record_live(tmp_path, 5, lambda i, t: -BURST if i == 0 else (1.5 if i % 3 else 0.2))

    assert segments[0].start_time == CAPTURED  # the first packet was the least delayed


def test_short_segments_are_not_cut_before_the_anchor_settles(tmp_path: Path) -> None:
    # Given: 1 s segments, shorter than the 2.6 s probe burst.
    segments = record_live(tmp_path, 1, lambda i, t: 0.02)

    # Then: the first one (a discontinuity anyway) lasts until the anchor settled, and all are stamped right.
    assert abs((segments[0].start_time - CAPTURED).total_seconds() - 0.02) < 0.001
    assert (segments[0].end_time - segments[0].start_time).total_seconds() >= BURST
    assert all(1 <= (s.end_time - s.start_time).total_seconds() < 2.01 for s in segments[1:])
    assert all(a.end_time == b.start_time for a, b in zip(segments, segments[1:], strict=False))
