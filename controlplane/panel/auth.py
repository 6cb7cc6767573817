"""Who may open a panel page or socket: the REST API's rules (roles, tokens, sites), not a copy.

- Pages: ``role_required(Role.X)``: anonymous users go to the login page, users below the role
  get 403 (as RolePermission answers the API).
- Sockets: ``SocketOriginValidator`` refuses a handshake whose Origin is not one of ALLOWED_HOSTS
  (channels' AllowedHostsOriginValidator). A handshake without Origin is not a browser's: its
  cookies are dropped, so it can only authenticate with a token (cross-site socket hijacking
  needs the victim's cookie; a token is never sent by a browser on its own).
- ``user_for_token``: the API's own token authentication classes (DEFAULT_AUTHENTICATION_CLASSES).
"""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from channels.security.websocket import AllowedHostsOriginValidator
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.settings import api_settings

from controlplane.core.choices import Role
from controlplane.core.roles import has_role, role_of

View = Callable[..., HttpResponse]


def role_required(role: Role) -> Callable[[View], View]:
    def decorate(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not has_role(request.user, role):
                raise PermissionDenied(f"needs the {role.value} role")
            return view(request, *args, **kwargs)
        return wrapped
    return decorate


def can_operate(user: Any) -> bool:
    """Acknowledge and close alarms (the API's AlarmViewSet.action_roles)."""
    return has_role(user, Role.OPERATOR)


def user_for_token(key: str) -> Any | None:
    """The active user a REST API token belongs to, or None."""
    for auth_class in api_settings.DEFAULT_AUTHENTICATION_CLASSES:
        if isinstance(auth_class, type) and issubclass(auth_class, TokenAuthentication):
            try:
                user, _ = auth_class().authenticate_credentials(key)
            except AuthenticationFailed:
                return None
            return user if role_of(user) is not None else None
    return None


class SocketOriginValidator:
    """ASGI middleware for the websocket protocol: see the module docstring."""

    def __init__(self, application: Any) -> None:
        self.application = application
        self.validated = AllowedHostsOriginValidator(application)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        headers = scope.get("headers", [])
        if any(name == b"origin" for name, _ in headers):
            return await self.validated(scope, receive, send)
        without_cookies = [(name, value) for name, value in headers if name != b"cookie"]
        return await self.application({**scope, "headers": without_cookies}, receive, send)
