"""Real responses, errors included, match the published OpenAPI schema (issue 11, finding 14).

Over HTTP against a live server, each response's status code must be documented for its
operation and its body must validate against the documented schema (schemathesis's validator).
tests/test_api_fuzz.py does the same for generated requests; these are the cases found drifting.
"""
from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
import schemathesis


@pytest.fixture
def world(api: Any, live_server: Any) -> dict[str, Any]:
    """A camera with a new alarm (nobody has acknowledged or closed it), tokens by role, the schema."""
    from controlplane.alarms.models import Alarm
    from controlplane.cameras.models import Camera, Site

    site = Site.objects.create(name="north")
    camera = Camera.objects.create(name="gate", stream_url="rtsp://10.0.0.8/s", site=site)
    alarm = Alarm.objects.create(
        camera=camera, algorithm="intrusion", zone_name="yard", dedup_key=uuid.uuid4().hex, severity="high",
        event_time=datetime(2026, 11, 23, 12, 0, 8, tzinfo=UTC), object_class="person", score=0.9, details={},
    )
    raw = requests.get(f"{live_server.url}/api/v1/schema/", headers={"Accept": "application/json"}, timeout=20).json()
    tokens = {role: api(role)._credentials["HTTP_AUTHORIZATION"] for role in ("admin", "operator", "viewer")}
    return {"raw": raw, "schema": schemathesis.openapi.from_dict(raw), "tokens": tokens, "url": live_server.url,
            "site": site.pk, "camera": camera.pk, "alarm": alarm.pk, "missing": camera.pk + 1000,
            "not_an_id": "-2.5e-81"}


def call(world: dict[str, Any], role: str | None, method: str, template: str, body: Any = None, *, query: str = "",
         headers: dict[str, str] | None = None, data: str | None = None) -> Any:
    """Send the request, check the response against the schema's operation at ``template``, return it.

    ``template`` names its object (``{alarm}``); the schema calls every such parameter ``{id}``.
    """
    headers = {**({"Authorization": world["tokens"][role]} if role else {}), **(headers or {})}
    url = f"{world['url']}{template.format(**world)}{'?' + query if query else ''}"
    response = requests.request(method, url, headers=headers, json=body, data=data, timeout=20)
    operation = re.sub(r"\{\w+\}", "{id}", template)
    documented = world["raw"]["paths"][operation][method.lower()]["responses"]
    assert str(response.status_code) in documented, (response.status_code, sorted(documented), response.text[:300])
    media_type = response.headers.get("Content-Type", "").split(";")[0]
    assert media_type in documented[str(response.status_code)].get("content", {}), (media_type, response.text[:300])
    world["schema"][operation][method].validate_response(response)  # raises, naming the differences
    return response


def test_a_new_alarm_nobody_acknowledged_or_closed_matches_its_schema(world: dict[str, Any]) -> None:
    listed = call(world, "viewer", "GET", "/api/v1/alarms/")
    shown = call(world, "viewer", "GET", "/api/v1/alarms/{alarm}/")

    assert listed.json()["results"][0]["acknowledged_by"] is None
    assert shown.json()["acknowledged_by"] is None and shown.json()["closed_by"] is None


def test_acknowledging_and_closing_an_alarm_match_the_schema_and_so_does_the_conflict(world: dict[str, Any]) -> None:
    call(world, "operator", "POST", "/api/v1/alarms/{alarm}/acknowledge/")
    conflict = call(world, "operator", "POST", "/api/v1/alarms/{alarm}/acknowledge/")
    closed = call(world, "operator", "POST", "/api/v1/alarms/{alarm}/close/", {"note": "test"})

    assert conflict.status_code == 409 and "detail" in conflict.json()
    assert closed.json()["history"][-1]["user"] == closed.json()["closed_by"]


def test_the_status_of_every_camera_is_documented_as_the_plain_list_it_is(world: dict[str, Any]) -> None:
    response = call(world, "viewer", "GET", "/api/v1/cameras/status/")

    assert isinstance(response.json(), list) and response.json()[0]["camera"] == world["camera"]


@pytest.mark.parametrize(
    ("role", "method", "template", "query", "body", "status"),
    [
        (None, "GET", "/api/v1/cameras/", "", None, 401),  # no token
        ("viewer", "POST", "/api/v1/cameras/", "", {"name": "x", "stream_url": "rtsp://10.0.0.9/s"}, 403),
        ("operator", "DELETE", "/api/v1/cameras/{camera}/", "", None, 403),
        ("viewer", "GET", "/api/v1/cameras/{missing}/", "", None, 404),
        ("viewer", "GET", "/api/v1/cameras/{not_an_id}/", "", None, 404),  # no route: Django's page, JSON here
        ("admin", "GET", "/api/v1/users/", "search=a%00b", None, 400),  # was a bare list
        ("viewer", "GET", "/api/v1/alarms/{alarm}/snapshot/", "", None, 404),  # no picture yet
        ("admin", "POST", "/api/v1/cameras/", "", {"name": "", "stream_url": "file:///etc/passwd"}, 400),
        ("admin", "PATCH", "/api/v1/cameras/{camera}/", "", {"detect_fps": "fast"}, 400),
        ("viewer", "GET", "/api/v1/alarms/", "limit=true", None, 400),
        ("viewer", "GET", "/api/v1/alarms/", "camera=not-a-number", None, 400),
        ("admin", "POST", "/api/v1/sites/", "", {"name": "north"}, 400),  # a name taken: refused by validation
        ("admin", "DELETE", "/api/v1/sites/{site}/", "", None, 409),  # a camera is in it
    ],
)
def test_an_error_response_is_documented_with_its_body(
    world: dict[str, Any], role: str | None, method: str, template: str, query: str, body: Any, status: int
) -> None:
    response = call(world, role, method, template, body, query=query)

    assert response.status_code == status, response.text[:300]
    if status == 400 and query:
        assert query.split("=")[0] in response.json()  # names the parameter


def test_a_body_of_an_unsupported_media_type_is_a_documented_415(world: dict[str, Any]) -> None:
    response = call(world, "admin", "POST", "/api/v1/sites/", data="name=x", headers={"Content-Type": "text/plain"})

    assert response.status_code == 415


def test_a_body_over_the_size_limit_is_a_documented_413(world: dict[str, Any]) -> None:
    from analytics.limits import MAX_REQUEST_BODY_BYTES

    body = '{"name": "' + "x" * MAX_REQUEST_BODY_BYTES + '"}'
    response = call(world, "admin", "POST", "/api/v1/sites/", data=body, headers={"Content-Type": "application/json"})

    assert response.status_code == 413
