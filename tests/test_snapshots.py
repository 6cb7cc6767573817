"""A camera's latest picture: keyframes kept by the capture loop, decoded on demand (workers/snapshots.py).

Keyframes come from the shared footage (MP4: length-prefixed H.264 with avcC extradata); the RTSP
form (Annex B) is covered by tests/test_capture_loop.py, which records a real RTSP stream.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest

ASSETS = Path(os.environ.get("PANOPTES_ASSETS", Path(__file__).resolve().parents[2] / "shared" / "assets"))
VIDEO = ASSETS / "videos" / "one-by-one-person-detection.mp4"  # 768x432


def keyframes(count: int) -> tuple[Any, list[av.Packet]]:
    container = av.open(str(VIDEO))
    stream = container.streams.video[0]
    found = []
    for packet in container.demux(stream):
        if packet.is_keyframe and packet.size:
            found.append(packet)
            if len(found) == count:
                break
    return stream.codec_context, found


def reference_frame(packet: av.Packet) -> np.ndarray:
    """The frame the keyframe shows, decoded from the file by PyAV, as BGR."""
    with av.open(str(VIDEO)) as container:
        stream = container.streams.video[0]
        container.seek(packet.pts, stream=stream, any_frame=False)
        for frame in container.decode(stream):
            if frame.pts == packet.pts:
                return frame.to_ndarray(format="bgr24")
    raise AssertionError("keyframe not found again")


@pytest.fixture
def storage(settings: Any, tmp_path: Path) -> Path:
    settings.STORAGE_ROOT = tmp_path
    return tmp_path


def test_a_kept_keyframe_becomes_the_picture_it_shows(storage: Path) -> None:
    from workers.snapshots import keyframe_path, latest_picture, save_keyframe

    codec, packets = keyframes(3)
    save_keyframe(7, codec, packets[2])
    assert keyframe_path(7).stat().st_size > packets[2].size  # the packet and what decodes it
    picture = cv2.imread(str(latest_picture(7)))
    assert picture.shape == (360, 640, 3)  # 768x432 scaled to 640 wide
    expected = cv2.resize(reference_frame(packets[2]), (640, 360), interpolation=cv2.INTER_AREA)
    assert float(np.abs(picture.astype(int) - expected.astype(int)).mean()) < 4  # JPEG and scaling apart
    # The other keyframes show other pictures: the comparison would catch the wrong frame.
    other = cv2.resize(reference_frame(packets[0]), (640, 360), interpolation=cv2.INTER_AREA)
    assert float(np.abs(picture.astype(int) - other.astype(int)).mean()) > float(
        np.abs(picture.astype(int) - expected.astype(int)).mean())


def test_the_picture_is_decoded_once_per_keyframe(storage: Path) -> None:
    from workers.snapshots import keyframe_path, latest_picture, save_keyframe

    codec, packets = keyframes(2)
    save_keyframe(3, codec, packets[0])
    jpeg = latest_picture(3)
    first = jpeg.read_bytes()
    assert jpeg.stat().st_mtime_ns == keyframe_path(3).stat().st_mtime_ns
    jpeg.write_bytes(b"cached")  # not decoded again while the keyframe is the same
    os.utime(jpeg, ns=(keyframe_path(3).stat().st_mtime_ns,) * 2)
    assert latest_picture(3).read_bytes() == b"cached"
    save_keyframe(3, codec, packets[1])  # a newer keyframe: decoded on the next request
    os.utime(keyframe_path(3), ns=(jpeg.stat().st_mtime_ns + 1_000_000,) * 2)
    refreshed = latest_picture(3).read_bytes()
    assert refreshed[:3] == b"\xff\xd8\xff" and refreshed != first


@pytest.mark.parametrize("damage", ["not_a_keyframe_file", "truncated_packet", "bad_header"])
def test_a_damaged_keyframe_file_is_a_clear_error(storage: Path, damage: str) -> None:
    from workers.snapshots import SnapshotUnavailable, keyframe_path, latest_picture, save_keyframe

    codec, packets = keyframes(1)
    save_keyframe(5, codec, packets[0])
    path = keyframe_path(5)
    data = path.read_bytes()
    path.write_bytes({"not_a_keyframe_file": b"<html>" * 100, "truncated_packet": data[: len(data) - packets[0].size + 40],
                      "bad_header": data[:9] + b"!" + data[10:]}[damage])
    with pytest.raises(SnapshotUnavailable):
        latest_picture(5)


def test_the_api_serves_the_picture_and_says_when_there_is_none(api: Any, storage: Path) -> None:
    from controlplane.cameras.models import Camera
    from workers.snapshots import keyframe_path, save_keyframe

    viewer = api("viewer")
    camera = Camera.objects.create(name="lobby", stream_url="rtsp://10.0.0.1/s")
    missing = viewer.get(f"/api/v1/cameras/{camera.pk}/snapshot/")
    assert missing.status_code == 404 and "not been recorded" in missing.json()["detail"]
    codec, packets = keyframes(1)
    save_keyframe(camera.pk, codec, packets[0])
    response = viewer.get(f"/api/v1/cameras/{camera.pk}/snapshot/")
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    image = cv2.imdecode(np.frombuffer(b"".join(response.streaming_content), np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (360, 640, 3)
    keyframe_path(camera.pk).write_bytes(b"PKF1garbage")
    broken = viewer.get(f"/api/v1/cameras/{camera.pk}/snapshot/")
    assert broken.status_code == 404 and "keyframe" in broken.json()["detail"]
