"""Revisions follow site scoping, and secrets in a stream URL's query are shown masked everywhere.

Issue 11, findings 1 and 4 (DESIGN §11): a site-A viewer read site-B cameras through the revision
snapshots, and the snapshots (API and admin) and the admin camera page showed ``?password=...``.
Revisions are one installation-wide record (their comments, authors and version sequence describe
every site), so a site-scoped user reads none of them; admins are never site-scoped.
"""
from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

QUERY_SECRET = "Qu3ry-s3cret-value"
TOKEN_SECRET = "t0ken-s3cret-value"
# A URL an integrator might give: credentials in the query, in several spellings.
SECRET_URL = (
    f"rtsp://10.0.2.1:554/live?user=admin&password={QUERY_SECRET}&access_token={TOKEN_SECRET}&channel=1"
)


@pytest.fixture
def sites(api: Any) -> dict[str, Any]:
    """Two sites with a camera each; the south camera's URL carries secrets in its query."""
    admin = api("admin")
    north = admin.post("/api/v1/sites/", {"name": "north"}, format="json").json()
    south = admin.post("/api/v1/sites/", {"name": "south"}, format="json").json()
    cam_n = admin.post("/api/v1/cameras/", {"name": "n1", "stream_url": "rtsp://10.0.1.1/s", "site": north["id"]},
                       format="json").json()
    cam_s = admin.post("/api/v1/cameras/", {"name": "s1", "stream_url": SECRET_URL, "site": south["id"]},
                       format="json").json()
    return {"admin": admin, "north": north, "south": south, "cam_n": cam_n, "cam_s": cam_s}


def member_of(api: Any, sites: dict[str, Any], role: str, site: str = "north") -> Any:
    client = api(role)
    sites["admin"].patch(f"/api/v1/sites/{sites[site]['id']}/", {"members": [client.user.pk]}, format="json")
    return client


def latest_version(client: Any) -> int:
    return int(client.get("/api/v1/revisions/").json()["results"][0]["version"])


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_a_site_scoped_user_reads_no_revision_at_all(api: Any, sites: dict[str, Any], role: str) -> None:
    version = latest_version(sites["admin"])
    scoped = member_of(api, sites, role)

    listed = scoped.get("/api/v1/revisions/")
    shown = scoped.get(f"/api/v1/revisions/{version}/")

    assert listed.status_code == 403 and "site" in listed.json()["detail"]
    assert shown.status_code == 403
    assert scoped.post(f"/api/v1/revisions/{version}/rollback/").status_code == 403
    assert "s1" not in listed.content.decode() + shown.content.decode()
    assert scoped.get("/api/v1/revisions/", {"ordering": "version", "limit": 1}).status_code == 403


def test_an_unscoped_viewer_reads_revisions_and_an_admin_member_of_a_site_still_rolls_back(
    api: Any, sites: dict[str, Any]
) -> None:
    version = latest_version(sites["admin"])
    assert api("viewer").get(f"/api/v1/revisions/{version}/").status_code == 200
    admin_in_north = member_of(api, sites, "admin")

    cameras = admin_in_north.get(f"/api/v1/revisions/{version}/").json()["snapshot"]["cameras"]
    rolled = admin_in_north.post(f"/api/v1/revisions/{version}/rollback/")

    assert {c["name"] for c in cameras} == {"n1", "s1"}  # admins are never site-scoped
    assert rolled.status_code == 201, rolled.json()


def test_revision_snapshots_mask_secrets_in_the_stream_urls_query(api: Any, sites: dict[str, Any]) -> None:
    version = latest_version(sites["admin"])

    detail = api("viewer").get(f"/api/v1/revisions/{version}/")

    body = detail.content.decode()
    assert QUERY_SECRET not in body and TOKEN_SECRET not in body
    urls = {c["name"]: c["stream_url"] for c in detail.json()["snapshot"]["cameras"]}
    assert urls["s1"] == "rtsp://10.0.2.1:554/live?user=admin&password=***&access_token=***&channel=1"
    assert urls["n1"] == "rtsp://10.0.1.1/s"


def test_the_revisions_list_carries_no_snapshot_and_the_detail_does_as_the_schema_says(
    api: Any, sites: dict[str, Any]
) -> None:
    admin = sites["admin"]
    version = latest_version(admin)

    listed = admin.get("/api/v1/revisions/", {"limit": 500}).json()["results"]
    detail = admin.get(f"/api/v1/revisions/{version}/").json()
    schema = admin.get("/api/v1/schema/", {"format": "json"}).json()

    assert listed and all("snapshot" not in r for r in listed)
    assert {"version", "created_at", "author_name", "comment", "content_hash", "restored_from"} <= set(listed[0])
    assert detail["snapshot"]["cameras"]
    list_ref = schema["paths"]["/api/v1/revisions/"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    page = schema["components"]["schemas"][list_ref["$ref"].rsplit("/", 1)[1]]
    item = schema["components"]["schemas"][page["properties"]["results"]["items"]["$ref"].rsplit("/", 1)[1]]
    detail_ref = schema["paths"]["/api/v1/revisions/{version}/"]["get"]["responses"]["200"]["content"]["application/json"]
    detail_schema = schema["components"]["schemas"][detail_ref["schema"]["$ref"].rsplit("/", 1)[1]]
    assert "snapshot" not in item["properties"]
    assert "snapshot" in detail_schema["properties"]


def test_writing_back_a_masked_url_keeps_the_stored_secret_and_a_new_value_replaces_it(
    api: Any, sites: dict[str, Any]
) -> None:
    from controlplane.cameras.models import Camera

    admin = sites["admin"]
    cam_id = sites["cam_s"]["id"]
    shown = admin.get(f"/api/v1/cameras/{cam_id}/").json()
    assert QUERY_SECRET not in str(shown)

    # When: the client sends back what it read (the usual GET-modify-PUT), with another path.
    moved = shown["stream_url"].replace("/live?", "/main?")
    put = admin.patch(f"/api/v1/cameras/{cam_id}/", {"stream_url": moved}, format="json")

    assert put.status_code == 200, put.json()
    assert Camera.objects.get(pk=cam_id).stream_url == SECRET_URL.replace("/live?", "/main?")
    changed = admin.patch(f"/api/v1/cameras/{cam_id}/", {"stream_url": moved.replace("password=***", "password=n3w")},
                          format="json")
    assert changed.status_code == 200
    assert "password=n3w&access_token=" + TOKEN_SECRET in Camera.objects.get(pk=cam_id).stream_url


# --- the admin panel ---------------------------------------------------------------------------


def admin_url(model: Any, view: str, *args: Any) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def test_a_site_scoped_viewer_sees_no_revision_in_the_admin(api: Any, sites: dict[str, Any], panel: Any) -> None:
    from controlplane.cameras.models import Site
    from controlplane.configs.models import ConfigRevision

    version = latest_version(sites["admin"])
    scoped = panel("viewer", [Site.objects.get(name="north")])

    assert scoped.get(admin_url(ConfigRevision, "changelist")).status_code == 403
    assert scoped.get(admin_url(ConfigRevision, "change", version)).status_code in (302, 403)
    assert "s1" not in scoped.get(admin_url(ConfigRevision, "change", version), follow=True).content.decode()
    assert panel("viewer").get(admin_url(ConfigRevision, "change", version)).status_code == 200


def test_admin_revision_and_camera_pages_never_show_the_query_secret(api: Any, sites: dict[str, Any], panel: Any) -> None:
    from controlplane.cameras.models import Camera
    from controlplane.configs.models import ConfigRevision

    version = latest_version(sites["admin"])
    cam_id = sites["cam_s"]["id"]
    pages = [admin_url(ConfigRevision, "change", version), admin_url(ConfigRevision, "changelist"),
             admin_url(Camera, "change", cam_id), admin_url(Camera, "changelist"), admin_url(Camera, "history", cam_id)]

    for who in (panel(None), panel("viewer"), panel("operator")):
        for page in pages:
            html = who.get(page).content.decode()
            assert QUERY_SECRET not in html and TOKEN_SECRET not in html, page
    root_page = panel(None).get(admin_url(Camera, "change", cam_id)).content.decode()
    assert "password=***&amp;access_token=***" in root_page


def test_the_admin_camera_search_is_no_oracle_for_the_query_secret(api: Any, sites: dict[str, Any], panel: Any) -> None:
    from controlplane.cameras.models import Camera

    viewer = panel("viewer")

    found = viewer.get(admin_url(Camera, "changelist"), {"q": f"password={QUERY_SECRET[:3]}"})

    assert found.status_code == 200
    assert found.context["cl"].result_count == 0
    assert viewer.get(admin_url(Camera, "changelist"), {"q": "s1"}).context["cl"].result_count == 1


def test_saving_the_admin_camera_form_unchanged_keeps_the_query_secret(api: Any, sites: dict[str, Any], panel: Any) -> None:
    from controlplane.cameras.models import Camera

    root = panel(None)
    cam_id = sites["cam_s"]["id"]
    form = root.get(admin_url(Camera, "change", cam_id)).context["adminform"].form
    shown_url = form.initial["stream_url"]
    assert QUERY_SECRET not in shown_url
    data = {
        "name": "s1", "stream_url": shown_url, "enabled": "on", "site": sites["south"]["id"], "location": "gate",
        "tags": "[]", "detector_model": "", "segment_seconds": "5", "detect_fps": "5.0", "detect_width": "",
        "detect_height": "", "retention_hours": "72", "username": "", "password": "",
        "zones-TOTAL_FORMS": "0", "zones-INITIAL_FORMS": "0", "zones-MIN_NUM_FORMS": "0", "zones-MAX_NUM_FORMS": "1000",
    }

    saved = root.post(admin_url(Camera, "change", cam_id), data)

    assert saved.status_code == 302, saved.context and saved.context["adminform"].form.errors
    camera = Camera.objects.get(pk=cam_id)
    assert camera.stream_url == SECRET_URL and camera.location == "gate"
