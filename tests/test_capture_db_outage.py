"""The capture loop when the database goes away: segments held, retried calmly, spooled at a stop.

Real RTSP server, Redis and MariaDB; the loop's thread reaches MariaDB through a TCP proxy that the
test cuts (capture_helpers.TcpProxy), so the outage is real for the loop and not for the test.
"""
from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from capture_helpers import LoopThread, TcpProxy, clear_lease_grace, wait_for


@pytest.fixture
def proxy(live_db: Any, settings: Any, tmp_path: Path) -> Iterator[TcpProxy]:
    from django.db import connection

    if connection.vendor != "mysql":
        pytest.skip("needs a database server to cut the connection to (MariaDB)")
    settings.STORAGE_ROOT = tmp_path / "storage"
    clear_lease_grace()
    db = connection.settings_dict
    proxy = TcpProxy((db["HOST"] or "127.0.0.1", int(db["PORT"] or 3306)))
    yield proxy
    proxy.close()


def _camera(url: str) -> Any:
    from controlplane.cameras.models import Camera

    return Camera.objects.create(name=f"cam-{time.monotonic_ns()}", stream_url=url, segment_seconds=2)


def _messages(caplog: pytest.LogCaptureFixture, camera_id: int, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith(f"camera {camera_id}: {text}")]


def _files(settings: Any, camera_id: int) -> set[str]:
    root = Path(settings.STORAGE_ROOT)
    return {str(p.relative_to(root)) for p in (root / "segments" / str(camera_id)).rglob("*.mp4")}


def test_segments_finished_during_an_outage_are_recorded_when_it_ends_with_one_warning(
    proxy: TcpProxy, rtsp_server: Any, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from controlplane.cameras.models import Segment

    caplog.set_level(logging.INFO, logger="workers.capture")
    camera = _camera(rtsp_server.url("onebyone"))
    with LoopThread(camera.pk, database_port=proxy.port) as running:
        wait_for(lambda: Segment.objects.filter(camera=camera).exists(), timeout=20)
        # Given: the database goes away for as long as three segments take.
        proxy.cut()
        wait_for(lambda: len(running.loop.pending) >= 3, timeout=15)
        attempts = proxy.refused
        proxy.restore()
        # Then: what was held is recorded once it is back, in order.
        wait_for(lambda: not running.loop.pending, timeout=10)
    segments = list(Segment.objects.filter(camera=camera).order_by("seq"))
    assert [s.seq for s in segments] == list(range(1, len(segments) + 1))
    assert {s.path for s in segments} == _files(settings, camera.pk)
    assert all(a.end_time == b.start_time for a, b in zip(segments, segments[1:], strict=False))
    # One warning for the outage and one line when it ended, not one per packet.
    assert len(_messages(caplog, camera.pk, "database unavailable")) == 1
    [back] = _messages(caplog, camera.pk, "database back after")
    assert "recorded the 3 segment(s)" in back or "recorded the 4 segment(s)" in back, back
    # Retried after 0.5 s, 1 s, then every 2 s (~6 s of outage), not at every packet (10 per second).
    assert 2 <= attempts <= 8, attempts


def _stop_during_an_outage(
    proxy: TcpProxy, url: str, caplog: pytest.LogCaptureFixture
) -> tuple[Any, int, list[str], set[str]]:
    """Record, cut the database, stop the loop while it holds segments.

    Returns (camera, epoch, held paths, those of them already recorded). The cut can land while a
    commit's reply is in flight: the row exists but the loop cannot know. It names that segment
    as unconfirmed, and that one alone may have a row.
    """
    from controlplane.cameras.models import Segment

    camera = _camera(url)
    running = LoopThread(camera.pk, database_port=proxy.port)
    wait_for(lambda: Segment.objects.filter(camera=camera).exists(), timeout=20)
    proxy.cut()
    wait_for(lambda: len(running.loop.pending) >= 2, timeout=15)
    # That is the instant a segment was finished: give the next one (2 s segments) some packets, so
    # there is one in progress to keep at the stop (an empty one is rightly dropped).
    time.sleep(0.6)
    stopped = time.monotonic()
    running.join(timeout=20)
    took = time.monotonic() - stopped
    from workers.capture import FINAL_FLUSH_SECONDS

    assert FINAL_FLUSH_SECONDS - 2 < took < FINAL_FLUSH_SECONDS + 4, took  # a bounded retry, then it stopped
    [error] = _messages(caplog, camera.pk, "the database is still unavailable")
    held = sorted(p for p in error.split(": ")[-1].split(", "))
    assert len(held) >= 3  # the ones held, plus the one in progress kept at the stop
    unconfirmed = set(re.findall(r"\((\S+): its commit was not confirmed\)", error))
    assert len(unconfirmed) <= 1 and unconfirmed <= set(held), error
    recorded = set(Segment.objects.filter(path__in=held).values_list("path", flat=True))
    assert recorded <= unconfirmed, (recorded, error)
    return camera, running.loop.lease.epoch, held, recorded


def test_a_stop_during_an_outage_spools_its_segments_and_the_next_owner_records_them(
    proxy: TcpProxy, rtsp_server: Any, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from controlplane.cameras.models import Segment
    from workers.spool import spool_dir

    camera, epoch, held, _ = _stop_during_an_outage(proxy, rtsp_server.url("onebyone"), caplog)
    root = Path(settings.STORAGE_ROOT)
    assert all((root / p).is_file() for p in held)  # complete files, left where they are
    assert len(list(spool_dir(root, camera.pk).glob("*.json"))) == len(held)

    # When: the database is back and the camera's next owner claims it.
    proxy.restore()
    with LoopThread(camera.pk) as running:
        new_epoch = wait_for(lambda: running.loop.lease.epoch > epoch and running.loop.lease.epoch, timeout=10)
        wait_for(lambda: Segment.objects.filter(camera=camera, epoch=new_epoch).exists(), timeout=20)

    # Then: the spooled segments are recorded under their own epoch, before the new owner's, with no gap in seq.
    segments = list(Segment.objects.filter(camera=camera).order_by("seq"))
    assert [s.seq for s in segments] == list(range(1, len(segments) + 1))
    assert len({s.path for s in segments}) == len(segments)  # none recorded twice
    assert [s.epoch for s in segments] == sorted(s.epoch for s in segments)
    assert set(held) <= {s.path for s in segments if s.epoch == epoch}
    assert all(s.announced_at is not None for s in segments if s.path in held)
    assert {s.path for s in segments} == _files(settings, camera.pk)
    assert not list(spool_dir(root, camera.pk).glob("*.json"))


def test_a_spooled_segment_is_never_recorded_once_another_owner_had_the_camera(
    proxy: TcpProxy, rtsp_server: Any, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from controlplane.cameras.models import Camera, Segment
    from workers.spool import spool_dir

    camera, epoch, held, committed = _stop_during_an_outage(proxy, rtsp_server.url("onebyone"), caplog)
    proxy.restore()
    # Given: another owner took the camera meanwhile without seeing the spool (storage not shared).
    Camera.bump_epoch(camera.pk)

    with LoopThread(camera.pk) as running:
        wait_for(lambda: running.loop.lease.epoch > epoch + 1, timeout=10)

    # Then: fencing holds: none is recorded (but one whose commit had gone through before the
    # stop); the files stay, named in an error; the entries are gone.
    assert set(Segment.objects.filter(path__in=held).values_list("path", flat=True)) == committed
    root = Path(settings.STORAGE_ROOT)
    assert all((root / p).is_file() for p in held)
    refused = _messages(caplog, camera.pk, "spooled segment")
    assert sorted(m.split(" ")[4] for m in refused) == sorted(set(held) - committed)
    assert not list(spool_dir(root, camera.pk).glob("*.json"))
