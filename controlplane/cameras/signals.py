"""Deleting a camera or an alarm lists its files for the supervisor to remove (StorageLeftover).

Sent inside the delete's transaction (Django's pre_delete), so a rolled-back delete lists nothing.
A camera's paths come from workers.storage (the storage layout's one definition); an alarm's media
paths are its own fields.
"""
from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.db.models.signals import pre_delete
from django.dispatch import receiver

from controlplane.cameras.models import Camera, StorageLeftover
from workers.storage import camera_relpaths


def _alarm_media(alarms: QuerySet[Any]) -> list[str]:
    return [p for pair in alarms.values_list("snapshot_path", "replay_path").iterator() for p in pair if p]


@receiver(pre_delete, sender=Camera, dispatch_uid="camera-storage-leftovers")
def camera_deleted(sender: Any, instance: Camera, **kwargs: Any) -> None:
    from controlplane.alarms.models import Alarm

    # Its alarms' media in one query (their own pre_delete skips a delete that a camera started).
    paths = [*camera_relpaths(instance.pk), *_alarm_media(Alarm.objects.filter(camera_id=instance.pk))]
    StorageLeftover.objects.bulk_create([StorageLeftover(path=p) for p in paths], batch_size=1000)


@receiver(pre_delete, sender="alarms.Alarm", dispatch_uid="alarm-storage-leftovers")
def alarm_deleted(sender: Any, instance: Any, origin: Any = None, **kwargs: Any) -> None:
    if isinstance(origin, Camera) or getattr(origin, "model", None) is Camera:
        return  # camera_deleted listed it
    StorageLeftover.objects.bulk_create([StorageLeftover(path=p) for p in (instance.snapshot_path, instance.replay_path) if p])
