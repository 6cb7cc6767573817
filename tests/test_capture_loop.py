"""The capture loop against a real RTSP server serving real footage, with real Redis and MariaDB."""
from __future__ import annotations

import http.server
import os
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import pytest
from capture_helpers import LoopThread, clear_lease_grace, wait_for


@pytest.fixture(scope="module")
def rtsp_server_with_auth() -> Any:
    from rtsp import VIDEOS, RtspServer

    with RtspServer({"onebyone": VIDEOS["onebyone"]}, user="operator", password="s3cret") as server:
        yield server


@pytest.fixture
def capture_db(live_db: Any, settings: Any, tmp_path: Path) -> Any:
    settings.STORAGE_ROOT = tmp_path / "storage"
    clear_lease_grace()
    return live_db


def _camera(url: str, **fields: Any) -> Any:
    from controlplane.cameras.models import Camera

    return Camera.objects.create(name=f"cam-{time.monotonic_ns()}", stream_url=url, **fields)


def _status(camera_id: int) -> dict[str, str]:
    from controlplane.core.redis import client
    from workers.status import read_status

    return read_status(client(), [camera_id])[camera_id]


def _broker_queue_length(name: str) -> int:
    import redis

    return int(redis.Redis.from_url(os.environ["CELERY_BROKER_URL"]).llen(name))


def test_it_records_an_rtsp_stream_into_announced_segments_with_a_snapshot(capture_db: Any, rtsp_server: Any, settings: Any) -> None:
    from controlplane.cameras.models import Segment

    camera = _camera(rtsp_server.url("onebyone"), segment_seconds=2)
    queued_before = _broker_queue_length("gpu")
    with LoopThread(camera.pk):
        wait_for(lambda: Segment.objects.filter(camera=camera).count() >= 3, timeout=20)
        status = _status(camera.pk)
    segments = list(Segment.objects.filter(camera=camera).order_by("seq"))
    assert [s.seq for s in segments] == list(range(1, len(segments) + 1))
    assert status["state"] == "streaming" and float(status["input_fps"]) > 5 and int(status["bitrate"]) > 0
    # The first is cut only once the time anchor settled (2 s after av.open's ~3 s probe burst).
    assert segments[0].discontinuity and 2 <= segments[0].duration < 6.1
    for segment in segments[1:-1]:
        assert 2 <= segment.duration < 3.1  # cut on the next keyframe (GOP 1 s)
    for segment in segments:
        assert (Path(settings.STORAGE_ROOT) / segment.path).stat().st_size == segment.size_bytes
        # Stamped when captured: stored just after the frame that ends it arrived, not before (an
        # anchor taken at the probe burst stamped segments ~3 s late, "ending" after they were
        # stored). The last one, cut at the stop, ends one frame after its last frame arrived.
        lateness = (segment.created_at - segment.end_time).total_seconds()
        assert (-0.1 if segment is segments[-1] else 0) <= lateness < 1.5
    assert all(s.announced_at for s in segments)
    assert _broker_queue_length("gpu") - queued_before == len(segments)
    from workers.snapshots import keyframe_path, latest_picture

    assert keyframe_path(camera.pk).exists()  # kept by the loop, an RTSP (Annex B) keyframe
    picture = cv2.imread(str(latest_picture(camera.pk)))  # decoded on demand
    assert picture.shape == (360, 640, 3) and picture.std() > 10  # the 768x432 footage, not a blank
    assert _status(camera.pk)["state"] == "stopped"


def test_a_new_config_version_reaches_the_loop_within_a_second_and_reopens_the_stream(capture_db: Any, rtsp_server: Any) -> None:
    camera = _camera(rtsp_server.url("onebyone"), segment_seconds=2)
    with LoopThread(camera.pk) as running:
        wait_for(lambda: running.loop.state == "streaming", timeout=15)
        camera.segment_seconds = 4
        changed = time.monotonic()
        camera.save()
        wait_for(lambda: running.loop.config and running.loop.config.segment_seconds == 4, timeout=1.5)
        reached = time.monotonic() - changed
        wait_for(lambda: running.loop.writer and running.loop.writer.segment_seconds == 4, timeout=5)
    assert reached < 1.5


def test_disabling_a_camera_stops_its_recording_within_seconds(capture_db: Any, rtsp_server: Any) -> None:
    from workers.leases import current_owner

    camera = _camera(rtsp_server.url("onebyone"))
    running = LoopThread(camera.pk)
    wait_for(lambda: running.loop.state == "streaming", timeout=15)
    camera.enabled = False
    camera.save()
    running.thread.join(5)
    assert not running.thread.is_alive()
    assert current_owner(__import__("controlplane.core.redis", fromlist=["client"]).client(), camera.pk) is None
    running.join()


class _TextHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        body = b"<html>this is not a video</html>" * 100
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def text_server() -> Any:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _TextHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/video"
    server.shutdown()


@pytest.mark.parametrize("source", ["unreachable", "wrong_credentials", "not_video"])
def test_a_bad_source_gets_a_clear_error_and_backs_off_without_spinning(
    capture_db: Any, rtsp_server: Any, rtsp_server_with_auth: Any, text_server: str, source: str
) -> None:
    url = {
        "unreachable": "rtsp://127.0.0.1:9/nothing-listens-here",
        "wrong_credentials": rtsp_server_with_auth.url("onebyone").replace("://", "://intruder:guess@"),
        "not_video": text_server,
    }[source]
    camera = _camera(url)
    cpu_before = time.process_time()
    started = time.monotonic()
    with LoopThread(camera.pk) as running:
        status = wait_for(lambda: (s := _status(camera.pk)).get("state") == "backoff" and s, timeout=15)
        time.sleep(6)
        reconnects = running.loop.reconnects
    cpu_share = (time.process_time() - cpu_before) / (time.monotonic() - started)
    assert status["last_error"]
    assert "guess" not in status["last_error"] and "intruder" not in status["last_error"]
    assert reconnects <= 5  # capped exponential backoff: 1, 2, 4, 4 s...
    assert cpu_share < 0.25  # the whole test process, waiting: no spin


def test_a_stream_that_stalls_is_reopened_after_stall_seconds(capture_db: Any, settings: Any) -> None:
    from rtsp import VIDEOS, RtspServer

    from controlplane.cameras.models import Segment

    with RtspServer({"onebyone": VIDEOS["onebyone"]}) as server:
        camera = _camera(server.url("onebyone"), segment_seconds=2)
        assert server.process is not None
        with LoopThread(camera.pk) as running:
            wait_for(lambda: Segment.objects.filter(camera=camera).exists(), timeout=20)
            # Given: the server freezes; its TCP connection stays open, but no packet comes.
            os.kill(server.process.pid, signal.SIGSTOP)
            frozen = time.monotonic()
            try:
                status = wait_for(lambda: (s := _status(camera.pk)).get("state") == "backoff" and s, timeout=settings.STALL_SECONDS + 5)
                noticed = time.monotonic() - frozen
            finally:
                os.kill(server.process.pid, signal.SIGCONT)
            # Then: the read fails by ffmpeg's socket timeout, and the loop reconnects once it is back.
            wait_for(lambda: Segment.objects.filter(camera=camera, discontinuity=True, seq__gt=1).exists(), timeout=20)
            assert running.loop.state == "streaming"
    assert settings.STALL_SECONDS - 0.5 <= noticed < settings.STALL_SECONDS + 3, noticed
    assert "timed out" in status["last_error"].lower(), status["last_error"]


def test_a_server_that_accepts_but_never_answers_fails_within_the_open_timeout(capture_db: Any, settings: Any) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # the kernel completes connections; nobody ever reads or answers
    try:
        camera = _camera(f"rtsp://127.0.0.1:{silent.getsockname()[1]}/stream")
        started = time.monotonic()
        with LoopThread(camera.pk):
            status = wait_for(lambda: (s := _status(camera.pk)).get("state") == "backoff" and s, timeout=settings.OPEN_TIMEOUT + 5)
            took = time.monotonic() - started
    finally:
        silent.close()
    assert took < settings.OPEN_TIMEOUT + 2, took
    assert status["last_error"]


def most_failures_in(seconds: float, cap: float) -> int:
    """How many failures fit in ``seconds`` when the capture loop waits its shortest backoff each time."""
    failures, elapsed = 1, 0.0
    while (elapsed := elapsed + 0.8 * min(cap, 2.0 ** (failures - 1))) <= seconds:
        failures += 1
    return failures


@pytest.mark.slow
def test_an_rtsp_server_down_for_30_seconds_means_backoff_then_streaming_with_the_gap_recorded(capture_db: Any) -> None:
    from rtsp import VIDEOS, RtspServer

    from controlplane.cameras.models import Segment

    with RtspServer({"onebyone": VIDEOS["onebyone"]}) as server:
        camera = _camera(server.url("onebyone"), segment_seconds=2)
        with LoopThread(camera.pk) as running:
            wait_for(lambda: Segment.objects.filter(camera=camera).count() >= 2, timeout=20)
            server.stop()
            wait_for(lambda: _status(camera.pk).get("state") == "backoff", timeout=10)
            time.sleep(30)
            server.restart()
            wait_for(lambda: _status(camera.pk).get("state") == "streaming", timeout=15)
            resumed = wait_for(lambda: Segment.objects.filter(camera=camera, discontinuity=True, seq__gt=1).first(), timeout=15)
            reconnects = running.loop.reconnects
    before = Segment.objects.get(camera=camera, seq=resumed.seq - 1)
    assert (resumed.start_time - before.end_time).total_seconds() >= 25  # the outage, visible as a gap
    # Backoff, not a spin: failures are at least 0.8 x min(PANOPTES_BACKOFF_MAX (4 s in tests), 2^n) s
    # apart (the jitter is x 0.8-1.2), so a 30 s outage allows about a dozen, and a spin hundreds.
    outage = (resumed.start_time - before.end_time).total_seconds()
    assert 3 <= reconnects <= most_failures_in(outage + 1, 4.0), (reconnects, outage)  # +1 s: timestamps vs clocks
