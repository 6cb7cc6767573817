"""Size limits and hostile bodies (issue 11, findings 4, 5, 6 and 12).

The API and the admin refuse oversized configuration with a 400 (a form error) naming the field,
bodies over the size cap with a 413, deeply nested JSON with a 400 and never a 500 (also for
anonymous callers), and target classes the camera's detector model does not have. The limits
themselves live in analytics.limits.
"""
from __future__ import annotations

import json
import math
from typing import Any

import pytest
from django.test import Client
from test_admin_panel import camera_form, url

from analytics.limits import (
    MAX_BINDINGS_PER_CAMERA,
    MAX_CLASS_NAME_LENGTH,
    MAX_JSON_DEPTH,
    MAX_MODEL_CLASSES,
    MAX_REQUEST_BODY_BYTES,
    MAX_RETENTION_HOURS,
    MAX_SCHEDULE_WINDOWS,
    MAX_TAGS,
    MAX_ZONE_POINTS,
    MAX_ZONES_PER_CAMERA,
)


def ring(n: int) -> list[list[float]]:
    """A simple polygon of ``n`` distinct points on a circle."""
    return [[round(0.5 + 0.4 * math.cos(2 * math.pi * i / n), 6), round(0.5 + 0.4 * math.sin(2 * math.pi * i / n), 6)]
            for i in range(n)]


def nested(depth: int, inner: str = "1") -> str:
    """A JSON document of ``depth`` nested arrays."""
    return "[" * depth + inner + "]" * depth


def coco_default_model() -> Any:
    """The shared assets' YOLOX-Nano (COCO-80) as the default model, as a fresh install registers it."""
    from django.conf import settings

    from controlplane.detectors.actions import register_assets_model
    from controlplane.detectors.models import DetectorModel

    model = register_assets_model(DetectorModel, settings.PANOPTES_ASSETS)
    assert model is not None and model.is_default and "unicorn" not in model.class_names
    return model


def forklift_model() -> Any:
    """A second model (the same ONNX file) whose classes are person and forklift only."""
    from django.conf import settings

    from controlplane.detectors.models import DetectorModel

    return DetectorModel.objects.create(
        name="forklifts", onnx_path=str(settings.PANOPTES_ASSETS / "models" / "yolox_nano.onnx"), input_width=416,
        input_height=416, class_names=["person", "forklift"],
    )


@pytest.fixture
def world(api: Any) -> dict[str, Any]:
    admin, operator = api("admin"), api("operator")
    camera = admin.post("/api/v1/cameras/", {"name": "yard", "stream_url": "rtsp://10.0.0.5/s"}, format="json").json()
    other = admin.post("/api/v1/cameras/", {"name": "dock", "stream_url": "rtsp://10.0.0.6/s"}, format="json").json()
    zone = operator.post("/api/v1/zones/", {"camera": camera["id"], "name": "z", "points": ring(4)}, format="json").json()
    return {"admin": admin, "operator": operator, "camera": camera, "other": other, "zone": zone}


# --- finding 4: sizes --------------------------------------------------------------------------
def test_a_zone_at_the_point_limit_is_accepted_and_one_point_more_is_refused_naming_points(world: dict[str, Any]) -> None:
    operator, camera = world["operator"], world["camera"]

    at_limit = operator.post("/api/v1/zones/", {"camera": camera["id"], "name": "fence", "points": ring(MAX_ZONE_POINTS)},
                             format="json")
    over = operator.post("/api/v1/zones/", {"camera": camera["id"], "name": "fence2", "points": ring(MAX_ZONE_POINTS + 1)},
                         format="json")
    moved = operator.patch(f"/api/v1/zones/{world['zone']['id']}/", {"points": ring(MAX_ZONE_POINTS + 1)}, format="json")

    assert at_limit.status_code == 201, at_limit.json()
    assert over.status_code == 400 and f"at most {MAX_ZONE_POINTS} points" in str(over.json()["points"]), over.json()
    assert moved.status_code == 400 and "points" in moved.json(), moved.json()


def test_a_camera_takes_at_most_the_zone_limit_also_when_a_zone_moves_to_it(world: dict[str, Any]) -> None:
    from controlplane.zones.models import Zone

    operator, camera = world["operator"], world["camera"]
    Zone.objects.bulk_create(
        Zone(camera_id=camera["id"], name=f"z{i}", points=ring(3)) for i in range(MAX_ZONES_PER_CAMERA - 1)
    )
    elsewhere = operator.post("/api/v1/zones/", {"camera": world["other"]["id"], "name": "gate", "points": ring(3)},
                              format="json").json()

    added = operator.post("/api/v1/zones/", {"camera": camera["id"], "name": "one-more", "points": ring(3)}, format="json")
    moved = operator.patch(f"/api/v1/zones/{elsewhere['id']}/", {"camera": camera["id"]}, format="json")
    renamed = operator.patch(f"/api/v1/zones/{world['zone']['id']}/", {"name": "still fine"}, format="json")

    assert added.status_code == 400 and f"at most {MAX_ZONES_PER_CAMERA} zones" in str(added.json()["camera"]), added.json()
    assert moved.status_code == 400 and "camera" in moved.json(), moved.json()
    assert renamed.status_code == 200, renamed.json()  # a full camera's zones can still be edited


def test_a_camera_takes_at_most_the_binding_limit_also_when_a_binding_moves_to_it(world: dict[str, Any]) -> None:
    from controlplane.algorithms.models import Algorithm, AlgorithmBinding

    operator, zone = world["operator"], world["zone"]
    intrusion = Algorithm.objects.get(slug="intrusion")
    AlgorithmBinding.objects.bulk_create(
        AlgorithmBinding(zone_id=zone["id"], algorithm=intrusion, params={"min_dwell": 1.0}, target_classes=["person"])
        for _ in range(MAX_BINDINGS_PER_CAMERA)
    )
    elsewhere = operator.post("/api/v1/zones/", {"camera": world["other"]["id"], "name": "gate", "points": ring(3)},
                              format="json").json()
    there = operator.post("/api/v1/bindings/", {"zone": elsewhere["id"], "algorithm": "intrusion"}, format="json").json()

    added = operator.post("/api/v1/bindings/", {"zone": zone["id"], "algorithm": "loitering"}, format="json")
    moved = operator.patch(f"/api/v1/bindings/{there['id']}/", {"zone": zone["id"]}, format="json")

    assert added.status_code == 400 and f"at most {MAX_BINDINGS_PER_CAMERA}" in str(added.json()["zone"]), added.json()
    assert moved.status_code == 400 and "zone" in moved.json(), moved.json()


WINDOW = {"days": ["mon"], "start": "08:00", "end": "18:00"}


@pytest.mark.parametrize(
    ("path", "payload", "field"),
    [
        ("bindings", {"schedule": {"timezone": "UTC", "windows": [WINDOW] * (MAX_SCHEDULE_WINDOWS + 1)}}, "schedule"),
        ("bindings", {"schedule": {"timezone": "Europe/" + "x" * 10_000, "windows": []}}, "schedule"),
        ("bindings", {"target_classes": [f"c{i}" for i in range(MAX_MODEL_CLASSES + 1)]}, "target_classes"),
        ("bindings", {"target_classes": ["p" * (MAX_CLASS_NAME_LENGTH + 1)]}, "target_classes"),
        ("bindings", {"target_classes": ["person"] * 1000}, "target_classes"),  # repeats count once, or not at all
        ("cameras", {"tags": [f"t{i}" for i in range(MAX_TAGS + 1)]}, "tags"),
        ("cameras", {"tags": ["t" * 51]}, "tags"),
        ("cameras", {"retention_hours": 10**12}, "retention_hours"),
        ("cameras", {"retention_hours": MAX_RETENTION_HOURS + 1}, "retention_hours"),
        ("models", {"class_names": [f"c{i}" for i in range(MAX_MODEL_CLASSES + 1)]}, "class_names"),
        ("models", {"class_names": ["person", "p" * (MAX_CLASS_NAME_LENGTH + 1)]}, "class_names"),
    ],
)
def test_lists_and_strings_over_their_limits_are_refused_naming_the_field(
    world: dict[str, Any], path: str, payload: dict[str, Any], field: str
) -> None:
    from django.conf import settings

    base: dict[str, dict[str, Any]] = {
        "bindings": {"zone": world["zone"]["id"], "algorithm": "intrusion"},
        "cameras": {"name": "new", "stream_url": "rtsp://10.0.0.7/s"},
        "models": {"name": "m", "onnx_path": str(settings.PANOPTES_ASSETS / "models" / "yolox_nano.onnx"),
                   "input_width": 416, "input_height": 416},
    }
    response = world["admin"].post(f"/api/v1/{path}/", {**base[path], **payload}, format="json")

    assert response.status_code == 400, response.json()
    assert list(response.json()) == [field], response.json()


def test_the_largest_retention_is_accepted_and_the_database_refuses_more_written_around_validation(
    world: dict[str, Any],
) -> None:
    from django.db import IntegrityError, transaction

    from controlplane.cameras.models import Camera

    kept = world["admin"].patch(f"/api/v1/cameras/{world['camera']['id']}/", {"retention_hours": MAX_RETENTION_HOURS},
                                format="json")
    assert kept.status_code == 200, kept.json()
    with pytest.raises(IntegrityError), transaction.atomic():
        Camera.objects.filter(pk=world["camera"]["id"]).update(retention_hours=10**9)


def test_the_pipeline_config_refuses_what_the_api_refuses() -> None:
    from pydantic import ValidationError

    from analytics.config import BindingConfig, CameraConfig, Schedule, ZoneConfig

    camera = {"id": 1, "name": "c", "stream_url": "rtsp://h/s", "enabled": True, "segment_seconds": 5, "detect_fps": 5,
              "retention_hours": 72}
    zone = {"id": 1, "name": "z", "kind": "polygon", "points": ring(3)}
    binding = {"id": 1, "zone_id": 1, "algorithm": "intrusion", "params": {}, "target_classes": ["person"],
               "min_score": 0.5, "cooldown_seconds": 0, "severity": "high"}
    CameraConfig.model_validate({**camera, "zones": [zone], "bindings": [binding]})  # the baseline is valid
    refused = [
        lambda: ZoneConfig.model_validate({**zone, "points": ring(MAX_ZONE_POINTS + 1)}),
        lambda: Schedule.model_validate({"windows": [WINDOW] * (MAX_SCHEDULE_WINDOWS + 1)}),
        lambda: BindingConfig.model_validate({**binding, "target_classes": ["p" * (MAX_CLASS_NAME_LENGTH + 1)]}),
        lambda: CameraConfig.model_validate({**camera, "tags": ["t"] * (MAX_TAGS + 1)}),
        lambda: CameraConfig.model_validate({**camera, "retention_hours": MAX_RETENTION_HOURS + 1}),
        lambda: CameraConfig.model_validate(
            {**camera, "zones": [{**zone, "id": i, "name": f"z{i}"} for i in range(MAX_ZONES_PER_CAMERA + 1)]}
        ),
        lambda: CameraConfig.model_validate(
            {**camera, "zones": [zone], "bindings": [{**binding, "id": i} for i in range(MAX_BINDINGS_PER_CAMERA + 1)]}
        ),
    ]
    for case in refused:
        with pytest.raises(ValidationError):
            case()


def test_a_body_over_the_size_cap_is_refused_with_a_413_before_anyone_is_authenticated(world: dict[str, Any]) -> None:
    from rest_framework.test import APIClient

    padding = "x" * MAX_REQUEST_BODY_BYTES
    anonymous = APIClient()
    too_big = anonymous.post("/api/v1/auth/token/", f'{{"username": "{padding}", "password": "p"}}',
                             content_type="application/json")
    just_fits = anonymous.post("/api/v1/auth/token/", f'{{"username": "{padding[:-100]}", "password": "p"}}',
                               content_type="application/json")
    zone = world["operator"].post("/api/v1/zones/", f'{{"camera": {world["camera"]["id"]}, "name": "{padding}"}}',
                                  content_type="application/json")

    assert too_big.status_code == 413 and "bytes" in too_big.json()["detail"], too_big.content[:200]
    assert just_fits.status_code == 400, just_fits.content[:200]  # read, and refused as wrong credentials
    assert zone.status_code == 413, zone.content[:200]


# --- finding 6: nesting ------------------------------------------------------------------------
def test_deeply_nested_json_is_refused_with_a_400_on_the_anonymous_token_endpoint(live_db: Any) -> None:
    from rest_framework.test import APIClient

    anonymous = APIClient()
    for body in (nested(100_000), f'{{"username": {nested(50_000)}, "password": "p"}}', nested(MAX_JSON_DEPTH + 1)):
        response = anonymous.post("/api/v1/auth/token/", body, content_type="application/json")
        assert response.status_code == 400, (body[:40], response.content[:200])
        assert "nested" in response.json()["detail"], response.json()


def test_deeply_nested_json_is_refused_with_a_400_on_authenticated_endpoints(world: dict[str, Any]) -> None:
    admin, operator, zone = world["admin"], world["operator"], world["zone"]
    bodies = [
        ("post", "/api/v1/zones/", f'{{"camera": {world["camera"]["id"]}, "name": "deep", "points": {nested(100_000)}}}'),
        ("patch", f"/api/v1/zones/{zone['id']}/", f'{{"points": {nested(MAX_JSON_DEPTH + 1)}}}'),
        ("post", "/api/v1/bindings/", f'{{"zone": {zone["id"]}, "algorithm": "intrusion", "params": {{"a": {nested(5_000)}}}}}'),
        ("post", "/api/v1/cameras/", f'{{"name": "deep", "stream_url": "rtsp://10.0.0.8/s", "tags": {nested(99_999)}}}'),
        ("post", "/api/v1/sites/", f'{{"name": {nested(10_000)}}}'),
    ]
    for method, path, body in bodies:
        client = admin if path.startswith(("/api/v1/cameras/", "/api/v1/sites/")) else operator
        response = getattr(client, method)(path, body, content_type="application/json")
        assert response.status_code == 400 and "nested" in response.json()["detail"], (path, response.content[:200])


def test_json_as_deep_as_the_limit_and_brackets_inside_strings_are_parsed(world: dict[str, Any]) -> None:
    operator, camera = world["operator"], world["camera"]

    at_limit = operator.patch(f"/api/v1/zones/{world['zone']['id']}/", f'{{"points": {nested(MAX_JSON_DEPTH - 1)}}}',
                              content_type="application/json")
    brackets = operator.post("/api/v1/zones/", {"camera": camera["id"], "name": "[" * 100, "points": ring(3)}, format="json")
    quoted = operator.post("/api/v1/zones/", {"camera": camera["id"], "name": '\\"[{' * 25, "points": ring(3)}, format="json")

    assert at_limit.status_code == 400 and "points" in at_limit.json(), at_limit.json()  # parsed, then refused as points
    assert brackets.status_code == 201, brackets.json()
    assert quoted.status_code == 201 and quoted.json()["name"] == '\\"[{' * 25, quoted.json()


def test_the_resource_api_takes_json_bodies_only_so_json_inside_form_fields_never_reaches_a_parser(
    world: dict[str, Any],
) -> None:
    operator = world["operator"]
    form = operator.post("/api/v1/zones/", {"camera": world["camera"]["id"], "name": "f", "points": nested(100_000)},
                         format="multipart")
    urlencoded = operator.patch(f"/api/v1/zones/{world['zone']['id']}/", f"points={nested(100_000)}",
                                content_type="application/x-www-form-urlencoded")

    assert form.status_code == 415 and urlencoded.status_code == 415


def test_every_api_view_parses_json_through_the_depth_limited_parser() -> None:
    from django.urls import URLPattern, URLResolver, get_resolver
    from rest_framework.parsers import JSONParser

    from controlplane.core.parsers import DepthLimitedJSONParser

    def views(patterns: list[Any]) -> list[Any]:
        found = []
        for p in patterns:
            if isinstance(p, URLResolver):
                found += views(p.url_patterns)
            elif isinstance(p, URLPattern) and hasattr(p.callback, "cls"):
                found.append(p.callback)
        return found

    checked = 0
    for view in views(get_resolver().url_patterns):
        parsers = view.initkwargs.get("parser_classes", view.cls.parser_classes)
        for parser in parsers:
            if issubclass(parser, JSONParser):
                assert issubclass(parser, DepthLimitedJSONParser), (view.cls, parser)
                checked += 1
    assert checked > 10


def test_every_admin_form_parses_json_through_the_depth_limited_form_field(live_db: Any) -> None:
    from django import forms
    from django.contrib import admin
    from django.contrib.auth.models import User
    from django.test import RequestFactory

    from controlplane.core.parsers import DepthLimitedJSONFormField

    request = RequestFactory().get("/")
    request.user = User.objects.create_superuser(username="root-forms", password="Panoptes-test-pw-1")
    checked = 0
    for model_admin in admin.site._registry.values():
        inlines = [inline.get_formset(request).form for inline in model_admin.get_inline_instances(request)]
        for form in [model_admin.get_form(request), *inlines]:
            for name, field in form.base_fields.items():
                if isinstance(field, forms.JSONField):
                    assert isinstance(field, DepthLimitedJSONFormField), (type(model_admin), form, name)
                    checked += 1
    assert checked >= 9  # tags; points twice; params, target classes and schedule twice; class names


def test_the_admin_reports_deep_json_and_oversized_points_on_the_field(world: dict[str, Any]) -> None:
    from django.contrib.auth.models import Group, User

    from controlplane.algorithms.models import Algorithm
    from controlplane.cameras.models import Camera
    from controlplane.zones.models import Zone

    staff = User.objects.create_user(username="op-panel", password="Panoptes-test-pw-1", is_staff=True)
    staff.groups.add(Group.objects.get(name="operator"))
    panel, root = Client(), Client()
    panel.force_login(staff)
    root.force_login(User.objects.create_superuser(username="root-panel", password="Panoptes-test-pw-1"))
    zone = Zone.objects.get(pk=world["zone"]["id"])
    form = {
        "camera": zone.camera_id, "name": zone.name, "kind": "polygon", "direction": "any", "enabled": "on",
        "bindings-TOTAL_FORMS": "1", "bindings-INITIAL_FORMS": "0", "bindings-MIN_NUM_FORMS": "0",
        "bindings-MAX_NUM_FORMS": "1000", "bindings-0-zone": str(zone.pk),
        "bindings-0-algorithm": str(Algorithm.objects.get(slug="intrusion").pk),
        "bindings-0-params": "{}", "bindings-0-target_classes": "[]", "bindings-0-min_score": "0.5",
        "bindings-0-cooldown_seconds": "60", "bindings-0-severity": "high", "bindings-0-enabled": "on",
        "bindings-0-schedule": '{"timezone": "UTC", "windows": []}',
    }
    deep = panel.post(url(Zone, "change", zone.pk), {**form, "points": nested(100_000), "bindings-0-params": nested(5_000)})
    many = panel.post(url(Zone, "change", zone.pk), {**form, "points": str(ring(MAX_ZONE_POINTS + 1))})
    camera = Camera.objects.get(pk=world["camera"]["id"])
    many_tags = json.dumps([f"t{i}" for i in range(MAX_TAGS + 1)])
    tags = root.post(url(Camera, "change", camera.pk), camera_form(camera, tags=many_tags))

    assert deep.status_code == 200, deep.status_code
    errors = deep.context["adminform"].form.errors
    assert "nested" in str(errors["points"]), errors
    assert "nested" in str(deep.context["inline_admin_formsets"][0].formset.errors[0]["params"])
    assert many.status_code == 200 and f"at most {MAX_ZONE_POINTS} points" in str(many.context["adminform"].form.errors["points"])
    assert tags.status_code == 200 and "tags" in tags.context["adminform"].form.errors


# --- finding 12: target classes ----------------------------------------------------------------
def test_target_classes_the_model_does_not_have_are_refused_naming_the_known_classes(world: dict[str, Any]) -> None:
    coco_default_model()
    operator, zone = world["operator"], world["zone"]

    unicorn = operator.post("/api/v1/bindings/", {"zone": zone["id"], "algorithm": "intrusion",
                                                  "target_classes": ["person", "unicorn"]}, format="json")
    car = operator.post("/api/v1/bindings/", {"zone": zone["id"], "algorithm": "intrusion", "target_classes": ["car"]},
                        format="json")
    patched = operator.patch(f"/api/v1/bindings/{car.json()['id']}/", {"target_classes": ["Person"]}, format="json")

    assert unicorn.status_code == 400, unicorn.json()
    message = str(unicorn.json()["target_classes"])
    assert "unicorn" in message and "yolox-nano" in message and "person, bicycle, car" in message, message
    assert car.status_code == 201, car.json()
    assert patched.status_code == 400 and "Person" in str(patched.json()["target_classes"]), patched.json()


def test_the_cameras_own_model_decides_which_classes_its_bindings_may_name(world: dict[str, Any]) -> None:
    coco_default_model()
    forklifts = forklift_model()
    admin, operator = world["admin"], world["operator"]
    assert admin.patch(f"/api/v1/cameras/{world['other']['id']}/", {"detector_model": forklifts.pk}, format="json").status_code == 200
    warehouse = operator.post("/api/v1/zones/", {"camera": world["other"]["id"], "name": "aisle", "points": ring(4)},
                              format="json").json()

    def bind(zone: dict[str, Any], algorithm: str, classes: list[str]) -> Any:
        return operator.post("/api/v1/bindings/", {"zone": zone["id"], "algorithm": algorithm, "target_classes": classes},
                             format="json")

    assert bind(warehouse, "intrusion", ["forklift"]).status_code == 201
    assert bind(world["zone"], "intrusion", ["forklift"]).status_code == 400  # the yard camera runs COCO
    defaults = bind(warehouse, "stationary_vehicle", [])  # car, truck, bus, motorcycle: none is a forklift class
    assert defaults.status_code == 400 and "forklift" in str(defaults.json()["target_classes"]), defaults.json()


def test_a_model_change_that_would_strand_a_bindings_classes_is_refused(world: dict[str, Any]) -> None:
    coco_default_model()
    forklifts = forklift_model()
    admin, operator, zone = world["admin"], world["operator"], world["zone"]
    car = operator.post("/api/v1/bindings/", {"zone": zone["id"], "algorithm": "intrusion", "target_classes": ["car"]},
                        format="json").json()

    to_forklifts = admin.patch(f"/api/v1/cameras/{world['camera']['id']}/", {"detector_model": forklifts.pk}, format="json")
    as_default = admin.patch(f"/api/v1/models/{forklifts.pk}/", {"is_default": True}, format="json")

    assert to_forklifts.status_code == 400 and "car" in str(to_forklifts.json()["detector_model"]), to_forklifts.json()
    assert as_default.status_code == 400 and "car" in str(as_default.json()["is_default"]), as_default.json()
    assert admin.patch(f"/api/v1/cameras/{world['other']['id']}/", {"detector_model": forklifts.pk}, format="json").status_code == 200
    aisle = operator.post("/api/v1/zones/", {"camera": world["other"]["id"], "name": "aisle", "points": ring(4)},
                          format="json").json()
    operator.post("/api/v1/bindings/", {"zone": aisle["id"], "algorithm": "intrusion", "target_classes": ["forklift"]},
                  format="json")
    renamed = admin.patch(f"/api/v1/models/{forklifts.pk}/", {"class_names": ["person", "pallet"]}, format="json")
    assert renamed.status_code == 400 and "forklift" in str(renamed.json()["class_names"]), renamed.json()
    assert car["target_classes"] == ["car"]


def test_deeply_nested_json_on_the_events_socket_is_an_error_message_before_authentication(live_db: Any) -> None:
    import asyncio

    from channels.testing import WebsocketCommunicator

    from controlplane.panel.consumers import EventsConsumer

    async def scenario() -> list[dict[str, Any]]:
        socket = WebsocketCommunicator(EventsConsumer.as_asgi(), "/ws/v1/events/")
        connected, _ = await socket.connect()
        assert connected
        await socket.send_to(text_data=nested(10_000))
        deep = await socket.receive_json_from(timeout=5)
        await socket.send_to(text_data='{"type": "ping"}')  # still open: answered (not authenticated yet)
        after = await socket.receive_json_from(timeout=5)
        await socket.disconnect()
        return [deep, after]

    deep, after = asyncio.run(scenario())

    assert deep["status"] == 400 and "nested" in deep["detail"], deep
    assert after["type"] == "error" and after["status"] == 401, after


def test_the_binding_limit_is_shown_on_the_zone_page_where_the_zone_field_is_hidden(world: dict[str, Any]) -> None:
    from django.contrib.auth.models import Group, User

    from controlplane.algorithms.models import Algorithm, AlgorithmBinding
    from controlplane.zones.models import Zone

    zone = Zone.objects.get(pk=world["zone"]["id"])
    intrusion = Algorithm.objects.get(slug="intrusion")
    AlgorithmBinding.objects.bulk_create(
        AlgorithmBinding(zone=zone, algorithm=intrusion, params={"min_dwell": 1.0}, target_classes=["person"])
        for _ in range(MAX_BINDINGS_PER_CAMERA)
    )
    staff = User.objects.create_user(username="op-limit", password="Panoptes-test-pw-1", is_staff=True)
    staff.groups.add(Group.objects.get(name="operator"))
    panel = Client()
    panel.force_login(staff)
    existing = list(zone.bindings.order_by("pk"))
    form = {
        "camera": zone.camera_id, "name": zone.name, "kind": "polygon", "points": json.dumps(zone.points),
        "direction": "any", "enabled": "on", "bindings-TOTAL_FORMS": str(len(existing) + 1),
        "bindings-INITIAL_FORMS": str(len(existing)), "bindings-MIN_NUM_FORMS": "0", "bindings-MAX_NUM_FORMS": "1000",
    }
    for i, binding in enumerate([*existing, None]):
        form.update({
            f"bindings-{i}-id": str(binding.pk) if binding else "", f"bindings-{i}-zone": str(zone.pk),
            f"bindings-{i}-algorithm": str(intrusion.pk), f"bindings-{i}-params": '{"min_dwell": 1.0}',
            f"bindings-{i}-target_classes": '["person"]', f"bindings-{i}-min_score": "0.5",
            f"bindings-{i}-cooldown_seconds": "60", f"bindings-{i}-severity": "high", f"bindings-{i}-enabled": "on",
            f"bindings-{i}-schedule": '{"timezone": "UTC", "windows": []}',
        })

    refused = panel.post(url(Zone, "change", zone.pk), form)

    assert refused.status_code == 200
    assert f"at most {MAX_BINDINGS_PER_CAMERA} bindings" in refused.content.decode()
    assert zone.bindings.count() == MAX_BINDINGS_PER_CAMERA
