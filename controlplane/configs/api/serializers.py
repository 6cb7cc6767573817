from __future__ import annotations

from rest_framework import serializers

from controlplane.configs.models import ConfigRevision


class RevisionSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    """A revision; camera credentials inside the snapshot are removed from API output."""

    snapshot = serializers.SerializerMethodField()

    class Meta:
        model = ConfigRevision
        fields = ["version", "created_at", "author_name", "comment", "content_hash", "restored_from", "snapshot"]
        read_only_fields = fields

    def get_snapshot(self, revision: ConfigRevision) -> dict:  # type: ignore[type-arg]
        snapshot = dict(revision.snapshot)
        snapshot["cameras"] = [
            {**{k: v for k, v in cam.items() if k != "credentials"}, "has_credentials": bool(cam.get("credentials"))}
            for cam in snapshot.get("cameras", [])
        ]
        return snapshot
