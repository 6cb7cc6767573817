"""Alarm media on the shared footage: snapshot with zone and box, replay cut by stream copy, phase two.

Uses test_analyze_segment's recording of one-by-one-person-detection.mp4 (12 segments of 5 s,
detected, a floor zone with intrusion bound): three visitors raise alarms at about 8, 25 and 52 s.
"""
from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest
from test_analyze_segment import detected  # noqa: F401 (a fixture)


@pytest.fixture
def alarms(detected: Any, webhook_receiver: Any) -> Any:  # noqa: F811
    """The three alarms, with a webhook endpoint that got their outbox rows."""
    from controlplane.alarms.models import Alarm, WebhookEndpoint
    from workers.analyze import analyze_segment

    camera, binding, segments = detected
    receiver = webhook_receiver()
    WebhookEndpoint.objects.create(name="soc", url=receiver.url("/hook"), secret="a-plain-secret-of-some-length")
    for s in segments:
        analyze_segment(s.pk)
    found = list(Alarm.objects.order_by("event_time"))
    assert len(found) == 3
    return camera, binding, segments, found, receiver


def _decode(path: Path) -> list[Any]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="bgr24") for frame in container.decode(video=0)]


def test_the_snapshot_is_the_event_frame_with_the_zone_and_the_box_drawn(alarms: Any, settings: Any) -> None:
    from controlplane.alarms.models import AlarmDelivery
    from workers.alarms import alarm_created
    from workers.delivery import deliver

    camera, _, segments, found, receiver = alarms
    alarm = found[0]
    assert alarm_created(alarm.pk).startswith("snapshot ready")
    alarm.refresh_from_db()
    image = cv2.imread(str(Path(settings.STORAGE_ROOT) / alarm.snapshot_path))
    assert image is not None
    height, width = image.shape[:2]
    det_w, det_h = alarm.details["frame_size"]
    assert (width, height) == (det_w, det_h)  # this footage is detected at its own size
    x1, y1, x2, y2 = (round(v) for v in alarm.details["box"])
    red = (image[:, :, 2] > 200) & (image[:, :, 1] < 60) & (image[:, :, 0] < 60)
    y2c = min(y2, height - 1)
    assert red[y1 + 20:y2c - 1, max(0, x1 - 2):x1 + 3].any(axis=1).mean() > 0.95  # the box's left edge is drawn in red
    assert red[max(0, y2c - 2):y2c + 3, x1:x2 + 1].any(axis=0).mean() > 0.95  # and its bottom edge
    amber = (image[:, :, 2] > 200) & (image[:, :, 1] > 150) & (image[:, :, 0] < 80)
    zone_top = round(0.70 * height)  # the floor zone's top edge, in amber
    assert amber[zone_top - 2:zone_top + 3, round(0.45 * width):round(0.8 * width)].any(axis=0).mean() > 0.8
    # Not a drawing on a blank canvas: away from the overlays it is the recorded frame at the event.
    offset = (alarm.event_time - segments[0].start_time).total_seconds()
    segment = next(s for s in segments if s.start_time <= alarm.event_time <= s.end_time)
    frames = _decode(Path(settings.STORAGE_ROOT) / segment.path)
    index = round((alarm.event_time - segment.start_time).total_seconds() * len(frames) / segment.duration)
    reference = frames[min(index, len(frames) - 1)]
    top = slice(0, round(0.3 * height))  # above the zone and the box's label
    assert np.abs(image[top].astype(int) - reference[top].astype(int)).mean() < 6, offset

    rows = list(AlarmDelivery.objects.filter(alarm=alarm))
    assert len(rows) == 1 and deliver(rows[0].pk) == "delivered"
    body = json.loads(receiver.requests("/hook")[0]["body"])
    assert body["data"]["snapshot_url"].startswith(settings.PUBLIC_URL + "/media/alarms/")


def test_the_replay_waits_for_its_post_roll_and_is_cut_from_the_keyframe_before_the_window(
    alarms: Any, settings: Any
) -> None:
    from controlplane.alarms.models import Alarm, AlarmDelivery
    from controlplane.algorithms.models import AlgorithmBinding
    from controlplane.cameras.models import Segment
    from workers.delivery import deliver
    from workers.replay import cut_replay

    camera, binding, segments, found, receiver = alarms
    AlgorithmBinding.objects.filter(pk=binding.pk).update(replay_pre_seconds=5, replay_post_seconds=6)
    alarm = found[1]  # about 25 s in
    window_end = alarm.event_time + timedelta(seconds=6)
    later = [s for s in segments if s.end_time >= window_end]
    settings.REPLAY_WAIT = 3600
    # The post-roll is still being recorded: its segments have no rows yet.
    Segment.objects.filter(pk__in=[s.pk for s in later]).delete()
    assert cut_replay(alarm.pk) == "waiting for the post-roll"
    assert not AlarmDelivery.objects.filter(alarm=alarm, event_type="alarm.replay_ready").exists()
    for s in later:
        s.save(force_insert=True)
    assert cut_replay(alarm.pk) == "ready"
    assert cut_replay(alarm.pk) == "done"  # once
    alarm.refresh_from_db()
    assert alarm.replay_status == "ready" and alarm.replay_note == ""
    # Starts at the keyframe at or before the window start, so up to one GOP (1 s here) earlier.
    lead = (alarm.event_time - timedelta(seconds=5) - alarm.replay_start).total_seconds()
    assert 0 <= lead <= 1.5, lead
    assert 11 - 0.2 <= alarm.replay_seconds <= 11 + 1.6, alarm.replay_seconds
    path = Path(settings.STORAGE_ROOT) / alarm.replay_path
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        packets = [p for p in container.demux(stream) if p.size]
        assert packets[0].is_keyframe
        duration = float((max(p.pts for p in packets) - min(p.pts for p in packets)) * stream.time_base)
    frames = _decode(path)
    assert len(frames) == len(packets) and abs(duration - alarm.replay_seconds) < 0.2  # every frame decodes

    ready = AlarmDelivery.objects.get(alarm=alarm, event_type="alarm.replay_ready")
    assert deliver(ready.pk) == "delivered"
    body = json.loads(receiver.requests("/hook")[-1]["body"])
    assert body["type"] == "alarm.replay_ready" and body["data"]["replay_status"] == "ready"
    assert body["data"]["replay_url"].startswith(settings.PUBLIC_URL + "/media/alarms/")
    assert Alarm.objects.get(pk=alarm.pk).replay_path  # retention may now delete its segments


def test_a_stream_broken_inside_the_window_gives_a_partial_replay_that_says_so(
    alarms: Any, settings: Any, monkeypatch: Any
) -> None:
    from controlplane.alarms.models import AlarmDelivery
    from controlplane.cameras.models import Segment
    from workers.replay import cut_replay

    camera, binding, segments, found, receiver = alarms
    alarm = found[1]  # window 15 s + 15 s around ~25 s: segments 2-8
    inside = next(s for s in segments if s.start_time > alarm.event_time)
    Segment.objects.filter(pk=inside.pk).delete()  # the stream broke for one segment
    settings.REPLAY_WAIT = 1
    assert cut_replay(alarm.pk) == "partial"
    alarm.refresh_from_db()
    assert "stream broken between" in alarm.replay_note
    assert alarm.replay_seconds and alarm.replay_seconds > 20
    assert AlarmDelivery.objects.filter(alarm=alarm, event_type="alarm.replay_ready").exists()

    last = found[2]  # ~52 s + 15 s: the recording ends at 60 s and nothing more comes
    assert cut_replay(last.pk) == "waiting for the post-roll"
    from django.utils import timezone

    an_hour_later = segments[-1].end_time + timedelta(hours=1)  # (the footage is stamped as recorded now)
    monkeypatch.setattr(timezone, "now", lambda: an_hour_later)
    assert cut_replay(last.pk) == "partial"
    last.refresh_from_db()
    assert "no video for the last" in last.replay_note


def test_corrupt_segments_are_left_out_and_named_and_none_readable_means_no_replay(alarms: Any, settings: Any) -> None:
    # (alarm 1's window, 15 s + 15 s around ~8 s, lies within the recording: no waiting)
    from controlplane.alarms.models import AlarmDelivery
    from workers.replay import cut_replay

    _, _, segments, found, _ = alarms
    (Path(settings.STORAGE_ROOT) / segments[1].path).write_bytes(b"not a video")
    assert cut_replay(found[0].pk) == "partial"
    found[0].refresh_from_db()
    assert f"segment {segments[1].seq} could not be read" in found[0].replay_note
    assert AlarmDelivery.objects.filter(alarm=found[0], event_type="alarm.replay_ready").exists()

    alarm = found[1]  # ~25 s: window 10-40 s, segments 2-7 (and 8 when the event is late)
    for s in segments[2:10]:
        (Path(settings.STORAGE_ROOT) / s.path).write_bytes(b"")
    assert cut_replay(alarm.pk) == "missing"
    alarm.refresh_from_db()
    assert "could not be read" in alarm.replay_note and not alarm.replay_path
    assert not AlarmDelivery.objects.filter(alarm=alarm, event_type="alarm.replay_ready").exists()
