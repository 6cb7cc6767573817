from __future__ import annotations

from typing import Any

from rest_framework import serializers

from controlplane.configs.models import ConfigRevision


class RevisionSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    """A revision in a list: what changed, when and by whom, without its snapshot (a snapshot of a
    large installation is megabytes; read one revision for it)."""

    class Meta:
        model = ConfigRevision
        fields = ["version", "created_at", "author_name", "comment", "content_hash", "restored_from"]
        read_only_fields = fields


class RevisionDetailSerializer(RevisionSerializer):
    """One revision with its snapshot; camera credentials are left out and URL secrets masked."""

    snapshot = serializers.SerializerMethodField()

    class Meta(RevisionSerializer.Meta):
        fields = [*RevisionSerializer.Meta.fields, "snapshot"]
        read_only_fields = fields

    def get_snapshot(self, revision: ConfigRevision) -> dict[str, Any]:
        return revision.shown_snapshot()
