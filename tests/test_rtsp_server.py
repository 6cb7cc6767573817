"""The test RTSP server serves the real footage as a camera would: H.264, endless, seamless, with auth."""
from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from itertools import pairwise

import av
import pytest
from rtsp import VIDEOS, RtspServer

TCP = {"rtsp_transport": "tcp"}


def frame_times(url: str, seconds: float) -> tuple[list[Fraction], list[av.Packet]]:
    """Presentation times of the frames decoded from ``seconds`` of stream time, and the packets."""
    times: list[Fraction] = []
    packets: list[av.Packet] = []
    with av.open(url, options=TCP, timeout=10) as container:
        stream = container.streams.video[0]
        for packet in container.demux(stream):
            packets.append(packet)
            times += [frame.pts * stream.time_base for frame in packet.decode() if frame.pts is not None]
            if times and times[-1] - times[0] >= seconds:
                break
    return times, packets


@pytest.fixture(scope="module")
def short_loop_server() -> Iterator[RtspServer]:
    with RtspServer({"onebyone": VIDEOS["onebyone"]}, loop_after=4) as server:
        yield server


@pytest.fixture(scope="module")
def server_with_password() -> Iterator[RtspServer]:
    with RtspServer({"onebyone": VIDEOS["onebyone"]}, user="viewer", password="s3cret:/@") as server:
        yield server


def test_it_serves_the_footage_as_h264_with_key_frames_and_increasing_times(rtsp_server: RtspServer) -> None:
    times, packets = frame_times(rtsp_server.url("onebyone"), seconds=3)

    codec = packets[0].stream.codec_context
    assert (codec.name, codec.width, codec.height) == ("h264", 768, 432)
    assert packets[0].is_keyframe  # a new client starts on a key frame
    assert sum(p.is_keyframe for p in packets) >= 3  # GOP of 1 s
    assert all(b > a for a, b in pairwise(times))
    assert len(times) >= 30


def test_its_loop_is_seamless(short_loop_server: RtspServer) -> None:
    # Given a 4 s cut of a 10 fps video, when a client watches 2.5 loops of it
    times, _ = frame_times(short_loop_server.url("onebyone"), seconds=10)

    # then the frame times never step back nor skip, across both loop points
    steps = [b - a for a, b in pairwise(times)]
    assert min(steps) > 0
    assert max(steps) <= Fraction(2, 10)
    assert times[-1] - times[0] >= 10


def test_it_refuses_a_client_without_the_password(server_with_password: RtspServer) -> None:
    with pytest.raises(av.error.HTTPUnauthorizedError):
        av.open(server_with_password.url("onebyone"), options=TCP, timeout=10)
    with pytest.raises(av.error.HTTPUnauthorizedError):
        av.open(server_with_password.url("onebyone", user="viewer", password="wrong"), options=TCP, timeout=10)


def test_it_serves_a_client_with_the_password(server_with_password: RtspServer) -> None:
    url = server_with_password.url("onebyone", user="viewer", password="s3cret:/@")
    with av.open(url, options=TCP, timeout=10) as container:
        assert container.streams.video[0].codec_context.width == 768
