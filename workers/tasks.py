"""Celery tasks: short bodies that call into workers.capture / workers.supervisor."""
from __future__ import annotations

import logging
from typing import Any

from celery.signals import worker_shutting_down

from workers.capture import SHUTDOWN, CaptureLoop
from workers.celery import app

logger = logging.getLogger(__name__)


@worker_shutting_down.connect
def _drain(**kwargs: Any) -> None:
    SHUTDOWN.set()  # capture loops finish their step, keep their segment, release their lease


@app.task(name="panoptes.capture_camera", acks_late=False, ignore_result=True)
def capture_camera(camera_id: int) -> None:
    """Record one camera until it is disabled, deleted, lost or the worker stops (`capture` queue).

    Acked early: if its worker dies, the supervisor re-dispatches once the lease expires.
    """
    CaptureLoop(camera_id).run()


@app.task(name="panoptes.reconcile_cameras", ignore_result=True, expires=30, soft_time_limit=60, time_limit=90)
def reconcile_cameras() -> dict[str, int]:
    from workers.supervisor import reconcile

    return reconcile()


@app.task(name="panoptes.apply_retention", ignore_result=True, expires=600, soft_time_limit=600, time_limit=900)
def apply_retention() -> int:
    from workers.supervisor import apply_retention as run

    return run()


@app.task(name="panoptes.detect_segment", ignore_result=True, acks_late=True, reject_on_worker_lost=True,
          soft_time_limit=240, time_limit=300)
def detect_segment(segment_id: int, **announcement: Any) -> str:
    """Detect one segment (`gpu` queue). ``announcement`` (camera, seq, path) is informational."""
    from workers.detect import detect_segment as run

    return run(segment_id)


@app.task(name="panoptes.analyze_segment", bind=True, ignore_result=True, acks_late=True, reject_on_worker_lost=True,
          max_retries=200, soft_time_limit=120, time_limit=180)
def analyze_segment(self: Any, segment_id: int, **announcement: Any) -> str:
    """Analyse one detected segment in its camera's order (`analysis` queue)."""
    from workers.analyze import Defer
    from workers.analyze import analyze_segment as run

    try:
        return run(segment_id)
    except Defer as wait:
        raise self.retry(countdown=wait.countdown) from None
    except Exception as exc:
        # Not dropped: later segments of the camera wait for this one (until the gap wait), so a
        # passing fault (database, Redis, a file being replaced) must get another go.
        logger.warning("analysis of segment %s failed (%s: %s); retrying in 5 s", segment_id, type(exc).__name__, exc)
        raise self.retry(countdown=5, exc=exc) from None


# --- alarms (DESIGN §6) ----------------------------------------------------------------------------
@app.task(name="panoptes.alarm_created", ignore_result=True, acks_late=True, reject_on_worker_lost=True,
          soft_time_limit=60, time_limit=90)
def alarm_created(alarm_id: int) -> str:
    """Phase one of a new alarm (`alarms` queue): its snapshot, then its first delivery attempts."""
    from workers.alarms import alarm_created as run

    return run(alarm_id)


@app.task(name="panoptes.deliver", ignore_result=True, acks_late=True, reject_on_worker_lost=True,
          soft_time_limit=120, time_limit=150)
def deliver(delivery_id: int) -> str:
    """One attempt of one outbox row (`alarms` queue); the row decides whether it is due."""
    from workers.delivery import deliver as run

    return run(delivery_id)


@app.task(name="panoptes.cut_replay", ignore_result=True, acks_late=True, reject_on_worker_lost=True,
          soft_time_limit=120, time_limit=150)
def cut_replay(alarm_id: int) -> str:
    """The alarm's replay clip once its post-roll is recorded (`alarms` queue); then phase two."""
    from workers.replay import cut_replay as run

    return run(alarm_id)


@app.task(name="panoptes.dispatch_alarm_work", ignore_result=True, expires=30, soft_time_limit=60, time_limit=90)
def dispatch_alarm_work() -> dict[str, int]:
    """Beat (`control` queue): due retries, expired claims, outstanding snapshots and replays."""
    from workers.delivery import dispatch_due

    return dispatch_due()
