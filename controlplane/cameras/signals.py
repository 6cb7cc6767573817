"""Deleting a camera or an alarm lists its files for the supervisor to remove (StorageLeftover).

Sent inside the delete's transaction (Django's pre_delete), so a rolled-back delete lists nothing.
The paths follow workers.storage's layout (``segments/<camera>/...``, ``spool/<camera>/``,
``snapshots/live/<camera>.jpg|.key``); alarm media paths are the alarm's own fields.
"""
from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.db.models.signals import pre_delete
from django.dispatch import receiver

from controlplane.cameras.models import Camera, StorageLeftover


def _alarm_media(alarms: QuerySet[Any]) -> list[str]:
    return [p for pair in alarms.values_list("snapshot_path", "replay_path").iterator() for p in pair if p]


@receiver(pre_delete, sender=Camera, dispatch_uid="camera-storage-leftovers")
def camera_deleted(sender: Any, instance: Camera, **kwargs: Any) -> None:
    from controlplane.alarms.models import Alarm

    # Its alarms' media in one query (their own pre_delete skips a delete that a camera started).
    paths = [f"segments/{instance.pk}", f"spool/{instance.pk}", f"snapshots/live/{instance.pk}.jpg",
             f"snapshots/live/{instance.pk}.key", *_alarm_media(Alarm.objects.filter(camera_id=instance.pk))]
    StorageLeftover.objects.bulk_create([StorageLeftover(path=p) for p in paths], batch_size=1000)


@receiver(pre_delete, sender="alarms.Alarm", dispatch_uid="alarm-storage-leftovers")
def alarm_deleted(sender: Any, instance: Any, origin: Any = None, **kwargs: Any) -> None:
    if isinstance(origin, Camera) or getattr(origin, "model", None) is Camera:
        return  # camera_deleted listed it
    StorageLeftover.objects.bulk_create([StorageLeftover(path=p) for p in (instance.snapshot_path, instance.replay_path) if p])
