"""Users and their roles, through the API (admins only)."""
from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.db import transaction
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import SAFE_METHODS

from controlplane.core.api import PanoptesViewSet
from controlplane.core.choices import Role
from controlplane.core.roles import may_manage, role_of

User = get_user_model()


class UserSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    role = serializers.ChoiceField(choices=Role.choices, allow_null=True, required=False)
    password = serializers.CharField(write_only=True, required=False, style={"input_type": "password"})

    class Meta:
        model = User
        fields = ["id", "username", "email", "is_active", "role", "password", "date_joined", "last_login"]
        read_only_fields = ["date_joined", "last_login"]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        request = self.context.get("request")
        if self.instance is not None and request is not None and self.instance.pk == request.user.pk:
            if attrs.get("is_active") is False or ("role" in attrs and attrs["role"] != role_of(self.instance)):
                raise serializers.ValidationError("you cannot deactivate yourself or change your own role")
        return attrs

    def validate_password(self, value: str) -> str:
        validate_password(value)
        return value

    def to_representation(self, instance: Any) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["role"] = role_of(instance)
        return data

    @transaction.atomic
    def save(self, **kwargs: Any) -> Any:
        role = self.validated_data.pop("role", ...)
        password = self.validated_data.pop("password", None)
        user = super().save(**kwargs)
        if password:
            user.set_password(password)
            user.save(update_fields=["password"])
        if role is not ...:
            user.groups.remove(*Group.objects.filter(name__in=Role.values))
            if role:
                user.groups.add(Group.objects.get(name=role))
            user.is_staff = bool(role)  # every role may log into the admin panel (read-only for viewers)
            user.save(update_fields=["is_staff"])
        return user


class UserViewSet(PanoptesViewSet):
    queryset = User.objects.prefetch_related("groups").order_by("username")
    serializer_class = UserSerializer
    read_role = Role.ADMIN
    search_fields = ["username", "email"]

    def get_object(self) -> Any:
        user = super().get_object()
        if self.request.method not in SAFE_METHODS and not may_manage(self.request.user, user):
            # Its password or role would be ours to set: a way up (controlplane.core.roles).
            raise PermissionDenied("only a superuser may change a superuser or an account with permissions you lack")
        return user

    def perform_destroy(self, instance: Any) -> None:
        if instance.pk == self.request.user.pk:
            raise PermissionDenied("you cannot delete your own account")
        super().perform_destroy(instance)
