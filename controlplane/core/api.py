"""What every API view shares: roles, site scoping, transactions, authorship, error mapping."""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError, QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.defaults import page_not_found
from rest_framework import serializers, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from controlplane.core.actor import set_actor
from controlplane.core.choices import Role
from controlplane.core.roles import scope_to_sites


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, plus: model ValidationError -> 400 by field; integrity/protected -> 409; a body
    over DATA_UPLOAD_MAX_MEMORY_SIZE -> 413.

    A 400 is always an object (the shape controlplane.core.schema documents): a bare list of
    messages becomes ``non_field_errors``.
    """
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return Response(detail, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, ProtectedError):
        names = sorted({str(o) for o in exc.protected_objects})[:10]
        return Response({"detail": f"in use by: {', '.join(names)}"}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, IntegrityError):
        return Response({"detail": "conflicts with existing data"}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, RequestDataTooBig):  # DATA_UPLOAD_MAX_MEMORY_SIZE, checked before the body is read
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return Response({"detail": f"the request body is larger than {limit} bytes"}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    response = drf_exception_handler(exc, context)
    if response is not None and response.status_code == status.HTTP_400_BAD_REQUEST and isinstance(response.data, list):
        response.data = {"non_field_errors": response.data}
    return response


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's 404 page, but JSON under /api/ (a path no route matches: ``/api/v1/cameras/2.5e-8/``)."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=status.HTTP_404_NOT_FOUND)
    return page_not_found(request, exception)


class CleanModelSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    """Runs the model's ``full_clean`` so the API and the admin refuse exactly the same input.

    Whatever ``clean`` normalises (defaults filled in, credentials moved) is carried back into the
    validated data.
    """

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        model: Any = self.Meta.model
        m2m = {f.name for f in model._meta.many_to_many}
        plain = {k: v for k, v in attrs.items() if k not in m2m}
        if self.instance is not None:
            instance = model.objects.get(pk=self.instance.pk)  # a copy: the original stays untouched on errors
            for k, v in plain.items():
                setattr(instance, k, v)
        else:
            instance = model(**plain)
        fields = [f.name for f in model._meta.concrete_fields if not f.primary_key]
        before = {name: getattr(instance, name) for name in fields}
        try:
            instance.full_clean(exclude=list(m2m), validate_unique=False)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(serializers.as_serializer_error(exc)) from None
        for name in fields:
            if name in plain or getattr(instance, name) != before[name]:
                attrs[name] = getattr(instance, name)
        return attrs


class PanoptesViewMixin:
    """What every resource viewset shares.

    - ``read_role`` / ``write_role`` / ``action_roles``: checked by RolePermission.
    - ``site_field``: path to the Site from the model; querysets are scoped to the user's sites.
    - Writes run in a transaction; the request's user authors the configuration revision.
    """

    read_role = Role.VIEWER
    write_role = Role.ADMIN
    action_roles: dict[str, Role] = {}
    site_field: str | None = None

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        if request.user.is_authenticated:
            set_actor(request.user, request.headers.get("X-Change-Comment", "")[:200])

    def get_queryset(self) -> QuerySet[Any]:
        request: Request = self.request  # type: ignore[attr-defined]
        return scope_to_sites(super().get_queryset(), request.user, self.site_field)  # type: ignore[misc]


class PanoptesReadOnlyViewSet(PanoptesViewMixin, viewsets.ReadOnlyModelViewSet):  # type: ignore[type-arg]
    """Resources the API lists and shows but never creates (alarms, revisions); actions may act on them."""


class PanoptesViewSet(PanoptesViewMixin, viewsets.ModelViewSet):  # type: ignore[type-arg]
    """Full CRUD; writes run in a transaction."""

    def perform_create(self, serializer: Any) -> None:
        with transaction.atomic():
            serializer.save()

    def perform_update(self, serializer: Any) -> None:
        with transaction.atomic():
            serializer.save()

    def perform_destroy(self, instance: Any) -> None:
        with transaction.atomic():
            instance.delete()


class ScopedRelatedField(serializers.PrimaryKeyRelatedField):  # type: ignore[type-arg]
    """A related object the requesting user may see (site scoping applies to references too)."""

    def __init__(self, *, site_field: str | None, **kwargs: Any) -> None:
        self.site_field = site_field
        super().__init__(**kwargs)

    def get_queryset(self) -> QuerySet[Any]:
        qs = super().get_queryset()
        assert qs is not None  # every ScopedRelatedField is declared with a queryset
        request = self.context.get("request")
        return scope_to_sites(qs, request.user, self.site_field) if request else qs
