"""The workers' local copy of the published configuration (used while Redis is down)."""
from __future__ import annotations

import threading
from typing import Any


def test_threads_refreshing_the_local_copy_at_once_never_fail(live_db: Any) -> None:
    # A threads-pool worker's analysis tasks all refresh the same cache file; a shared temporary
    # name made one thread's rename fail after another's (found by bench/alarm_latency.py).
    from django.conf import settings

    from controlplane.cameras.models import Camera
    from controlplane.detectors.actions import register_assets_model
    from controlplane.detectors.models import DetectorModel
    from workers.config import camera_config, detector_model

    assert register_assets_model(DetectorModel, settings.PANOPTES_ASSETS) is not None
    camera = Camera.objects.create(name="cache", stream_url="rtsp://10.0.0.1/s")
    errors: list[BaseException] = []

    def hammer() -> None:
        try:
            for _ in range(40):
                detector_model(None)
                camera_config(camera.pk)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
