"""The admin panel, driven through Django's test client (real requests, sessions, CSRF-less client).

What it guards: every page loads; camera passwords and webhook secrets never reach a page; the
algorithm catalog and revisions are read-only; rollback is admin-only; operators acknowledge alarms.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib import admin
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

PASSWORD = "s3cret-Camera-pw"
SECRET = "webhook-secret-0123456789"

ClientFor = Callable[..., Client]


def url(model: Any, view: str, *args: Any) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def make_camera(name: str = "dock", **kwargs: Any) -> Any:
    from controlplane.cameras.models import Camera

    camera = Camera(name=name, stream_url=kwargs.pop("stream_url", "rtsp://10.0.0.4/stream"), **kwargs)
    camera.set_credentials("bob", PASSWORD)
    camera.save()
    return camera


def camera_form(camera: Any | None = None, **changes: Any) -> dict[str, Any]:
    """The POST body of the camera change form, as a browser sends it (no zone rows)."""
    data: dict[str, Any] = {
        "name": camera.name if camera else "dock",
        "stream_url": camera.stream_url if camera else "rtsp://10.0.0.4/stream",
        "enabled": "on",
        "site": "",
        "location": "",
        "tags": "[]",
        "detector_model": "",
        "segment_seconds": "5",
        "detect_fps": "5.0",
        "detect_width": "",
        "detect_height": "",
        "retention_hours": "72",
        "username": "bob" if camera else "",
        "password": "",
        "zones-TOTAL_FORMS": "0",
        "zones-INITIAL_FORMS": "0",
        "zones-MIN_NUM_FORMS": "0",
        "zones-MAX_NUM_FORMS": "1000",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def raw_column(table: str, column: str, pk: int) -> str:
    """What the database holds (the ciphertext), bypassing the encrypted field."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])
        return str(cursor.fetchone()[0])


def object_action_form(html: str) -> dict[str, str]:
    """The hidden fields of the one-click action button on a change page, as the browser posts them."""
    form = re.search(r'<form[^>]*id="object-action-form".*?</form>', html, re.DOTALL)
    assert form is not None, "no action button on the page"
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form.group(0)))
    fields.pop("csrfmiddlewaretoken", None)
    return fields


def messages_of(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]]


@pytest.fixture
def world(live_db: Any) -> dict[str, Any]:
    """One of everything, so each admin page has a row to show."""
    from controlplane.alarms.choices import AlarmEventType
    from controlplane.alarms.models import Alarm, AlarmDelivery, WebhookEndpoint
    from controlplane.algorithms.models import Algorithm, AlgorithmBinding
    from controlplane.cameras.models import Site
    from controlplane.configs.models import ConfigRevision
    from controlplane.detectors.models import DetectorModel
    from controlplane.zones.models import Zone

    site = Site.objects.create(name="hq")
    model = DetectorModel.objects.create(
        name="yolo", onnx_path="yolo.onnx", sha256="0" * 64, input_width=640, input_height=640, class_names=["person"], is_default=True
    )
    camera = make_camera(site=site, detector_model=model)
    zone = Zone.objects.create(camera=camera, name="door", points=[[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]])
    binding = AlgorithmBinding.objects.create(zone=zone, algorithm=Algorithm.objects.get(slug="loitering"))
    endpoint = WebhookEndpoint.objects.create(name="siem", url="https://93.184.216.34/hook", secret=SECRET)
    alarm = Alarm.objects.create(
        camera=camera, zone=zone, binding=binding, algorithm="loitering", zone_name="door", dedup_key="b1-t1-e1",
        event_time=timezone.now(), details={"track": 7},
    )
    delivery = AlarmDelivery.objects.create(alarm=alarm, endpoint=endpoint, target=f"webhook:{endpoint.pk}",
                                            event_type=AlarmEventType.CREATED)
    objects = [site, model, camera, zone, binding, endpoint, alarm, delivery, Algorithm.objects.first(),
               ConfigRevision.objects.order_by("-version").first()]
    return {"camera": camera, "zone": zone, "binding": binding, "endpoint": endpoint, "alarm": alarm, "delivery": delivery,
            "objects": objects}


def test_every_admin_changelist_add_and_change_page_loads_for_a_superuser(panel: ClientFor, world: dict[str, Any]) -> None:
    from controlplane.alarms.models import Alarm, AlarmDelivery
    from controlplane.algorithms.models import Algorithm
    from controlplane.configs.models import ConfigRevision

    written_by_the_system = {Algorithm, ConfigRevision, Alarm, AlarmDelivery}  # nobody adds these by hand
    root = panel(None)
    assert root.get(reverse("admin:index")).status_code == 200
    ours = {m for m in admin.site._registry if m._meta.app_label in ("cameras", "zones", "algorithms", "detectors", "alarms", "configs")}
    assert {type(o) for o in world["objects"]} == ours  # every model is registered, and covered here
    assert ConfigRevision.objects.exists()

    for obj in world["objects"]:
        model = type(obj)
        assert root.get(url(model, "changelist")).status_code == 200, model
        assert root.get(url(model, "changelist"), {"q": "x"}).status_code == 200, model  # search works
        assert root.get(url(model, "change", obj.pk)).status_code == 200, model
        assert root.get(url(model, "history", obj.pk)).status_code == 200, model
        assert root.get(url(model, "add")).status_code == (403 if model in written_by_the_system else 200), model


def test_camera_change_form_never_shows_the_password(panel: ClientFor, world: dict[str, Any]) -> None:
    from controlplane.cameras.models import Camera

    root = panel(None)
    camera = world["camera"]
    ciphertext = raw_column("cameras_camera", "credentials", camera.pk)
    assert PASSWORD not in ciphertext  # stored encrypted

    # When: the operator saves the form without touching the password.
    saved = root.post(url(Camera, "change", camera.pk), camera_form(camera, location="north gate"))
    assert saved.status_code == 302, saved.context and saved.context["adminform"].form.errors

    pages = [url(Camera, "change", camera.pk), url(Camera, "changelist"), url(Camera, "history", camera.pk),
             url(Camera, "changelist") + "?q=dock"]
    for page in pages:
        html = root.get(page).content.decode()
        assert PASSWORD not in html, page
        assert ciphertext not in html and raw_column("cameras_camera", "credentials", camera.pk) not in html, page
        assert "&quot;password&quot;" not in html, page  # not even the JSON of the credentials
    change_page = root.get(url(Camera, "change", camera.pk)).content.decode()
    assert "rtsp://***:***@10.0.0.4/stream" in change_page  # masked_url, read-only
    camera.refresh_from_db()
    assert camera.get_credentials() == ("bob", PASSWORD)  # the empty password field kept it
    assert camera.location == "north gate"


def test_a_new_password_replaces_the_old_and_clear_credentials_removes_them(panel: ClientFor, world: dict[str, Any]) -> None:
    from controlplane.cameras.models import Camera

    root = panel(None)
    camera = world["camera"]

    changed = root.post(url(Camera, "change", camera.pk), camera_form(camera, username="alice", password="n3w-Pass"))
    assert changed.status_code == 302
    camera.refresh_from_db()
    assert camera.get_credentials() == ("alice", "n3w-Pass")
    assert "n3w-Pass" not in root.get(url(Camera, "history", camera.pk)).content.decode()

    cleared = root.post(url(Camera, "change", camera.pk), camera_form(camera, username="alice", clear_credentials="on"))
    assert cleared.status_code == 302
    camera.refresh_from_db()
    assert camera.credentials == "" and not camera.has_credentials

    both = root.post(url(Camera, "change", camera.pk), camera_form(camera, password="x", clear_credentials="on"))
    assert both.status_code == 200
    assert "not both" in str(both.context["adminform"].form.non_field_errors())


def test_a_password_typed_into_the_stream_url_is_moved_out_and_never_echoed(panel: ClientFor, live_db: Any) -> None:
    from controlplane.cameras.models import Camera

    root = panel(None)
    make_camera("taken")
    url_with_password = f"rtsp://carol:{PASSWORD}@10.0.0.9/live"

    # Given a form with an error elsewhere, the page shown again does not carry the password.
    refused = root.post(url(Camera, "add"), camera_form(name="taken", stream_url=url_with_password))
    assert refused.status_code == 200
    assert "name" in refused.context["adminform"].form.errors
    assert PASSWORD not in refused.content.decode()
    assert "rtsp://10.0.0.9/live" in refused.content.decode()

    created = root.post(url(Camera, "add"), camera_form(name="yard", stream_url=url_with_password))
    assert created.status_code == 302
    camera = Camera.objects.get(name="yard")
    assert camera.stream_url == "rtsp://10.0.0.9/live"
    assert camera.get_credentials() == ("carol", PASSWORD)


def test_zone_point_errors_appear_on_the_points_field(panel: ClientFor, world: dict[str, Any]) -> None:
    from controlplane.zones.models import Zone

    operator = panel("operator")
    zone = world["zone"]
    form = {
        "camera": zone.camera_id, "name": zone.name, "kind": "line", "points": "[[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]]",
        "direction": "any", "enabled": "on",
        "bindings-TOTAL_FORMS": "0", "bindings-INITIAL_FORMS": "0", "bindings-MIN_NUM_FORMS": "0",
        "bindings-MAX_NUM_FORMS": "1000",
    }

    refused = operator.post(url(Zone, "change", zone.pk), form)

    assert refused.status_code == 200
    errors = refused.context["adminform"].form.errors
    assert list(errors) == ["points"], errors
    assert "exactly 2 points" in errors["points"][0]
    form["kind"] = "polygon"
    form["points"] = "[[0.2, 0.2], [0.9, 0.2], [0.9, 0.9]]"
    assert operator.post(url(Zone, "change", zone.pk), form).status_code == 302
    zone.refresh_from_db()
    assert zone.points == [[0.2, 0.2], [0.9, 0.2], [0.9, 0.9]]


def test_a_binding_added_on_the_zone_page_gets_its_defaults_and_a_wrong_zone_kind_is_refused(
    panel: ClientFor, world: dict[str, Any]
) -> None:
    from controlplane.algorithms.models import Algorithm
    from controlplane.zones.models import Zone

    operator = panel("operator")
    zone = world["zone"]
    base = {
        "camera": zone.camera_id, "name": zone.name, "kind": "polygon", "points": "[[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]]",
        "direction": "any", "enabled": "on",
        "bindings-TOTAL_FORMS": "1", "bindings-INITIAL_FORMS": "0", "bindings-MIN_NUM_FORMS": "0",
        "bindings-MAX_NUM_FORMS": "1000",
        "bindings-0-params": "{}", "bindings-0-target_classes": "[]", "bindings-0-min_score": "0.5",
        "bindings-0-cooldown_seconds": "60", "bindings-0-severity": "high", "bindings-0-enabled": "on",
        "bindings-0-schedule": '{"timezone": "UTC", "windows": []}', "bindings-0-zone": str(zone.pk),
    }

    wrong = operator.post(url(Zone, "change", zone.pk), {**base, "bindings-0-algorithm": Algorithm.objects.get(slug="line_crossing").pk})
    assert wrong.status_code == 200
    inline_errors = wrong.context["inline_admin_formsets"][0].formset.errors[0]
    assert "needs a zone of kind line" in str(inline_errors["algorithm"])
    assert "needs a zone of kind line" in wrong.content.decode()

    right = operator.post(url(Zone, "change", zone.pk), {**base, "bindings-0-algorithm": Algorithm.objects.get(slug="crowding").pk})
    assert right.status_code == 302
    added = zone.bindings.get(algorithm__slug="crowding")
    assert added.params == {"min_count": 5, "min_duration": 5.0}
    assert added.target_classes == ["person"]


def test_the_algorithm_catalog_is_read_only_and_shows_its_params(panel: ClientFor, live_db: Any) -> None:
    from controlplane.algorithms.models import Algorithm

    root = panel(None)
    loitering = Algorithm.objects.get(slug="loitering")

    page = root.get(url(Algorithm, "change", loitering.pk))

    assert page.status_code == 200
    html = page.content.decode()
    assert "Seconds inside before alarming." in html and "&quot;threshold&quot;: {" in html  # pretty-printed schema
    assert 'name="name"' not in html  # no inputs: nothing to edit
    assert root.get(url(Algorithm, "add")).status_code == 403
    assert root.post(url(Algorithm, "change", loitering.pk), {"name": "renamed"}).status_code == 403
    assert root.post(url(Algorithm, "delete", loitering.pk), {"post": "yes"}).status_code == 403
    loitering.refresh_from_db()
    assert loitering.name == "Loitering"


def test_a_revision_page_shows_the_snapshot_without_credentials_and_cannot_be_changed(
    panel: ClientFor, world: dict[str, Any]
) -> None:
    from controlplane.configs.models import ConfigRevision

    root = panel(None)
    revision = ConfigRevision.objects.order_by("-version").first()
    assert revision is not None and revision.snapshot["cameras"][0]["credentials"]  # the snapshot has them

    html = root.get(url(ConfigRevision, "change", revision.pk)).content.decode()

    assert "&quot;stream_url&quot;: &quot;rtsp://10.0.0.4/stream&quot;" in html
    assert "&quot;credentials&quot;" not in html
    assert revision.snapshot["cameras"][0]["credentials"] not in html
    assert PASSWORD not in html
    assert root.get(url(ConfigRevision, "add")).status_code == 403
    assert root.post(url(ConfigRevision, "change", revision.pk), {"comment": "edited"}).status_code == 403
    assert root.post(url(ConfigRevision, "delete", revision.pk), {"post": "yes"}).status_code == 403
    revision.refresh_from_db()
    assert revision.comment != "edited"


def test_an_operator_is_refused_a_rollback_and_an_admin_rolls_back_from_the_admin(
    panel: ClientFor, world: dict[str, Any]
) -> None:
    from controlplane.configs.models import ConfigRevision
    from controlplane.zones.models import Zone

    zone = world["zone"]
    revision_n = ConfigRevision.objects.order_by("-version").first()
    assert revision_n is not None
    Zone.objects.filter(pk=zone.pk).update(points=[[0, 0], [1, 0], [1, 1]])
    zone.refresh_from_db()
    zone.save()  # a change after revision n
    latest = ConfigRevision.objects.order_by("-version").first()
    assert latest is not None and latest.version > revision_n.version
    action = {"action": "roll_back", "_selected_action": [revision_n.pk], "index": "0"}

    operator = panel("operator")
    assert "roll_back" not in operator.get(url(ConfigRevision, "changelist")).content.decode()
    refused = operator.post(url(ConfigRevision, "changelist"), action)
    assert refused.status_code == 200
    assert ConfigRevision.objects.order_by("-version").first() == latest
    assert "Roll back to this revision" not in operator.get(url(ConfigRevision, "change", revision_n.pk)).content.decode()

    admin_user = panel("admin")
    button = object_action_form(admin_user.get(url(ConfigRevision, "change", revision_n.pk)).content.decode())
    assert button == {"action": "roll_back", "_selected_action": str(revision_n.pk), "index": "0"}
    done = admin_user.post(url(ConfigRevision, "changelist"), button, follow=True)

    new = ConfigRevision.objects.order_by("-version").first()
    assert new is not None and new.version > latest.version and new.restored_from == revision_n
    assert new.author == admin_user.user  # type: ignore[attr-defined]
    assert f"Rolled back to v{revision_n.version}: the configuration is now v{new.version}." in messages_of(done)
    zone.refresh_from_db()
    assert zone.points == [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]]


def test_rolling_back_needs_exactly_one_revision(panel: ClientFor, world: dict[str, Any]) -> None:
    from controlplane.cameras.models import Camera
    from controlplane.configs.models import ConfigRevision

    Camera.objects.create(name="second", stream_url="rtsp://10.0.0.5/s")
    versions = list(ConfigRevision.objects.values_list("pk", flat=True))
    assert len(versions) >= 2

    response = panel("admin").post(
        url(ConfigRevision, "changelist"), {"action": "roll_back", "_selected_action": versions[:2], "index": "0"}, follow=True
    )

    assert "Select exactly one revision to roll back to." in messages_of(response)
    assert list(ConfigRevision.objects.values_list("pk", flat=True)) == versions


def test_an_operator_acknowledges_alarms_and_a_viewer_cannot(panel: ClientFor, world: dict[str, Any]) -> None:
    from controlplane.alarms.choices import AlarmStatus
    from controlplane.alarms.models import Alarm

    alarm = world["alarm"]
    action = {"action": "acknowledge_alarms", "_selected_action": [alarm.pk], "index": "0"}

    viewer = panel("viewer")
    assert viewer.get(url(Alarm, "changelist")).status_code == 200
    viewer.post(url(Alarm, "changelist"), action)
    alarm.refresh_from_db()
    assert alarm.status == AlarmStatus.NEW

    operator = panel("operator")
    page = operator.get(url(Alarm, "change", alarm.pk)).content.decode()
    assert "Acknowledge this alarm" in page and "&quot;track&quot;: 7" in page
    done = operator.post(url(Alarm, "changelist"), object_action_form(page), follow=True)

    alarm.refresh_from_db()
    assert alarm.status == AlarmStatus.ACKNOWLEDGED
    assert alarm.acknowledged_by == operator.user  # type: ignore[attr-defined]
    assert "Acknowledged 1 alarm(s)." in messages_of(done)
    again = operator.post(url(Alarm, "changelist"), action, follow=True)
    assert "1 alarm(s) were not new and were left as they are." in messages_of(again)


def test_the_alarm_page_lists_its_deliveries_read_only(panel: ClientFor, world: dict[str, Any]) -> None:
    from controlplane.alarms.models import Alarm, AlarmDelivery

    operator = panel("operator")
    html = operator.get(url(Alarm, "change", world["alarm"].pk)).content.decode()
    assert "siem" in html and "deliveries-TOTAL_FORMS" in html
    assert 'name="deliveries-0-state"' not in html  # shown, not editable
    assert operator.get(url(AlarmDelivery, "changelist"), {"state__exact": "pending"}).status_code == 200
    assert operator.get(url(AlarmDelivery, "add")).status_code == 403


def test_an_operator_retries_a_dead_delivery_and_closes_an_alarm_and_the_history_shows_it(
    panel: ClientFor, world: dict[str, Any]
) -> None:
    from controlplane.alarms.models import Alarm, AlarmDelivery

    delivery, alarm = world["delivery"], world["alarm"]
    AlarmDelivery.objects.filter(pk=delivery.pk).update(state="dead", attempts=12, last_response="HTTP 400 Bad Request")
    retry = {"action": "retry_deliveries", "_selected_action": [delivery.pk], "index": "0"}
    panel("viewer").post(url(AlarmDelivery, "changelist"), retry)
    assert AlarmDelivery.objects.get(pk=delivery.pk).state == "dead"  # viewers see no deliveries at all
    operator = panel("operator")
    done = operator.post(url(AlarmDelivery, "changelist"), retry, follow=True)
    assert "Retrying 1 delivery(ies)." in messages_of(done)
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("pending", 0)

    closed = operator.post(url(Alarm, "changelist"), {"action": "close_alarms", "_selected_action": [alarm.pk], "index": "0"},
                           follow=True)
    assert "Closed 1 alarm(s)." in messages_of(closed)
    page = operator.get(url(Alarm, "change", alarm.pk)).content.decode()
    assert "history-TOTAL_FORMS" in page and "Closed" in page and operator.user.username in page  # type: ignore[attr-defined]


def test_the_webhook_secret_is_write_only(panel: ClientFor, world: dict[str, Any]) -> None:
    from controlplane.alarms.models import WebhookEndpoint

    root = panel(None)
    endpoint = world["endpoint"]
    form = {"name": "siem", "url": "https://93.184.216.34/hook", "secret": "", "enabled": "on",
            "min_severity": "high", "algorithms": ["loitering"], "cameras": [world["camera"].pk]}

    html = root.get(url(WebhookEndpoint, "change", endpoint.pk)).content.decode()
    assert SECRET not in html and raw_column("alarms_webhookendpoint", "secret", endpoint.pk) not in html

    kept = root.post(url(WebhookEndpoint, "change", endpoint.pk), form)
    assert kept.status_code == 302, kept.context and kept.context["adminform"].form.errors
    endpoint.refresh_from_db()
    assert endpoint.secret == SECRET and endpoint.algorithms == ["loitering"] and endpoint.min_severity == "high"
    assert list(endpoint.cameras.all()) == [world["camera"]]

    short = root.post(url(WebhookEndpoint, "change", endpoint.pk), {**form, "secret": "short"})
    assert short.status_code == 200 and "secret" in short.context["adminform"].form.errors
    assert "short" not in str(short.context["adminform"].form["secret"])

    replaced = root.post(url(WebhookEndpoint, "change", endpoint.pk), {**form, "secret": "another-secret-of-enough-length"})
    assert replaced.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.secret == "another-secret-of-enough-length"
    for page in (url(WebhookEndpoint, "changelist"), url(WebhookEndpoint, "history", endpoint.pk)):
        assert "another-secret-of-enough-length" not in root.get(page).content.decode()

    no_secret = root.post(url(WebhookEndpoint, "add"), {**form, "name": "new"})
    assert no_secret.status_code == 200 and "secret" in no_secret.context["adminform"].form.errors


def test_a_site_member_sees_only_the_cameras_alarms_and_zones_of_their_sites(panel: ClientFor, world: dict[str, Any]) -> None:
    from controlplane.alarms.models import Alarm
    from controlplane.cameras.models import Camera, Site
    from controlplane.zones.models import Zone

    other = Site.objects.create(name="warehouse")
    member = panel("operator", sites=[other])
    hq_camera = world["camera"]

    assert "dock" not in member.get(url(Camera, "changelist")).content.decode()
    assert member.get(url(Camera, "change", hq_camera.pk)).status_code == 302  # "does not exist" redirect
    assert member.get(url(Zone, "change", world["zone"].pk)).status_code == 302
    assert member.get(url(Alarm, "change", world["alarm"].pk)).status_code == 302
    assert "dock" in panel("operator").get(url(Camera, "changelist")).content.decode()  # no sites: sees all


def test_a_camera_saved_in_the_admin_makes_a_revision_authored_by_its_user(panel: ClientFor, live_db: Any) -> None:
    from controlplane.cameras.models import Camera
    from controlplane.configs.models import ConfigRevision

    root = panel(None)
    assert root.post(url(Camera, "add"), camera_form(name="gate")).status_code == 302

    revision = ConfigRevision.objects.order_by("-version").first()
    assert revision is not None and revision.author == root.user  # type: ignore[attr-defined]
    assert [c["name"] for c in revision.snapshot["cameras"]] == ["gate"]


def test_zones_added_on_the_camera_page_are_validated_like_anywhere_else(panel: ClientFor, world: dict[str, Any]) -> None:
    from controlplane.cameras.models import Camera

    root = panel(None)
    camera = world["camera"]
    rows = {"zones-TOTAL_FORMS": "1", "zones-0-name": "gate", "zones-0-kind": "line", "zones-0-direction": "left_to_right",
            "zones-0-enabled": "on", "zones-0-camera": str(camera.pk)}

    refused = root.post(url(Camera, "change", camera.pk), camera_form(camera, **rows, **{"zones-0-points": "[[0.5, 0], [0.5, 1], [1, 1]]"}))
    assert refused.status_code == 200
    assert "exactly 2 points" in str(refused.context["inline_admin_formsets"][0].formset.errors[0]["points"])

    added = root.post(url(Camera, "change", camera.pk), camera_form(camera, **rows, **{"zones-0-points": "[[0.5, 0], [0.5, 1]]"}))
    assert added.status_code == 302
    assert camera.zones.get(name="gate").direction == "left_to_right"


def test_an_operator_sees_cameras_read_only_and_edits_zones_on_their_own_page(panel: ClientFor, world: dict[str, Any]) -> None:
    from controlplane.cameras.models import Camera
    from controlplane.zones.models import Zone

    operator = panel("operator")
    camera = world["camera"]

    page = operator.get(url(Camera, "change", camera.pk)).content.decode()
    assert 'name="zones-0-name"' not in page and 'name="stream_url"' not in page  # nothing to edit here
    assert url(Zone, "change", world["zone"].pk) in page  # but a link to where zones are edited
    assert operator.post(url(Camera, "change", camera.pk), camera_form(camera, name="renamed")).status_code == 403
    assert operator.get(url(Camera, "add")).status_code == 403
    assert 'name="points"' in operator.get(url(Zone, "change", world["zone"].pk)).content.decode()
