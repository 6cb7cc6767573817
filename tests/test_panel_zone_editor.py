"""The zone editor in a real browser (Debian's chromium, Playwright, daphne): drawing, saving through
the REST API, its errors, and the camera's edit lock (controlplane.zones.locks) between two users."""
from __future__ import annotations

import time
from typing import Any

import pytest
from conftest import make_user
from panel_helpers import (  # noqa: F401 (fixtures)
    Scene,
    browser,
    log_in,
    new_page,
    panel_process,
    panel_server,
    panel_storage,
    scene,
    shoot,
)

pytestmark = pytest.mark.slow


def open_editor(page: Any, camera: int) -> Any:
    """The editor with its zones loaded and its picture shown; the overlay's box on the page."""
    page.goto(f"/panel/cameras/{camera}/zones/")
    page.wait_for_selector("#zone-editor[data-ready=true]")
    page.wait_for_function("() => { const p = document.getElementById('picture'); return p.complete && p.naturalWidth > 0 }")
    return page.locator("#overlay").bounding_box()


def click_at(page: Any, box: dict[str, float], fractions: list[tuple[float, float]]) -> list[tuple[int, int]]:
    """Clicks at whole pixels near the given fractions of the picture; the pixels clicked."""
    spots = [(round(box["x"] + fx * box["width"]), round(box["y"] + fy * box["height"])) for fx, fy in fractions]
    for x, y in spots:
        page.mouse.click(x, y)
    return spots


def test_an_operator_draws_a_polygon_binds_intrusion_and_saves_it_where_the_mouse_went(
    new_page: Any, scene: Scene  # noqa: F811
) -> None:
    from controlplane.algorithms.models import AlgorithmBinding
    from controlplane.configs.publish import published_version
    from controlplane.zones import locks
    from controlplane.zones.models import Zone

    before = published_version() or 0
    make_user("otto", "operator")
    page = new_page()
    log_in(page, "otto")
    page.click(f'.tile[data-camera="{scene.camera.pk}"] .edit-zones')
    box = open_editor(page, scene.camera.pk)
    assert page.locator("#lock-state").get_attribute("data-held") == "true"
    assert page.locator("#zone-list li").count() == 1  # the scene's "floor"

    page.click('[data-new="polygon"]')
    spots = click_at(page, box, [(0.10, 0.10), (0.50, 0.12), (0.45, 0.50), (0.12, 0.40)])
    page.click("#finish")
    page.fill("#zone-name", "desk")
    page.select_option("#binding-algorithm", "intrusion")
    page.fill('#binding-params input[name="min_dwell"]', "2.5")
    page.select_option("#binding-severity", "high")
    page.click("#bind")
    shoot(page, "zone-editor")
    page.click("#save")
    page.wait_for_selector("#save-state:text('Saved.')")

    zone = Zone.objects.get(camera=scene.camera, name="desk")
    assert zone.kind == "polygon" and len(zone.points) == 4
    for (px, py), (x, y) in zip(spots, zone.points, strict=True):
        assert abs(box["x"] + x * box["width"] - px) <= 1 and abs(box["y"] + y * box["height"] - py) <= 1
    binding = AlgorithmBinding.objects.get(zone=zone)
    assert binding.algorithm.slug == "intrusion" and binding.params["min_dwell"] == 2.5 and binding.severity == "high"
    assert locks.current(scene.camera.pk) is None  # released on save
    assert (published_version() or 0) > before  # the workers get the new zone


def test_leaving_the_editor_releases_the_lock_at_once(new_page: Any, scene: Scene) -> None:  # noqa: F811
    from controlplane.zones import locks

    make_user("otto", "operator")
    page = new_page()
    log_in(page, "otto")
    open_editor(page, scene.camera.pk)
    assert locks.current(scene.camera.pk) is not None
    page.goto("/panel/alarms/")
    deadline = time.monotonic() + 3
    while locks.current(scene.camera.pk) is not None:
        assert time.monotonic() < deadline, "the lock outlived the page"
        time.sleep(0.05)


def test_an_operator_reshapes_and_moves_a_zone_draws_a_line_and_deletes_a_mask(new_page: Any, scene: Scene) -> None:  # noqa: F811
    from controlplane.zones.models import Zone

    make_user("otto", "operator")
    page = new_page()
    log_in(page, "otto")
    box = open_editor(page, scene.camera.pk)
    pixel = lambda fx, fy: (round(box["x"] + fx * box["width"]), round(box["y"] + fy * box["height"]))  # noqa: E731

    def drag(start: tuple[int, int], end: tuple[int, int]) -> None:
        page.mouse.move(*start)
        page.mouse.down()
        page.mouse.move(*end, steps=5)
        page.mouse.up()

    page.click("#zone-list a:text('floor')")
    drag(pixel(0.40, 0.70), pixel(0.30, 0.60))  # its first corner
    corners = [pixel(0.30, 0.60), pixel(0.85, 0.70), pixel(0.85, 1.0), pixel(0.40, 1.0)]
    drag(pixel(0.60, 0.85), pixel(0.55, 0.80))  # the whole shape
    dx, dy = pixel(0.55, 0.80)[0] - pixel(0.60, 0.85)[0], pixel(0.55, 0.80)[1] - pixel(0.60, 0.85)[1]
    moved = [(x + dx, y + dy) for x, y in corners]

    page.click('[data-new="line"]')
    line = click_at(page, box, [(0.2, 0.3), (0.2, 0.9)])
    page.fill("#zone-name", "door")
    page.select_option("#zone-direction", "left_to_right")
    page.click('[data-new="mask"]')
    click_at(page, box, [(0.7, 0.1), (0.9, 0.1), (0.9, 0.3)])
    page.click("#delete-zone")
    page.click("#save")
    page.wait_for_selector("#save-state:text('Saved.')")

    def near(points: list[list[float]], pixels: list[tuple[int, int]]) -> bool:
        return all(abs(box["x"] + x * box["width"] - px) <= 1 and abs(box["y"] + y * box["height"] - py) <= 1
                   for (x, y), (px, py) in zip(points, pixels, strict=True))

    zones = {z.name: z for z in Zone.objects.filter(camera=scene.camera)}
    assert sorted(zones) == ["door", "floor"]
    assert near(zones["floor"].points, moved), zones["floor"].points
    assert zones["door"].kind == "line" and zones["door"].direction == "left_to_right" and near(zones["door"].points, line)


def test_a_self_intersecting_polygon_shows_the_apis_error_and_saves_nothing(new_page: Any, scene: Scene) -> None:  # noqa: F811
    from controlplane.zones.models import Zone

    make_user("otto", "operator")
    page = new_page()
    log_in(page, "otto")
    box = open_editor(page, scene.camera.pk)
    page.click('[data-new="polygon"]')
    click_at(page, box, [(0.1, 0.1), (0.5, 0.5), (0.5, 0.1), (0.1, 0.5)])  # a bow tie
    page.click("#finish")
    page.click("#save")
    error = page.locator('.error[data-for="points"]')
    error.wait_for(state="visible")
    assert "intersect" in error.inner_text()
    assert page.locator("#save-state").inner_text() == "Not saved."
    assert list(Zone.objects.filter(camera=scene.camera).values_list("name", flat=True)) == ["floor"]


def test_the_second_user_sees_who_holds_the_lock_and_cannot_save_until_an_admin_takes_it_over(
    new_page: Any, scene: Scene  # noqa: F811
) -> None:
    from controlplane.zones.models import Zone

    make_user("otto", "operator")
    make_user("olga", "operator")
    make_user("ada", "admin")
    first, second = new_page(), new_page()
    log_in(first, "otto")
    open_editor(first, scene.camera.pk)
    log_in(second, "olga")
    box = open_editor(second, scene.camera.pk)

    state = second.locator("#lock-state")
    assert state.get_attribute("data-held") == "false"
    assert "Being edited by otto until" in state.inner_text()
    assert second.locator("#save").is_disabled() and second.locator('[data-new="polygon"]').is_disabled()
    assert second.locator("#take-over").count() == 0  # only an admin may take over
    shoot(second, "zone-editor-locked")
    click_at(second, box, [(0.2, 0.2), (0.6, 0.2), (0.6, 0.6)])
    assert Zone.objects.filter(camera=scene.camera).count() == 1
    # What the page's JS would send, sent anyway: the API refuses it while otto holds the lock.
    token = next(c["value"] for c in second.context.cookies() if c["name"] == "csrftoken")
    refused = second.request.post("/api/v1/zones/", data={"camera": scene.camera.pk, "name": "sneaky",
                                                          "points": [[0.2, 0.2], [0.6, 0.2], [0.6, 0.6]]},
                                  headers={"X-CSRFToken": token, "Referer": second.url})
    assert refused.status == 409 and "otto" in refused.json()["detail"]

    admin = new_page()
    log_in(admin, "ada")
    open_editor(admin, scene.camera.pk)
    assert "Being edited by otto" in admin.locator("#lock-state").inner_text()
    admin.click("#take-over")
    admin.wait_for_selector("#lock-state[data-held=true]")
    assert admin.locator("#save").is_enabled()


def test_a_viewer_is_refused_the_zone_editor(new_page: Any, scene: Scene) -> None:  # noqa: F811
    make_user("vera", "viewer")
    page = new_page()
    log_in(page, "vera")
    assert page.locator(".edit-zones").count() == 0
    assert page.goto(f"/panel/cameras/{scene.camera.pk}/zones/").status == 403
