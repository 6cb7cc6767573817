"""Line crossing on real footage: the pipeline's counts per direction against a count by eye.

vtest.avi (480x360, 10 fps, 795 frames: people walking left and right along a campus path) is
recorded as segments, detected (YOLOX-Nano, ONNX Runtime on the CPU, at detect_fps 5) and analysed
by ``analyze_segment`` with one line_crossing binding, exactly as the workers do it. Each crossing
is one alarm whose details say its direction.

The line is vertical at x = 0.23 (110 px), from y = 0.55 (198 px, the lawn below the path) up to
y = 0.28 (101 px, the parking area above it), on the quiet left part of the path, away from the
lamp post and the groups on the right. Drawn bottom to top, its left is the image's left, so
``left_to_right`` means walking from the image's left to its right.

How the hand count was made (by the test's author, before running the pipeline): every 5th frame
of the whole clip with the line drawn on it, cropped to x 30-210, y 80-210 and enlarged 2x, then
every 2nd or 3rd frame enlarged 3x around each person who came near the line, and 5x with a
pixel grid where a person turned back close to it. A crossing is counted when a person's feet go
from clearly one side to clearly the other (at least ~15 px, the binding's min_distance of 0.03
below) within the line's extent. Frame numbers are the decoded frames, at which the feet are on
the line:

right to left (6): light-blue jacket with backpack 184; dark jacket 209; dark jacket and jeans 261;
    woman in red 539; man in a dark jacket 606; blue jacket 716.
left to right (4): the dark jacket of 261 turns back at x ~80 and recrosses at 294; the woman in
    red comes back at 639; the man of 606, after standing at x ~77-90, recrosses at 657; a woman
    in a black coat coming up from the lawn crosses at 746, ~180 px down (inside the line).

Not crossings: a man in black turns back at 312-317 with his feet at x ~121-124 (12 px short);
a man in a dark jacket steps to x ~103 (7 px past the line) at 686-690 and turns back; a man
turns back at x ~165 around 390-450. Nobody else comes within 30 px of the line in the extent.

When this test was written the pipeline found 5 right to left (the dark jacket of 209, who walks
in 2.5 s behind the light-blue jacket, raised no alarm) and 4 left to right, ~0.5-1 s after the
frames above (a track counts once it is 0.03 past the line). The test takes ~5 s.
"""
from __future__ import annotations

import os
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import av
import pytest

from workers.recorder import SegmentWriter

ASSETS = Path(os.environ.get("PANOPTES_ASSETS", Path(__file__).resolve().parents[2] / "shared" / "assets"))
LINE = [[0.23, 0.55], [0.23, 0.28]]  # bottom to top: its left is the image's left
HAND_COUNT = {"left_to_right": 4, "right_to_left": 6}


@pytest.mark.slow
def test_crossings_on_the_campus_path_match_a_count_by_eye_within_one_per_direction(
    live_db: Any, settings: Any, tmp_path: Path
) -> None:
    from controlplane.alarms.models import Alarm
    from controlplane.algorithms.models import Algorithm, AlgorithmBinding
    from controlplane.cameras.models import Camera, Segment
    from controlplane.detectors.actions import register_assets_model
    from controlplane.detectors.models import DetectorModel
    from controlplane.zones.models import Zone
    from workers.analyze import analyze_segment
    from workers.detect import detect_segment

    # Given the whole clip recorded as segments (cut on its keyframes, every 25 s), a line zone
    # and a line_crossing binding counting both directions.
    settings.STORAGE_ROOT = tmp_path
    settings.ANALYSIS_GAP_WAIT = 3600
    register_assets_model(DetectorModel, ASSETS)
    camera = Camera.objects.create(name="campus", stream_url="rtsp://10.0.0.1/s", detect_fps=5)
    zone = Zone.objects.create(camera=camera, name="path", kind="line", points=LINE, direction="any")
    AlgorithmBinding.objects.create(zone=zone, algorithm=Algorithm.objects.get(slug="line_crossing"),
                                    params={"min_distance": 0.03}, cooldown_seconds=0)
    epoch = Camera.bump_epoch(camera.pk)
    segments = []
    with av.open(str(ASSETS / "videos" / "vtest.avi")) as container:
        writer = SegmentWriter(container.streams.video[0], tmp_path, camera.pk, 5)
        arrived = datetime(2026, 11, 23, 12, tzinfo=UTC)
        finished = [writer.write(packet, arrived) for packet in container.demux(container.streams.video[0])]
        finished.append(writer.close(keep=True))
    for done in filter(None, finished):
        segments.append(Segment.record(camera_id=camera.pk, epoch=epoch, start_time=done.start_time,
                                       end_time=done.end_time, path=done.relative_path, size_bytes=done.size_bytes))
    assert sum((s.end_time - s.start_time).total_seconds() for s in segments) == pytest.approx(79.5, abs=0.5)

    # When every segment is detected and analysed in order,
    for s in segments:
        assert detect_segment(s.pk) == "done"
        assert analyze_segment(s.pk).startswith("applied")

    # then the crossings per direction are within one of the count by eye.
    counted = Counter(details["direction"] for details in Alarm.objects.values_list("details", flat=True))
    for direction, expected in HAND_COUNT.items():
        assert abs(counted[direction] - expected) <= 1, (dict(counted), HAND_COUNT)
