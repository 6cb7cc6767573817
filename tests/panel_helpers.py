"""What the panel's tests share: the web role under daphne, Debian's chromium, a recorded camera.

- ``panel_server`` (per module): ``daphne controlplane.asgi:application`` in a subprocess on a
  free port, on this run's test database, Redis prefix (so its channel layer) and storage.
- ``browser`` (per module): /usr/bin/chromium (Debian's package) driven by Playwright; never
  ``playwright install``.
- ``scene``: sites, users' cameras, and a camera "lobby" whose first 30 s of real footage
  (one-by-one-person-detection.mp4) are recorded as 5 s segments by the capture's own
  SegmentWriter (stream copy, no detection), with its latest keyframe kept as the live picture.
- ``raise_alarm``: an alarm through workers.analyze.create_alarm (the analysis' own creation, with
  its outbox rows and its on-commit announcement) run in a thread of its own, as a worker would.
- ``shoot``: a screenshot under $PANOPTES_SCREENSHOTS (default var/screenshots/).
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
ASSETS = Path(os.environ.get("PANOPTES_ASSETS", ROOT.parent / "shared" / "assets"))
FOOTAGE = ASSETS / "videos" / "one-by-one-person-detection.mp4"
SCREENSHOTS = Path(os.environ.get("PANOPTES_SCREENSHOTS", ROOT / "var" / "screenshots"))
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PASSWORD = "Panoptes-test-pw-1"  # conftest.make_user's
FLOOR = [[0.40, 0.70], [0.85, 0.70], [0.85, 1.0], [0.40, 1.0]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def panel_storage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("panel-storage")


class PanelServer:
    """``daphne controlplane.asgi:application`` on one port, as quickstart and docker run it."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log, self.port = env, log, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), "controlplane.asgi:application"],
                cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while True:
            assert self.proc.poll() is None, f"daphne exited:\n{self.log.read_text()}"
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                assert time.monotonic() < deadline, f"daphne did not listen:\n{self.log.read_text()}"
                time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


@pytest.fixture(scope="module")
def panel_process(django_db_setup: None, panel_storage: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PanelServer]:
    """The web role under daphne on this run's test database, Redis prefix (so its channel layer) and storage."""
    from django.conf import settings
    from django.db import connection

    if connection.vendor != "mysql":
        pytest.skip("the panel server process needs a database server it can share with the test (MariaDB)")
    db = connection.settings_dict
    var = tmp_path_factory.mktemp("panel-var")
    env = {
        **os.environ,
        "DATABASE_URL": f"mysql://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "PANOPTES_REDIS_PREFIX": settings.REDIS_PREFIX, "PANOPTES_VAR_DIR": str(var),
        "STORAGE_ROOT": str(panel_storage), "SECRET_KEY": settings.SECRET_KEY,
        "PANOPTES_FIELD_KEYS": ",".join(settings.FIELD_ENCRYPTION_KEYS),
        "PANOPTES_SOCKET_REAUTH_SECONDS": "1",  # revoked credentials end sockets within a test's patience
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    server = PanelServer(env, var / "daphne.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()
        if os.environ.get("PANEL_SERVER_LOG"):
            print(server.log.read_text())


@pytest.fixture(scope="module")
def panel_server(panel_process: PanelServer) -> str:
    """The base URL of the panel server."""
    return panel_process.url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run installs it)")
    # Playwright's sync API keeps an event loop in this thread; the tests' own ORM calls are plain
    # sync code. Only while the browser is open: child processes of other tests (check --deploy)
    # must not inherit it.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as p:
            chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            yield chromium
            chromium.close()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def new_page(browser: Any, panel_server: str) -> Iterator[Callable[[], Any]]:
    """Pages in fresh browser contexts (each its own cookies), closed after the test."""
    contexts: list[Any] = []

    def make() -> Any:
        context = browser.new_context(base_url=panel_server, viewport={"width": 1280, "height": 900})
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def log_in(page: Any, username: str) -> None:
    page.goto("/panel/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/panel/")


def live(page: Any) -> None:
    """Wait until the page's socket said hello (live updates flow)."""
    page.wait_for_selector("#socket-state[data-state=live]")


def shoot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def in_thread(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` in a thread of its own (a worker's, with its own database connection); its result."""
    from django.db import connections

    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["value"] = fn()
        except BaseException as exc:  # handed to the test
            result["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(60)
    if "error" in result:
        raise result["error"]
    return result.get("value")


@dataclass
class Scene:
    camera: Any  # "lobby", site "north", recorded footage
    other: Any  # "dock", site "south", no footage
    binding: Any
    segments: list[Any]
    north: Any
    south: Any


@pytest.fixture
def scene(live_db: Any, settings: Any, panel_storage: Path) -> Scene:
    import av

    from controlplane.algorithms.models import Algorithm, AlgorithmBinding
    from controlplane.cameras.models import Camera, Segment, Site
    from controlplane.zones.models import Zone
    from workers.recorder import SegmentWriter
    from workers.snapshots import save_keyframe

    settings.STORAGE_ROOT = panel_storage
    settings.REPLAY_WAIT = 1
    north, south = Site.objects.create(name="north"), Site.objects.create(name="south")
    camera = Camera.objects.create(name="lobby", stream_url="rtsp://10.0.0.1/s", site=north, tags=["entrance"])
    other = Camera.objects.create(name="dock", stream_url="rtsp://10.0.0.2/s", site=south)
    zone = Zone.objects.create(camera=camera, name="floor", points=FLOOR)
    binding = AlgorithmBinding.objects.create(zone=zone, algorithm=Algorithm.objects.get(slug="intrusion"),
                                              params={"min_dwell": 1.0}, cooldown_seconds=0,
                                              replay_pre_seconds=4, replay_post_seconds=4)
    epoch = Camera.bump_epoch(camera.pk)
    segments = []
    # Recorded "now", minus its length: the replay's post-roll is already on storage.
    recorded_at = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=40)
    with av.open(str(FOOTAGE)) as container:
        stream = container.streams.video[0]
        writer = SegmentWriter(stream, panel_storage, camera.pk, 5)
        for packet in container.demux(stream):
            if packet.is_keyframe and packet.size and not segments:
                save_keyframe(camera.pk, stream.codec_context, packet)  # the wall's live picture
            done = writer.write(packet, recorded_at)
            if done:
                segments.append(Segment.record(camera_id=camera.pk, epoch=epoch, start_time=done.start_time,
                                               end_time=done.end_time, path=done.relative_path, size_bytes=done.size_bytes))
                if len(segments) == 6:
                    break
    return Scene(camera, other, binding, segments, north, south)


def raise_alarm(scene: Scene, seconds: float, *, camera: Any = None, track: int = 1, media: bool = False) -> Any:
    """An alarm ``seconds`` into the recording, created as the analysis creates one; with ``media``, its
    annotated picture and replay made as the alarms worker makes them. Runs in a thread of its own."""
    from analytics.rules.base import Event
    from controlplane.alarms.models import Alarm
    from controlplane.algorithms.models import AlgorithmBinding
    from controlplane.zones.models import Zone
    from workers.analyze import create_alarm
    from workers.replay import cut_replay, ensure_snapshot

    binding = scene.binding
    if camera is not None and camera.pk != scene.camera.pk:
        zone = Zone.objects.get_or_create(camera=camera, name="yard", defaults={"points": FLOOR})[0]
        binding = AlgorithmBinding.objects.get_or_create(zone=zone, algorithm=scene.binding.algorithm,
                                                         defaults={"params": {"min_dwell": 1.0}})[0]
    start = scene.segments[0].start_time.timestamp()
    event = Event(binding_id=binding.pk, track_id=track, episode=1, started=start + seconds - 1, time=start + seconds,
                  object_class=0, score=0.9, box=(300.0, 250.0, 420.0, 430.0), details={"dwell": 1.0})
    segment = scene.segments[min(int(seconds // 5), len(scene.segments) - 1)]
    if camera is not None and camera.pk != scene.camera.pk:
        from controlplane.cameras.models import Segment

        segment = Segment(camera_id=camera.pk, seq=0)  # a camera without recordings: only its id is read

    def create() -> Any:
        context = {"frame_size": [768, 432], "zone_points": FLOOR}
        assert create_alarm(segment, (camera or scene.camera).name, event, ["person"], context)
        alarm = Alarm.objects.get(dedup_key=event.dedup_key)
        if media:
            assert ensure_snapshot(alarm)
            assert cut_replay(alarm.pk) == "ready"
            alarm.refresh_from_db()
        return alarm

    return in_thread(create)
