"""detect_segment on real recorded segments of the shared footage (CPU, ONNX Runtime)."""
from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from analytics.detectors.store import detections_path, load
from workers.recorder import SegmentWriter

ASSETS = Path(os.environ.get("PANOPTES_ASSETS", Path(__file__).resolve().parents[2] / "shared" / "assets"))


@pytest.fixture
def recorded(live_db: Any, settings: Any, tmp_path: Path) -> Any:
    """A camera with its first 40 s of one-by-one-person-detection.mp4 recorded as 5 s segments."""
    from controlplane.cameras.models import Camera, Segment
    from controlplane.detectors.actions import register_assets_model
    from controlplane.detectors.models import DetectorModel

    settings.STORAGE_ROOT = tmp_path
    register_assets_model(DetectorModel, ASSETS)
    camera = Camera.objects.create(name="lobby", stream_url="rtsp://10.0.0.1/s", detect_fps=5)
    epoch = Camera.bump_epoch(camera.pk)
    container = av.open(str(ASSETS / "videos" / "one-by-one-person-detection.mp4"))
    writer = SegmentWriter(container.streams.video[0], tmp_path, camera.pk, 5)
    anchor = datetime(2026, 11, 23, 12, tzinfo=UTC)
    segments = []
    for packet in container.demux(container.streams.video[0]):
        done = writer.write(packet, anchor)
        if done:
            segments.append(Segment.record(camera_id=camera.pk, epoch=epoch, start_time=done.start_time,
                                           end_time=done.end_time, path=done.relative_path, size_bytes=done.size_bytes))
        if len(segments) == 8:
            break
    return camera, segments


def test_it_stores_sampled_detections_that_find_the_visitor(recorded: Any, settings: Any) -> None:
    from controlplane.cameras.models import DetectState, Segment
    from workers.detect import detect_segment

    camera, segments = recorded
    # The first visit runs over about frames 60-194, i.e. 6-19 s: segments 2-4 (5-20 s).
    for segment in segments:
        assert detect_segment(segment.pk) == "done"
    results = [load(detections_path(Path(settings.STORAGE_ROOT) / s.path)) for s in segments]
    assert all(len(r) == 25 for r in results)  # 5 s at detect_fps 5
    assert all(r.frame_size == (768, 432) for r in results)
    persons = [sum(int((d.classes == 0).sum()) for d in r.detections) for r in results]
    assert persons[0] == 0  # empty room (frames 0-49)
    assert sum(persons[1:4]) >= 40  # someone at the table for most of 5-20 s
    assert set(Segment.objects.values_list("detect_state", flat=True)) == {DetectState.DONE}


def test_running_it_twice_gives_the_same_stored_result(recorded: Any, settings: Any) -> None:
    from workers.detect import detect_segment

    _, segments = recorded
    path = detections_path(Path(settings.STORAGE_ROOT) / segments[2].path)
    detect_segment(segments[2].pk)
    first = path.read_bytes()
    detect_segment(segments[2].pk)
    assert path.read_bytes() == first


@pytest.mark.parametrize("damage", ["zero_length", "truncated", "not_video"])
def test_a_corrupt_segment_is_marked_bad_without_raising(recorded: Any, settings: Any, damage: str) -> None:
    from controlplane.cameras.models import DetectState, Segment
    from workers.detect import detect_segment

    _, segments = recorded
    path = Path(settings.STORAGE_ROOT) / segments[1].path
    data = path.read_bytes()
    path.write_bytes({"zero_length": b"", "truncated": data[: len(data) // 10], "not_video": b"<html>" * 500}[damage])
    assert detect_segment(segments[1].pk) == "bad"
    segment = Segment.objects.get(pk=segments[1].pk)
    assert segment.detect_state == DetectState.BAD and segment.detect_error


def test_a_segment_redelivered_too_often_ends_bad_instead_of_looping(recorded: Any, settings: Any) -> None:
    from controlplane.cameras.models import Segment
    from workers.detect import detect_segment

    _, segments = recorded
    Segment.objects.filter(pk=segments[0].pk).update(detect_attempts=settings.DETECT_MAX_ATTEMPTS)
    assert detect_segment(segments[0].pk) == "bad"
    assert Segment.objects.get(pk=segments[0].pk).detect_error.startswith("gave up")


def test_the_detections_file_round_trips(tmp_path: Path) -> None:
    from analytics.detectors import Detections
    from analytics.detectors.store import SegmentDetections, save

    dets = [Detections(np.array([[1, 2, 3, 4]], np.float32), np.array([0.5], np.float32), np.array([0], np.int32)), Detections.empty()]
    path = tmp_path / "x.det.npz"
    save(path, SegmentDetections(np.array([0.0, 0.2]), np.array([0, 2], np.int32), dets, (640, 480), "abc"))
    back = load(path)
    assert back.frame_size == (640, 480) and back.model == "abc" and len(back) == 2
    np.testing.assert_array_equal(back.detections[0].boxes, dets[0].boxes)
    assert len(back.detections[1]) == 0


def test_registering_the_assets_model_again_keeps_it_the_default(live_db: Any) -> None:
    from controlplane.detectors.actions import register_assets_model
    from controlplane.detectors.models import DetectorModel

    register_assets_model(DetectorModel, ASSETS)
    register_assets_model(DetectorModel, ASSETS)
    assert list(DetectorModel.objects.values_list("name", "is_default")) == [("yolox-nano", True)]
