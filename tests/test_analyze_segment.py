"""analyze_segment on the shared footage: intrusion alarms for people who enter, in order, once.

one-by-one-person-detection.mp4: people come in one at a time and stand at a table; the visits
run over about 6-19 s, 23-44 s and 50-70 s (assets README). The zone covers the floor in front
of the table, where a visitor's feet (the box's bottom centre) are.
"""
from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import av
import pytest

from workers.recorder import SegmentWriter

ASSETS = Path(os.environ.get("PANOPTES_ASSETS", Path(__file__).resolve().parents[2] / "shared" / "assets"))
FLOOR = [[0.40, 0.70], [0.85, 0.70], [0.85, 1.0], [0.40, 1.0]]
_DETECTED: dict[int, bytes] = {}  # segment index -> its .det.npz (detect_segment is deterministic)


@pytest.fixture
def detected(live_db: Any, settings: Any, tmp_path: Path) -> Any:
    """The first 60 s recorded as 12 segments of 5 s, detected; a floor zone with intrusion bound."""
    from analytics.detectors.store import detections_path
    from controlplane.algorithms.models import Algorithm, AlgorithmBinding
    from controlplane.cameras.models import Camera, DetectState, Segment
    from controlplane.detectors.actions import register_assets_model
    from controlplane.detectors.models import DetectorModel
    from controlplane.zones.models import Zone
    from workers.detect import detect_segment

    settings.STORAGE_ROOT = tmp_path
    settings.ANALYSIS_GAP_WAIT = 3600
    register_assets_model(DetectorModel, ASSETS)
    camera = Camera.objects.create(name="lobby", stream_url="rtsp://10.0.0.1/s", detect_fps=5)
    zone = Zone.objects.create(camera=camera, name="floor", points=FLOOR)
    binding = AlgorithmBinding.objects.create(zone=zone, algorithm=Algorithm.objects.get(slug="intrusion"),
                                              params={"min_dwell": 1.0}, cooldown_seconds=0)
    epoch = Camera.bump_epoch(camera.pk)
    container = av.open(str(ASSETS / "videos" / "one-by-one-person-detection.mp4"))
    writer = SegmentWriter(container.streams.video[0], tmp_path, camera.pk, 5)
    segments = []
    # Recorded "now": replay and gap waits compare segment times with the clock (a fixed date
    # made the post-roll test pass only before that date's noon).
    recorded_at = datetime.now(UTC).replace(microsecond=0)
    for packet in container.demux(container.streams.video[0]):
        done = writer.write(packet, recorded_at)
        if done:
            segments.append(Segment.record(camera_id=camera.pk, epoch=epoch, start_time=done.start_time,
                                           end_time=done.end_time, path=done.relative_path, size_bytes=done.size_bytes))
            if len(segments) == 12:
                break
    for i, s in enumerate(segments):
        npz = detections_path(tmp_path / s.path)
        if i in _DETECTED:  # detections of the same frames, from an earlier test: the same bytes
            npz.write_bytes(_DETECTED[i])
            Segment.objects.filter(pk=s.pk).update(detect_state=DetectState.DONE)
        else:
            assert detect_segment(s.pk) == "done"
            _DETECTED[i] = npz.read_bytes()
    return camera, binding, segments


def _alarms() -> list[tuple[str, str]]:
    from controlplane.alarms.models import Alarm

    return sorted(Alarm.objects.values_list("dedup_key", "algorithm"))


def test_people_who_enter_the_zone_raise_one_intrusion_alarm_each(detected: Any) -> None:
    from controlplane.alarms.models import Alarm
    from workers.analyze import analyze_segment

    camera, binding, segments = detected
    for s in segments:
        assert analyze_segment(s.pk).startswith("applied")
    alarms = list(Alarm.objects.order_by("event_time"))
    offsets = [(a.event_time - segments[0].start_time).total_seconds() for a in alarms]
    assert len(alarms) == 3, offsets  # three visitors in the first minute
    assert [round(o) for o in offsets] == pytest.approx([8, 25, 52], abs=4)
    assert all(a.object_class == "person" and a.zone_name == "floor" and a.binding_id == binding.pk for a in alarms)
    assert all(a.details["track"] and a.details["box"] for a in alarms)  # the track's boxes around the event


def test_running_a_segment_twice_or_out_of_order_changes_nothing(detected: Any) -> None:
    from workers.analyze import Defer, analyze_segment, state_key

    _, _, segments = detected
    with pytest.raises(Defer):
        analyze_segment(segments[1].pk)  # seq 2 before seq 1: deferred, not applied
    for s in segments[:6]:
        analyze_segment(s.pk)
    after_six = _alarms()
    assert analyze_segment(segments[3].pk) == "duplicate"
    assert _alarms() == after_six

    # A crash after the alarms were written but before the state was saved: the re-run finds them.
    from controlplane.core.redis import client

    r = client()
    saved = r.get(state_key(segments[0].camera_id))
    analyze_segment(segments[6].pk)
    with_seventh = _alarms()
    r.set(state_key(segments[0].camera_id), saved)
    analyze_segment(segments[6].pk)
    assert _alarms() == with_seventh


def test_a_cooldown_keeps_the_binding_quiet(detected: Any) -> None:
    from controlplane.algorithms.models import AlgorithmBinding
    from workers.analyze import analyze_segment

    _, binding, segments = detected
    binding.cooldown_seconds = 600
    AlgorithmBinding.objects.filter(pk=binding.pk).update(cooldown_seconds=600)
    binding.save()  # publish the change
    for s in segments:
        analyze_segment(s.pk)
    assert len(_alarms()) == 1


def _move_the_zone_away(zone_id: int) -> Any:
    """An edit (a new revision, published): the zone moves to the top-left corner, where nobody walks."""
    from controlplane.configs.models import ConfigRevision
    from controlplane.zones.models import Zone

    zone = Zone.objects.get(pk=zone_id)
    zone.points = [[0.0, 0.0], [0.1, 0.0], [0.1, 0.1], [0.0, 0.1]]
    zone.save()
    return ConfigRevision.objects.order_by("-version").first()


def test_segments_are_analysed_with_the_zones_of_their_own_time(detected: Any) -> None:
    from controlplane.configs.models import ConfigRevision
    from workers.analyze import analyze_segment

    # Given the zone as it was while the minute was recorded, then moved away one hour later
    # (revision times set as they would have been around the recorded minute),
    _, binding, segments = detected
    ConfigRevision.objects.update(created_at=segments[0].start_time - timedelta(hours=1))
    edit = _move_the_zone_away(binding.zone_id)
    ConfigRevision.objects.filter(pk=edit.pk).update(created_at=segments[-1].end_time + timedelta(hours=1))

    # when the minute is analysed (late, or again) after the edit,
    for s in segments:
        assert analyze_segment(s.pk).startswith("applied")

    # then its analysis used the zone of its time: the three visitors raised their alarms.
    assert len(_alarms()) == 3


def test_segments_recorded_after_an_edit_are_analysed_with_the_new_zones(detected: Any) -> None:
    from controlplane.configs.models import ConfigRevision
    from workers.analyze import analyze_segment

    _, binding, segments = detected
    ConfigRevision.objects.update(created_at=segments[0].start_time - timedelta(hours=2))
    edit = _move_the_zone_away(binding.zone_id)
    ConfigRevision.objects.filter(pk=edit.pk).update(created_at=segments[0].start_time - timedelta(hours=1))
    for s in segments:
        assert analyze_segment(s.pk).startswith("applied")
    assert _alarms() == []
