from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from controlplane.configs.actions import restore
from controlplane.configs.api.serializers import RevisionSerializer
from controlplane.configs.models import ConfigRevision
from controlplane.core.api import PanoptesReadOnlyViewSet
from controlplane.core.choices import Role


class RevisionViewSet(PanoptesReadOnlyViewSet):
    queryset = ConfigRevision.objects.all()
    serializer_class = RevisionSerializer
    ordering_fields = ["version", "created_at"]
    action_roles = {"rollback": Role.ADMIN}

    @extend_schema(request=None, responses={201: RevisionSerializer})
    @action(detail=True, methods=["post"])
    def rollback(self, request: Request, pk: Any = None) -> Response:
        """Restore this revision's configuration; the result is published as a new version."""
        new = restore(self.get_object(), request.user)
        return Response(self.get_serializer(new).data, status=status.HTTP_201_CREATED)
