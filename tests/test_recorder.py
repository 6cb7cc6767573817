"""The stream-copy recorder on real footage: keyframe cuts, complete files, nothing decoded."""
from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import av
import pytest

from workers.recorder import SegmentWriter

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
