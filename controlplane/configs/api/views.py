from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from controlplane.configs.actions import restore
from controlplane.configs.api.serializers import RevisionDetailSerializer, RevisionSerializer
from controlplane.configs.models import ConfigRevision
from controlplane.core.api import PanoptesReadOnlyViewSet
from controlplane.core.choices import Role
from controlplane.core.roles import is_site_scoped


class RevisionViewSet(PanoptesReadOnlyViewSet):
    """Configuration revisions: the list without snapshots, one revision with its snapshot.

    A revision is one record of the whole installation (its comment, author and snapshot describe
    every site), so users limited to some sites read none; admins are never site-scoped.
    """

    queryset = ConfigRevision.objects.all()
    serializer_class = RevisionSerializer
    ordering_fields = ["version", "created_at"]
    action_roles = {"rollback": Role.ADMIN}

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if is_site_scoped(request.user):
            raise PermissionDenied("revisions span every site; your account sees only some sites")

    def get_queryset(self) -> Any:
        # The list never loads snapshots (megabytes each for a large installation).
        qs = super().get_queryset()
        return qs.defer("snapshot") if self.action == "list" else qs

    def get_serializer_class(self) -> type[BaseSerializer[Any]]:
        return RevisionSerializer if self.action == "list" else RevisionDetailSerializer

    @extend_schema(request=None, responses={201: RevisionDetailSerializer})
    @action(detail=True, methods=["post"])
    def rollback(self, request: Request, pk: Any = None) -> Response:
        """Restore this revision's configuration; the result is published as a new version."""
        new = restore(self.get_object(), request.user)
        return Response(self.get_serializer(new).data, status=status.HTTP_201_CREATED)
