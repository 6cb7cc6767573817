"""The events socket, /ws/v1/events/: the panel's live updates and the integrators' stream.

Authentication, as the REST API: a session (the panel; its Origin is checked by
controlplane.panel.auth.SocketOriginValidator), or an API token in the ``Authorization: Token
<key>`` header, a ``?token=<key>`` query parameter, or a first message ``{"type": "auth",
"token": "<key>"}`` within AUTH_SECONDS. A bad token in the header or query refuses the
handshake (403); a bad or missing first message closes the socket with code 4401.

What a client receives (docs/websocket.md): ``hello`` once authenticated, then ``alarm.created``
and ``alarm.replay_ready`` (the webhook payload, version 1) of the cameras the user may see, and
``camera.status`` when a camera's capture state, owner, fps, last segment or error changes.
What a client may send: ``subscribe`` (camera ids whose status it wants; default: all in scope),
``alarm.acknowledge`` / ``alarm.close`` (operators, the API's actions), ``ping``. Anything
malformed gets an ``error`` message with an HTTP-like status and the socket stays open.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from controlplane.alarms.api.serializers import CloseSerializer
from controlplane.alarms.models import Alarm
from controlplane.alarms.payloads import SCHEMA_VERSION
from controlplane.cameras.models import Camera
from controlplane.core.choices import Role
from controlplane.core.parsers import TOO_DEEP, json_too_deep
from controlplane.core.redis import client
from controlplane.core.roles import has_role, role_of, scope_to_sites
from controlplane.panel.auth import user_for_token
from controlplane.panel.events import GROUP, STATUS_FIELDS, camera_status_event
from workers.status import read_status

logger = logging.getLogger(__name__)

AUTH_SECONDS = 10.0  # a socket without credentials waits this long for its auth message
# Camera status lives in Redis hashes refreshed each second by their owners (workers.status);
# a socket reads those of its cameras every 2 s (one pipelined round trip) and sends changes.
STATUS_SECONDS = 2.0
MAX_MESSAGE = 64 * 1024  # characters of one client message
MAX_SUBSCRIBE = 1000  # camera ids in one subscribe message
CLOSE_UNAUTHENTICATED = 4401


class EventsConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    user: Any = None
    token: str | None = None  # the API token the socket authenticated with (None: a session)
    sites: set[int] | None = None  # None: every site
    cameras: list[int] | None = None  # subscribed camera ids (in scope); None: all in scope
    tasks: list[asyncio.Task[None]]

    # --- connection ------------------------------------------------------------------------------
    async def connect(self) -> None:
        self.tasks = []
        token = self.token_from_handshake()
        if token is not None:
            user = await database_sync_to_async(user_for_token)(token)
            if user is None:
                await self.close()  # before accept: the handshake is refused (HTTP 403)
                return
            self.token = token
            await self.start(user)
            return
        session_user = self.scope.get("user")
        if session_user is not None and session_user.is_authenticated:
            if await database_sync_to_async(role_of)(session_user) is None:
                await self.close()
                return
            await self.start(session_user)
            return
        await self.accept()
        self.tasks.append(asyncio.create_task(self.expire_unauthenticated()))

    def token_from_handshake(self) -> str | None:
        headers: list[tuple[bytes, bytes]] = self.scope.get("headers", [])
        for name, value in headers:
            if name == b"authorization":
                scheme, _, key = value.decode("latin1").partition(" ")
                if scheme.lower() in ("token", "bearer") and key.strip():
                    return key.strip()
                return ""  # present but malformed: refused like a wrong token
        query_string: bytes = self.scope.get("query_string", b"")
        query = parse_qs(query_string.decode("latin1"))
        if "token" in query:
            return query["token"][-1]
        return None

    async def expire_unauthenticated(self) -> None:
        await asyncio.sleep(AUTH_SECONDS)
        if self.user is None:
            await self.refuse("no credentials: send {\"type\": \"auth\", \"token\": \"<API token>\"} first")

    async def refuse(self, detail: str) -> None:
        await self.send_json({"type": "error", "status": 401, "detail": detail})
        await self.close(code=CLOSE_UNAUTHENTICATED)

    async def start(self, user: Any) -> None:
        role, sites = await database_sync_to_async(role_and_sites)(user)
        self.user, self.sites = user, sites
        self.last_status: dict[int, tuple[str, ...]] = {}
        await self.channel_layer.group_add(GROUP, self.channel_name)
        if not self.accepted:
            await self.accept()
        await self.send_json({
            "type": "hello", "schema_version": SCHEMA_VERSION, "user": user.get_username(), "role": role,
            "can_operate": Role.rank(Role(role)) >= Role.rank(Role.OPERATOR),
        })
        self.tasks.append(asyncio.create_task(self.watch_status()))

    @property
    def accepted(self) -> bool:
        return bool(getattr(self, "_accepted", False))

    async def accept(self, subprotocol: str | None = None, headers: Any = None) -> None:
        await super().accept(subprotocol, headers)
        self._accepted = True

    async def disconnect(self, code: int) -> None:
        for task in self.tasks:
            task.cancel()
        if self.user is not None:
            await self.channel_layer.group_discard(GROUP, self.channel_name)

    # --- client messages ---------------------------------------------------------------------------
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is None:
            return await self.error(400, "messages are JSON text, not binary")
        if len(text_data) > MAX_MESSAGE:
            return await self.error(413, f"a message is at most {MAX_MESSAGE} characters")
        if json_too_deep(text_data):  # json.loads would raise RecursionError, even before authentication
            return await self.error(400, TOO_DEEP)
        try:
            message = json.loads(text_data)
        except ValueError as exc:
            return await self.error(400, f"not JSON: {exc}")
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            return await self.error(400, 'a message is a JSON object with a "type"')
        try:
            await self.handle(message)
        except Exception:  # a bug must not cost the client its socket
            logger.exception("events socket: %s message failed", message.get("type"))
            await self.error(500, "the server failed to handle this message", message)

    async def handle(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if self.user is None:
            if kind != "auth" or not isinstance(message.get("token"), str):
                return await self.refuse('not authenticated: the first message must be {"type": "auth", "token": ...}')
            user = await database_sync_to_async(user_for_token)(message["token"])
            if user is None:
                return await self.refuse("invalid token")
            for task in self.tasks:
                task.cancel()
            self.tasks = []
            self.token = message["token"]
            return await self.start(user)
        handler = {
            "ping": self.on_ping, "subscribe": self.on_subscribe,
            "alarm.acknowledge": self.on_alarm_action, "alarm.close": self.on_alarm_action,
        }.get(kind)
        if handler is None:
            return await self.error(400, f"unknown message type {kind!r}", message)
        await handler(message)

    async def on_ping(self, message: dict[str, Any]) -> None:
        await self.send_json({"type": "pong"})

    async def on_subscribe(self, message: dict[str, Any]) -> None:
        wanted = message.get("cameras")
        if wanted is None:
            self.cameras = None
        elif (not isinstance(wanted, list) or len(wanted) > MAX_SUBSCRIBE
              or not all(isinstance(c, int) and not isinstance(c, bool) for c in wanted)):
            return await self.error(400, f'"cameras" is a list of at most {MAX_SUBSCRIBE} camera ids, or null', message)
        else:
            self.cameras = await database_sync_to_async(self.visible_cameras)(wanted)
        self.last_status = {}
        await self.send_json({"type": "subscribed", "cameras": self.cameras})
        await self.send_status()

    async def on_alarm_action(self, message: dict[str, Any]) -> None:
        alarm_id = message.get("alarm")
        if not isinstance(alarm_id, int) or isinstance(alarm_id, bool):
            return await self.error(400, '"alarm" is an alarm id', message)
        if not await database_sync_to_async(has_role)(self.user, Role.OPERATOR):
            return await self.error(403, "needs the operator role", message)
        note = message.get("note", "")
        body = CloseSerializer(data={"note": note})
        if not await database_sync_to_async(body.is_valid)():
            return await self.error(400, json.dumps(body.errors), message)
        status, detail = await database_sync_to_async(self.act)(message["type"], alarm_id, body.validated_data["note"])
        if status != 200:
            return await self.error(status, detail, message)
        await self.send_json({"type": "result", "action": message["type"], "alarm": alarm_id, "status": detail})

    def act(self, action: str, alarm_id: int, note: str) -> tuple[int, str]:
        """The API's acknowledge/close (Alarm.acknowledge / Alarm.close) on the user's scoped alarms."""
        alarm = scope_to_sites(Alarm.objects.all(), self.user, "camera__site").filter(pk=alarm_id).first()
        if alarm is None:
            return 404, "no such alarm"
        if action == "alarm.acknowledge":
            if not alarm.acknowledge(self.user):
                return 409, f"alarm is {alarm.status}, not new"
        elif not alarm.close(self.user, note):
            return 409, "alarm is already closed"
        return 200, alarm.status

    async def error(self, status: int, detail: str, message: dict[str, Any] | None = None) -> None:
        reply: dict[str, Any] = {"type": "error", "status": status, "detail": detail}
        if message is not None and isinstance(message.get("id"), (str, int)):
            reply["id"] = message["id"]  # a client's own request id, echoed
        await self.send_json(reply)

    # --- server events ---------------------------------------------------------------------------------
    async def event_push(self, message: dict[str, Any]) -> None:
        """An alarm event from controlplane.panel.events.publish_alarm: passed on within the user's sites."""
        site = message.get("site")
        if self.sites is not None and site is not None and site not in self.sites:
            return
        await self.send_json(message["event"])

    async def watch_status(self) -> None:
        checked = time.monotonic()
        while True:
            try:
                if time.monotonic() - checked >= settings.SOCKET_REAUTH_SECONDS:
                    checked = time.monotonic()
                    if not await database_sync_to_async(self.still_allowed)():
                        return await self.refuse("the credentials of this socket were revoked (logged out, token "
                                                 "deleted, user deactivated or out of every role)")
                await self.send_status()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis or the database away for a moment: try again later
                logger.warning("events socket: camera status not read (%s)", exc)
            await asyncio.sleep(STATUS_SECONDS)

    def still_allowed(self) -> bool:
        """Whether the socket's token or session still stands for an active user with a role; sites refreshed."""
        if self.token is not None:
            user = user_for_token(self.token)
            if user is None or user.pk != self.user.pk:
                return False
        else:
            session = self.scope.get("session")
            if session is None or not session.session_key or not session.exists(session.session_key):
                return False
            user = get_user_model().objects.filter(pk=self.user.pk, is_active=True).first()
            if user is None or role_of(user) is None:
                return False
        self.user = user
        _, self.sites = role_and_sites(user)
        return True

    async def send_status(self) -> None:
        events = await database_sync_to_async(self.changed_status)()
        for event in events:
            await self.send_json(event)

    def changed_status(self) -> list[dict[str, Any]]:
        cameras = self.scoped_cameras()
        if self.cameras is not None:
            cameras = cameras.filter(pk__in=self.cameras)
        names = dict(cameras.values_list("pk", "name"))
        statuses = read_status(client(), list(names))
        events = []
        for camera_id, status in statuses.items():
            seen = tuple(status.get(f, "") for f in STATUS_FIELDS if f != "updated_at")
            if self.last_status.get(camera_id) != seen:
                self.last_status[camera_id] = seen
                events.append(camera_status_event(camera_id, names[camera_id], status))
        return events

    def scoped_cameras(self) -> QuerySet[Camera]:
        return scope_to_sites(Camera.objects.order_by("pk"), self.user, "site")

    def visible_cameras(self, wanted: list[int]) -> list[int]:
        return list(self.scoped_cameras().filter(pk__in=wanted).values_list("pk", flat=True))


def role_and_sites(user: Any) -> tuple[str, set[int] | None]:
    """The user's role and the sites whose alarms they see (None: all), as scope_to_sites decides."""
    role = role_of(user)
    assert role is not None
    if role == Role.ADMIN:
        return role.value, None
    sites = set(user.panoptes_sites.values_list("pk", flat=True))
    return role.value, (sites or None)
