"""The panel's pages as the server answers them (Django's test client; the browser tests are in
test_panel_browser.py): logins and roles, site scoping, filters, and a 1,000-camera wall."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import make_user
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext


def client_for(username: str, role: str | None) -> Client:
    client = Client()
    client.force_login(make_user(username, role))
    return client


@pytest.fixture
def fleet(live_db: Any) -> Any:
    """Two sites, a camera in each, alarms of several kinds on both."""
    from controlplane.alarms.models import Alarm
    from controlplane.cameras.models import Camera, Site

    north, south = Site.objects.create(name="north"), Site.objects.create(name="south")
    lobby = Camera.objects.create(name="lobby", stream_url="rtsp://10.0.0.1/s", site=north, tags=["entrance"])
    dock = Camera.objects.create(name="dock", stream_url="rtsp://10.0.0.2/s", site=south)
    base = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    alarms = {}
    for i, (camera, algorithm, severity, status) in enumerate([
        (lobby, "intrusion", "high", "new"), (lobby, "loitering", "low", "acknowledged"),
        (dock, "intrusion", "critical", "new"), (dock, "crowding", "medium", "closed"),
    ]):
        alarms[(camera.name, algorithm)] = Alarm.objects.create(
            camera=camera, algorithm=algorithm, severity=severity, status=status, dedup_key=f"k{i}",
            event_time=base + timedelta(hours=i), zone_name="floor",
        )
    return north, south, lobby, dock, alarms


def rows(response: Any) -> list[int]:
    return [a.pk for a in response.context["page"].object_list]


def test_every_page_needs_a_login_and_a_role(fleet: Any) -> None:
    *_, alarms = fleet
    alarm = alarms[("lobby", "intrusion")]
    pages = ["/panel/", "/panel/alarms/", f"/panel/alarms/{alarm.pk}/"]
    anonymous = Client()
    for url in pages:
        response = anonymous.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/panel/login/?next="), url
    for action in ("acknowledge", "close"):
        assert anonymous.post(f"/panel/alarms/{alarm.pk}/{action}/")["Location"].startswith("/panel/login/")
    nobody = client_for("nobody", None)  # an account in no role group
    for url in pages:
        assert nobody.get(url).status_code == 403, url
    viewer = client_for("vic", "viewer")
    for url in pages:
        assert viewer.get(url).status_code == 200, url
    assert Client().get("/").headers["Location"] == "/panel/"


def test_a_viewer_gets_403_on_every_edit_url_and_an_operator_acts(fleet: Any) -> None:
    *_, alarms = fleet
    alarm = alarms[("lobby", "intrusion")]
    viewer, operator = client_for("vic", "viewer"), client_for("opal", "operator")
    for action in ("acknowledge", "close"):
        for method in (viewer.get, viewer.post):
            assert method(f"/panel/alarms/{alarm.pk}/{action}/").status_code == 403
    assert b'id="acknowledge"' not in viewer.get(f"/panel/alarms/{alarm.pk}/").content
    assert b'id="acknowledge"' in operator.get(f"/panel/alarms/{alarm.pk}/").content
    assert operator.get(f"/panel/alarms/{alarm.pk}/acknowledge/").status_code == 405
    assert operator.post(f"/panel/alarms/{alarm.pk}/acknowledge/").status_code == 302
    again = operator.post(f"/panel/alarms/{alarm.pk}/acknowledge/", follow=True)
    assert "is acknowledged, not new" in again.content.decode()  # the model's conditional update said no
    assert operator.post(f"/panel/alarms/{alarm.pk}/close/", {"note": "x" * 2001}, follow=True).status_code == 200
    alarm.refresh_from_db()
    assert alarm.status == "acknowledged"  # a note over the API's 2,000 characters closes nothing
    operator.post(f"/panel/alarms/{alarm.pk}/close/", {"note": "done"})
    alarm.refresh_from_db()
    assert (alarm.status, alarm.close_note, alarm.closed_by.username) == ("closed", "done", "opal")


def test_a_site_scoped_user_sees_and_touches_only_their_sites(fleet: Any) -> None:
    from django.contrib.auth.models import User

    north, south, lobby, dock, alarms = fleet
    guard = client_for("guard", "operator")
    north.members.add(User.objects.get(username="guard"))
    wall = guard.get("/panel/")
    assert [t["camera"].name for t in wall.context["tiles"]] == ["lobby"]
    assert [s.name for s in wall.context["sites"]] == ["north"]
    listed = rows(guard.get("/panel/alarms/"))
    assert set(listed) == {alarms[("lobby", "intrusion")].pk, alarms[("lobby", "loitering")].pk}
    theirs = alarms[("dock", "intrusion")]
    assert guard.get(f"/panel/alarms/{theirs.pk}/").status_code == 404
    assert guard.post(f"/panel/alarms/{theirs.pk}/acknowledge/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == "new"


def test_the_alarm_list_filters_as_the_api_does(fleet: Any) -> None:
    north, south, lobby, dock, alarms = fleet
    viewer = client_for("vic", "viewer")

    def listed(query: str) -> set[tuple[str, str]]:
        response = viewer.get(f"/panel/alarms/?{query}")
        assert response.status_code == 200
        return {(a.camera.name, a.algorithm) for a in response.context["page"].object_list}

    assert len(listed("")) == 4
    assert listed(f"camera={dock.pk}") == {("dock", "intrusion"), ("dock", "crowding")}
    assert listed(f"site={north.pk}") == {("lobby", "intrusion"), ("lobby", "loitering")}
    assert listed("algorithm=intrusion") == {("lobby", "intrusion"), ("dock", "intrusion")}
    assert listed("severity=critical") == {("dock", "intrusion")}
    assert listed("status=new&severity=high") == {("lobby", "intrusion")}
    assert listed("since=2026-12-01T13:00&until=2026-12-01T15:00") == {("lobby", "loitering"), ("dock", "intrusion")}
    bad = viewer.get("/panel/alarms/?since=yesterday")
    assert rows(bad) == [] and "Filters not understood" in bad.content.decode()


def test_the_wall_pages_a_thousand_cameras_in_a_constant_number_of_queries(live_db: Any) -> None:
    from controlplane.alarms.models import Alarm
    from controlplane.cameras.models import Camera

    cameras = Camera.objects.bulk_create(
        [Camera(name=f"cam-{i:04d}", stream_url=f"rtsp://10.0.{i // 250}.{i % 250 + 1}/s", tags=["gate"] if i % 10 == 0 else [])
         for i in range(1000)]
    )
    Alarm.objects.bulk_create([Alarm(camera=c, algorithm="intrusion", dedup_key=f"w{c.pk}", event_time=datetime.now(UTC))
                               for c in cameras[:60]])
    viewer = client_for("vic", "viewer")
    counts = []
    for page in (1, 2, 21):
        with CaptureQueriesContext(connection) as queries:
            response = viewer.get(f"/panel/?page={page}")
        assert response.status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1] == counts[2], counts
    first = viewer.get("/panel/")
    assert len(first.context["tiles"]) == 48 and "page 1 of 21" in first.content.decode()
    assert all(t["open_alarms"] == 1 for t in first.context["tiles"])
    last = viewer.get("/panel/?page=21")
    assert [t["camera"].name for t in last.context["tiles"]][-1] == "cam-0999"
    tagged = viewer.get("/panel/?tag=gate")
    assert tagged.context["page"].paginator.count == 100
    assert viewer.get("/panel/?state=streaming").context["page"].paginator.count == 0  # none reports streaming
