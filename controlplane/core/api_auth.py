"""``POST /api/v1/auth/token/``: a user name and password for the user's API token, throttled.

DRF's ``obtain_auth_token`` plus the login throttle (controlplane.core.throttling): a locked user
name or address gets 429 with Retry-After, even with the right password.
"""
from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.exceptions import Throttled, ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from controlplane.core.throttling import locked_for, lockout_message


class ObtainTokenView(APIView):
    """Exchange a user name and password for the user's API token (the same token each time)."""

    authentication_classes: list[Any] = []  # anonymous by nature: no session, so no CSRF either
    permission_classes = [AllowAny]
    renderer_classes = [JSONRenderer]
    # The API's JSON parser(s), and forms as DRF's view took them (``curl -d username=...``).
    parser_classes = [*api_settings.DEFAULT_PARSER_CLASSES, FormParser, MultiPartParser]
    serializer_class = AuthTokenSerializer

    @extend_schema(
        request=AuthTokenSerializer,
        responses={
            200: inline_serializer("Token", {"token": serializers.CharField()}),
            400: OpenApiResponse(description="Missing fields, or a wrong user name or password."),
            429: OpenApiResponse(
                inline_serializer("LoginLocked", {"detail": serializers.CharField()}),
                description="Too many failed logins for this user name or from this address; "
                "the Retry-After header says for how many seconds.",
            ),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = AuthTokenSerializer(data=request.data, context={"request": request})
        valid = serializer.is_valid()
        wait = locked_for(request)
        if wait:
            raise Throttled(wait=wait, detail=lockout_message(wait))
        if not valid:
            raise ValidationError(serializer.errors)
        token, _ = Token.objects.get_or_create(user=serializer.validated_data["user"])
        return Response({"token": token.key})
