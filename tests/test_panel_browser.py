"""The operator panel in a real browser: Debian's chromium, driven by Playwright, against daphne.

Each test logs in through the login page, as a person would, and leaves a screenshot of what it
saw under $PANOPTES_SCREENSHOTS (default var/screenshots/).
"""
from __future__ import annotations

from typing import Any

import pytest
from conftest import make_user
from panel_helpers import (  # noqa: F401 (fixtures)
    Scene,
    browser,
    in_thread,
    live,
    log_in,
    new_page,
    panel_process,
    panel_server,
    panel_storage,
    raise_alarm,
    scene,
    shoot,
)

pytestmark = pytest.mark.slow


def post_with_csrf(page: Any, url: str, form: dict[str, str] | None = None) -> Any:
    """A form POST from the logged-in page's session, with its CSRF token (so only the role can refuse it)."""
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    return page.request.post(url, form=form or {}, headers={"X-CSRFToken": token, "Referer": page.url},
                             max_redirects=0)


def test_a_viewer_sees_the_live_wall_without_edit_controls_and_is_refused_the_edit_urls(
    new_page: Any, scene: Scene, redis_client: Any  # noqa: F811
) -> None:
    from workers.status import write_status

    make_user("vera", "viewer")
    alarm = raise_alarm(scene, 12)
    page = new_page()
    log_in(page, "vera")
    live(page)

    tile = page.locator(f'.tile[data-camera="{scene.camera.pk}"]')
    assert tile.locator("h2").inner_text() == "lobby"
    page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=tile.locator("img").element_handle())
    assert tile.locator('[data-field="open_alarms"]').inner_text() == "1"
    assert page.locator(f'.tile[data-camera="{scene.other.pk}"]').count() == 1
    # The capture worker reports the camera streaming: the tile follows without a reload.
    page.evaluate("window.notReloaded = true")
    write_status(redis_client, scene.camera.pk, {"state": "streaming", "worker": "capture@host1", "input_fps": "25.00",
                                                 "last_segment_at": scene.segments[-1].end_time.isoformat()})
    page.wait_for_function(f"""document.querySelector('.tile[data-camera="{scene.camera.pk}"] [data-field=state]')
                               .textContent === 'streaming'""")
    assert tile.locator('[data-field="worker"]').inner_text() == "capture@host1"
    assert tile.locator('[data-field="input_fps"]').inner_text() == "25.00"
    assert page.evaluate("window.notReloaded") is True
    shoot(page, "wall")

    page.select_option("select[name=site]", label="south")
    page.click("#wall-filters button")
    page.wait_for_url("**site=*")
    assert page.locator(".tile").count() == 1 and page.locator(".tile h2").inner_text() == "dock"

    page.goto(f"/panel/alarms/{alarm.pk}/")
    assert page.locator("#alarm-status").inner_text() == "new"
    assert page.locator("#actions button").count() == 0 and page.locator("#deliveries").count() == 0
    shoot(page, "alarm-detail-viewer")
    for action in ("acknowledge", "close"):
        assert post_with_csrf(page, f"/panel/alarms/{alarm.pk}/{action}/").status == 403
    alarm.refresh_from_db()
    assert alarm.status == "new"


def test_an_operator_acknowledges_and_closes_an_alarm_and_the_api_shows_it(
    new_page: Any, scene: Scene, api: Any  # noqa: F811
) -> None:
    make_user("olga", "operator")
    alarm = raise_alarm(scene, 12)
    page = new_page()
    log_in(page, "olga")
    page.goto(f"/panel/alarms/{alarm.pk}/")

    page.click("#acknowledge")
    page.wait_for_selector("#alarm-status:text('acknowledged')")
    page.fill("input[name=note]", "a cleaner, not an intruder")
    page.click("#close")
    page.wait_for_selector("#alarm-status:text('closed')")
    assert page.locator("#actions button").count() == 0
    history = page.locator("#history tbody tr")
    assert history.count() == 3  # created, acknowledged, closed
    assert "olga" in history.nth(2).inner_text() and "a cleaner, not an intruder" in history.nth(2).inner_text()
    shoot(page, "alarm-detail-closed")

    body = api("viewer").get(f"/api/v1/alarms/{alarm.pk}/").json()
    assert body["status"] == "closed" and body["close_note"] == "a cleaner, not an intruder"
    assert [h["action"] for h in body["history"]] == ["created", "acknowledged", "closed"]

    page.click("nav.top button[type=submit]")  # log out
    page.wait_for_url("**/panel/login/")
    page.goto("/panel/alarms/")
    assert "/panel/login/" in page.url


def test_a_new_alarm_appears_on_an_open_alarms_page_without_reload(new_page: Any, scene: Scene) -> None:  # noqa: F811
    make_user("otto", "operator")
    older = raise_alarm(scene, 3)
    page = new_page()
    log_in(page, "otto")
    page.goto("/panel/alarms/")
    live(page)
    assert page.locator("#alarm-rows tr").count() == 1
    page.evaluate("window.notReloaded = true")

    alarm = raise_alarm(scene, 12, track=7)  # committed in a worker's thread; pushed on commit

    row = page.locator(f'#alarm-rows tr[data-alarm="{alarm.pk}"]')
    row.wait_for(timeout=3000)
    assert page.locator("#alarm-rows tr").first.get_attribute("data-alarm") == str(alarm.pk)  # on top
    assert "fresh" in (row.get_attribute("class") or "")  # highlighted
    assert page.locator("#live-badge").inner_text() == "1"
    assert page.evaluate("window.notReloaded") is True
    assert page.locator(f'#alarm-rows tr[data-alarm="{older.pk}"]').count() == 1
    shoot(page, "alarm-list")

    # Filters go through htmx (the list is replaced, the URL follows).
    page.select_option("select[name=status]", "acknowledged")
    page.wait_for_url("**status=acknowledged*")
    page.locator("#alarm-rows tr.empty").wait_for()


def test_the_alarm_detail_plays_the_replay_once_ready_with_the_zone_and_box_over_the_picture(
    new_page: Any, scene: Scene  # noqa: F811
) -> None:
    from controlplane.alarms.models import Alarm, WebhookEndpoint
    from workers.replay import cut_replay, ensure_snapshot

    make_user("rita", "operator")
    WebhookEndpoint.objects.create(name="soc", url="https://soc.example/hook", secret="a-plain-secret-of-some-length")
    alarm = raise_alarm(scene, 12)
    assert in_thread(lambda: ensure_snapshot(alarm))  # phase one: the annotated picture
    page = new_page()
    log_in(page, "rita")
    page.goto(f"/panel/alarms/{alarm.pk}/")
    live(page)
    assert page.locator("#replay").get_attribute("src") is None
    page.evaluate("window.notReloaded = true")

    assert in_thread(lambda: cut_replay(alarm.pk)) == "ready"  # phase two, as the alarms worker does it

    page.wait_for_function("document.getElementById('replay').readyState >= 2", timeout=10_000)
    assert page.evaluate("window.notReloaded") is True
    alarm = Alarm.objects.get(pk=alarm.pk)
    duration = page.evaluate("document.getElementById('replay').duration")
    assert alarm.replay_seconds and abs(duration - alarm.replay_seconds) < 0.5, (duration, alarm.replay_seconds)
    page.wait_for_function("(img) => img.complete && img.naturalWidth > 0",
                           arg=page.locator("#alarm-picture").element_handle())
    assert page.locator("#alarm-overlay").get_attribute("viewBox") == "0 0 768 432"
    points = page.locator("#alarm-overlay polygon.zone").get_attribute("points") or ""
    assert points.split()[0] == "307.2,302.4"  # FLOOR's first vertex in frame pixels
    box = page.locator("#alarm-overlay rect.box")
    assert [box.get_attribute(a) for a in ("x", "y", "width", "height")] == ["300.0", "250.0", "120.0", "180.0"]
    page.reload()  # the delivery attempts, per endpoint, as they stand now (operators only)
    deliveries = page.locator("#deliveries tbody tr")
    assert deliveries.count() == 2
    assert [deliveries.nth(i).locator("td").nth(1).inner_text() for i in range(2)] == ["alarm.created", "alarm.replay_ready"]
    assert all(deliveries.nth(i).locator("td").first.inner_text() == "soc" for i in range(2))
    page.wait_for_function("document.getElementById('replay').readyState >= 2", timeout=10_000)
    shoot(page, "alarm-detail-replay")


def test_an_open_wall_resumes_live_updates_by_itself_after_the_server_restarts(
    new_page: Any, scene: Scene, redis_client: Any, panel_process: Any  # noqa: F811
) -> None:
    from workers.status import write_status

    make_user("nina", "viewer")
    page = new_page()
    log_in(page, "nina")
    live(page)
    page.evaluate("window.notReloaded = true")

    panel_process.stop()
    page.wait_for_selector("#socket-state[data-state=offline]")
    panel_process.start()
    page.wait_for_selector("#socket-state[data-state=live]", timeout=15_000)  # reconnected and resubscribed

    write_status(redis_client, scene.camera.pk, {"state": "backoff", "last_error": "connection refused"})
    page.wait_for_function(f"""document.querySelector('.tile[data-camera="{scene.camera.pk}"] [data-field=state]')
                               .textContent === 'backoff (connection refused)'""")
    assert page.evaluate("window.notReloaded") is True
