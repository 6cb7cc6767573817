"""The web role (DESIGN §2): HTTP (panel, admin, API) and WebSocket (/ws/v1/events/) under daphne.

``daphne controlplane.asgi:application``. With DEBUG on (development, quickstart) it also serves
the static files, as runserver would; in production they are collected and served by the proxy.
"""
from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings")
django_application = get_asgi_application()  # sets Django up before the consumers are imported

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from controlplane.panel.auth import SocketOriginValidator  # noqa: E402
from controlplane.panel.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter({
    "http": ASGIStaticFilesHandler(django_application) if settings.DEBUG else django_application,
    "websocket": SocketOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
})
