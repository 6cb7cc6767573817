from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from analytics.config import mask_url


class ConfigRevision(models.Model):
    """One version of the whole pipeline configuration, as compiled and published to workers.

    ``version`` is the primary key: the database allocates it, so concurrent changes never get
    the same number. Revisions are never edited; rolling back creates a new one.
    """

    version = models.BigAutoField(primary_key=True)
    created_at = models.DateTimeField(auto_now_add=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    author_name = models.CharField(max_length=150, blank=True, help_text="Kept if the user is deleted.")
    comment = models.CharField(max_length=200, blank=True)
    snapshot = models.JSONField(help_text="The compiled analytics.config.ConfigSnapshot.")
    content_hash = models.CharField(max_length=64, help_text="SHA-256 of the snapshot content (without version).")
    restored_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-version"]

    def __str__(self) -> str:
        return f"v{self.version}"

    def shown_snapshot(self) -> dict[str, Any]:
        """The snapshot as people see it (API detail, admin page): each camera's encrypted
        ``credentials`` replaced by ``has_credentials``, and secrets in its stream URL masked."""
        snapshot: dict[str, Any] = self.snapshot
        return {
            **snapshot,
            "cameras": [
                {
                    **{k: v for k, v in cam.items() if k != "credentials"},
                    "stream_url": mask_url(str(cam.get("stream_url", ""))),
                    "has_credentials": bool(cam.get("credentials")),
                }
                for cam in snapshot.get("cameras") or []
                if isinstance(cam, dict)
            ],
        }
