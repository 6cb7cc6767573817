"""The events socket /ws/v1/events/ (integrators and the panel), against daphne, MariaDB and Redis.

A real socket client (websockets) talks to the web role under daphne; alarms are created by the
analysis' own creation action in a thread of their own, and reach the socket through the
on-commit publish and the Redis channel layer, as from a worker.
"""
from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest
import requests
import websockets
from conftest import make_user
from panel_helpers import PASSWORD, Scene, panel_process, panel_server, panel_storage, raise_alarm, scene  # noqa: F401
from websockets.exceptions import ConnectionClosed, InvalidStatus

pytestmark = pytest.mark.slow


def ws_url(base: str, query: str = "") -> str:
    return base.replace("http://", "ws://") + "/ws/v1/events/" + query


def token_for(username: str, role: str | None) -> str:
    from rest_framework.authtoken.models import Token

    return str(Token.objects.create(user=make_user(username, role)).key)


async def next_of(ws: Any, kind: str, timeout: float = 5.0) -> dict[str, Any]:
    """The next message of type ``kind`` (others, such as camera.status, are skipped)."""
    async with asyncio.timeout(timeout):
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == kind:
                return message  # type: ignore[no-any-return]


def session_cookie(base: str, username: str) -> str:
    """Log in through the panel's login page, as a browser would; the session cookie header."""
    return cookie_header(logged_in(base, username))


def cookie_header(http: requests.Session) -> str:
    return "; ".join(f"{c.name}={c.value}" for c in http.cookies)


def logged_in(base: str, username: str) -> requests.Session:
    http = requests.Session()
    page = http.get(f"{base}/panel/login/", timeout=5)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert csrf, page.text
    done = http.post(f"{base}/panel/login/", data={"username": username, "password": PASSWORD,
                                                   "csrfmiddlewaretoken": csrf.group(1)}, timeout=5)
    assert done.url.endswith("/panel/"), done.url
    return http


async def closed_for_revoked_credentials(ws: Any) -> None:
    """The socket is told and closed (4401) within a few seconds (PANOPTES_SOCKET_REAUTH_SECONDS=1 here)."""
    error = await next_of(ws, "error", timeout=6)
    assert error["status"] == 401 and "revoked" in error["detail"]
    with pytest.raises(ConnectionClosed) as closed:
        await next_of(ws, "never", timeout=3)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


def test_it_refuses_sockets_without_a_valid_token(panel_server: str, live_db: Any) -> None:  # noqa: F811
    good = token_for("integrator", "viewer")

    async def scenario() -> None:
        for query, headers in (("?token=not-a-token", {}), ("", {"Authorization": "Token not-a-token"}),
                               ("", {"Authorization": "Basic abc"})):
            with pytest.raises(InvalidStatus) as refused:
                await websockets.connect(ws_url(panel_server, query), additional_headers=headers)
            assert refused.value.response.status_code == 403
        async with websockets.connect(ws_url(panel_server)) as ws:  # no credentials: only "auth" is heard
            await ws.send(json.dumps({"type": "ping"}))
            async with asyncio.timeout(3):  # at once, not when the auth wait expires
                error = json.loads(await ws.recv())
                assert error["type"] == "error" and error["status"] == 401
                with pytest.raises(ConnectionClosed) as closed:
                    await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
        async with websockets.connect(ws_url(panel_server)) as ws:
            await ws.send(json.dumps({"type": "auth", "token": "wrong"}))
            assert json.loads(await ws.recv())["status"] == 401
        async with websockets.connect(ws_url(panel_server)) as ws:
            await ws.send(json.dumps({"type": "auth", "token": good}))
            hello = await next_of(ws, "hello")
            assert hello["user"] == "integrator" and hello["role"] == "viewer" and hello["can_operate"] is False

    asyncio.run(scenario())


def test_a_session_socket_from_another_origin_is_refused(panel_server: str, live_db: Any) -> None:  # noqa: F811
    make_user("watcher", "viewer")
    cookie = session_cookie(panel_server, "watcher")

    async def scenario() -> None:
        with pytest.raises(InvalidStatus) as refused:
            await websockets.connect(ws_url(panel_server), additional_headers={"Cookie": cookie},
                                     origin="http://evil.example")  # type: ignore[arg-type]
        assert refused.value.response.status_code == 403
        async with websockets.connect(ws_url(panel_server), additional_headers={"Cookie": cookie},
                                      origin=panel_server) as ws:  # type: ignore[arg-type]
            assert (await next_of(ws, "hello"))["user"] == "watcher"
        # Without an Origin (not a browser), a cookie authenticates nothing: a token is needed.
        async with websockets.connect(ws_url(panel_server), additional_headers={"Cookie": cookie}) as ws:
            await ws.send(json.dumps({"type": "ping"}))
            assert json.loads(await ws.recv())["status"] == 401

    asyncio.run(scenario())


def test_a_token_client_receives_alarm_created_in_the_webhook_schema(panel_server: str, scene: Scene) -> None:  # noqa: F811
    from controlplane.alarms.payloads import AlarmEvent

    token = token_for("soc", "viewer")

    async def scenario() -> None:
        async with websockets.connect(ws_url(panel_server), additional_headers={"Authorization": f"Token {token}"}) as ws:
            await next_of(ws, "hello")
            alarm = await asyncio.to_thread(raise_alarm, scene, 12, media=True)
            created = await next_of(ws, "alarm.created")
            event = AlarmEvent.model_validate(created)  # the webhook payload, version 1
            assert event.data.id == alarm.pk and event.schema_version == 1
            assert event.data.camera.name == "lobby" and event.data.algorithm == "intrusion"
            ready = await next_of(ws, "alarm.replay_ready")
            assert AlarmEvent.model_validate(ready).data.replay_url
            assert ready["data"]["id"] == alarm.pk and ready["data"]["replay_status"] == "ready"
        async with websockets.connect(ws_url(panel_server, f"?token={token}")) as ws:  # the query form too
            await next_of(ws, "hello")

    asyncio.run(scenario())


def test_a_site_scoped_user_does_not_receive_another_sites_alarms(panel_server: str, scene: Scene) -> None:  # noqa: F811
    token = token_for("north-guard", "operator")
    from django.contrib.auth.models import User

    scene.north.members.add(User.objects.get(username="north-guard"))
    everyone = token_for("hq", "viewer")  # in no site: sees every site

    async def scenario() -> None:
        async with (websockets.connect(ws_url(panel_server), additional_headers={"Authorization": f"Token {token}"}) as north,
                    websockets.connect(ws_url(panel_server), additional_headers={"Authorization": f"Token {everyone}"}) as hq):
            await next_of(north, "hello")
            await next_of(hq, "hello")
            south_alarm = await asyncio.to_thread(raise_alarm, scene, 3, camera=scene.other)
            north_alarm = await asyncio.to_thread(raise_alarm, scene, 8, track=2)
            assert (await next_of(hq, "alarm.created"))["data"]["id"] == south_alarm.pk
            assert (await next_of(hq, "alarm.created"))["data"]["id"] == north_alarm.pk
            assert (await next_of(north, "alarm.created"))["data"]["id"] == north_alarm.pk  # the south one never came
            # Nor can they act on it.
            await north.send(json.dumps({"type": "alarm.acknowledge", "alarm": south_alarm.pk}))
            assert (await next_of(north, "error"))["status"] == 404

    asyncio.run(scenario())


def test_alarm_actions_on_the_socket_need_the_operator_role(panel_server: str, scene: Scene) -> None:  # noqa: F811
    from controlplane.alarms.models import Alarm

    viewer, operator = token_for("eyes", "viewer"), token_for("hands", "operator")
    alarm = raise_alarm(scene, 12)

    async def scenario() -> None:
        async with websockets.connect(ws_url(panel_server), additional_headers={"Authorization": f"Token {viewer}"}) as ws:
            await next_of(ws, "hello")
            for action in ("alarm.acknowledge", "alarm.close"):
                await ws.send(json.dumps({"type": action, "alarm": alarm.pk, "id": "r1"}))
                error = await next_of(ws, "error")
                assert error["status"] == 403 and error["id"] == "r1"
        assert (await asyncio.to_thread(lambda: Alarm.objects.get(pk=alarm.pk).status)) == "new"
        async with websockets.connect(ws_url(panel_server), additional_headers={"Authorization": f"Token {operator}"}) as ws:
            await next_of(ws, "hello")
            await ws.send(json.dumps({"type": "alarm.acknowledge", "alarm": alarm.pk}))
            assert (await next_of(ws, "result"))["status"] == "acknowledged"
            await ws.send(json.dumps({"type": "alarm.acknowledge", "alarm": alarm.pk}))
            assert (await next_of(ws, "error"))["status"] == 409
            await ws.send(json.dumps({"type": "alarm.close", "alarm": alarm.pk, "note": "a cleaner"}))
            assert (await next_of(ws, "result"))["status"] == "closed"

    asyncio.run(scenario())
    closed = Alarm.objects.select_related("closed_by").get(pk=alarm.pk)
    assert closed.status == "closed" and closed.close_note == "a cleaner" and closed.closed_by.username == "hands"


def test_malformed_messages_get_an_error_and_the_socket_stays_open(panel_server: str, live_db: Any) -> None:  # noqa: F811
    token = token_for("fuzzy", "viewer")
    bad: list[str | bytes] = [
        "not json", b"\x00\x01", "[1, 2]", '{"type": 5}', '{"type": "nope"}', '{"type": "subscribe", "cameras": "x"}',
        '{"type": "subscribe", "cameras": [true]}', '{"type": "alarm.acknowledge", "alarm": "1"}', "x" * 70_000,
        '{"type": "auth", "token": "again"}',
    ]

    async def scenario() -> None:
        async with websockets.connect(ws_url(panel_server), additional_headers={"Authorization": f"Token {token}"}) as ws:
            await next_of(ws, "hello")
            for message in bad:
                await ws.send(message)
                error = await next_of(ws, "error")
                assert error["status"] in (400, 403, 413) and error["detail"], (message, error)
            await ws.send(json.dumps({"type": "ping"}))
            assert (await next_of(ws, "pong"))["type"] == "pong"

    asyncio.run(scenario())


def test_camera_status_changes_are_pushed_to_subscribers(panel_server: str, scene: Scene, redis_client: Any) -> None:  # noqa: F811
    from workers.status import write_status

    token = token_for("ops", "viewer")

    async def scenario() -> None:
        async with websockets.connect(ws_url(panel_server), additional_headers={"Authorization": f"Token {token}"}) as ws:
            await next_of(ws, "hello")
            await ws.send(json.dumps({"type": "subscribe", "cameras": [scene.camera.pk, 999_999]}))
            assert (await next_of(ws, "subscribed"))["cameras"] == [scene.camera.pk]  # only what exists in scope
            first = await next_of(ws, "camera.status")
            assert first["data"]["camera"] == {"id": scene.camera.pk, "name": "lobby"} and first["data"]["state"] == "unknown"
            write_status(redis_client, scene.camera.pk, {"state": "streaming", "worker": "capture@h1", "input_fps": "25.00"})
            status = await next_of(ws, "camera.status")
            assert status["schema_version"] == 1
            assert (status["data"]["state"], status["data"]["worker"], status["data"]["input_fps"]) == ("streaming", "capture@h1", "25.00")

    asyncio.run(scenario())


def test_a_socket_ends_when_its_token_is_deleted_or_its_session_logged_out(panel_server: str, live_db: Any) -> None:  # noqa: F811
    from rest_framework.authtoken.models import Token

    token = token_for("temp", "viewer")
    make_user("shift", "operator")
    http = logged_in(panel_server, "shift")

    async def scenario() -> None:
        async with websockets.connect(ws_url(panel_server), additional_headers={"Authorization": f"Token {token}"}) as ws:
            await next_of(ws, "hello")
            await asyncio.to_thread(lambda: Token.objects.filter(key=token).delete())
            await closed_for_revoked_credentials(ws)
        async with websockets.connect(ws_url(panel_server), additional_headers={"Cookie": cookie_header(http)},
                                      origin=panel_server) as ws:  # type: ignore[arg-type]
            await next_of(ws, "hello")
            csrf = http.cookies["csrftoken"]
            out = await asyncio.to_thread(lambda: http.post(f"{panel_server}/panel/logout/", timeout=5,
                                                            headers={"X-CSRFToken": csrf, "Referer": panel_server}))
            assert out.url.endswith("/panel/login/")
            await closed_for_revoked_credentials(ws)

    asyncio.run(scenario())


def test_an_idle_socket_stays_open_and_still_receives_alarms(panel_server: str, scene: Scene) -> None:  # noqa: F811
    """Longer than the channel layer's 5 s blocking read of Redis (redis-py's default socket timeout
    is 5 s too: without a longer one, an idle socket died with 1011)."""
    token = token_for("night", "viewer")

    async def scenario() -> None:
        async with websockets.connect(ws_url(panel_server), additional_headers={"Authorization": f"Token {token}"}) as ws:
            await next_of(ws, "hello")
            await asyncio.sleep(7)
            alarm = await asyncio.to_thread(raise_alarm, scene, 12)
            assert (await next_of(ws, "alarm.created"))["data"]["id"] == alarm.pk

    asyncio.run(scenario())
