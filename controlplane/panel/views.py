"""The operator panel's pages: thin over the API's querysets, filters and alarm actions.

Every page needs a role (controlplane.panel.auth.role_required); every queryset is scoped to the
user's sites with controlplane.core.roles.scope_to_sites, as the API's viewsets are.
"""
from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from controlplane.alarms.api.serializers import CloseSerializer
from controlplane.alarms.api.views import AlarmFilter
from controlplane.alarms.choices import AlarmStatus, SeverityChoices
from controlplane.alarms.models import Alarm, AlarmDelivery
from controlplane.algorithms.models import Algorithm
from controlplane.cameras.models import Camera, Site
from controlplane.core.choices import Role
from controlplane.core.redis import client
from controlplane.core.roles import role_of, scope_to_sites
from controlplane.panel.auth import can_operate, role_required
from controlplane.zones import locks
from controlplane.zones.choices import LineDirectionChoices, ZoneKindChoices
from workers.status import CaptureState, read_status

WALL_PAGE = 48  # tiles per page: a 1,000-camera fleet is 21 pages; each page reads 48 statuses
ALARM_PAGE = 50
OPEN = (AlarmStatus.NEW, AlarmStatus.ACKNOWLEDGED)


def page_of(request: HttpRequest, items: Any, size: int) -> Page:  # type: ignore[type-arg]
    return Paginator(items, size).get_page(request.GET.get("page"))


def query_without_page(request: HttpRequest) -> str:
    params = request.GET.copy()
    params.pop("page", None)
    return params.urlencode()


# --- camera wall -------------------------------------------------------------------------------
@role_required(Role.VIEWER)
def wall(request: HttpRequest) -> HttpResponse:
    cameras = scope_to_sites(Camera.objects.select_related("site"), request.user, "site").order_by("name")
    sites = visible_sites(request.user)
    site, tag, state = request.GET.get("site", ""), request.GET.get("tag", "").strip(), request.GET.get("state", "")
    if site.isdigit():
        cameras = cameras.filter(site_id=int(site))
    if tag:
        cameras = with_tag(cameras, tag)
    if state in {s.value for s in CaptureState}:
        statuses = read_status(client(), list(cameras.values_list("pk", flat=True)))
        cameras = cameras.filter(pk__in=[cid for cid, s in statuses.items() if s.get("state") == state])
    page = page_of(request, cameras, WALL_PAGE)
    shown = list(page.object_list)
    ids = [c.pk for c in shown]
    statuses = read_status(client(), ids)
    open_alarms = dict(Alarm.objects.filter(camera_id__in=ids, status__in=OPEN).order_by()
                       .values_list("camera_id").annotate(n=Count("id")).values_list("camera_id", "n"))
    tiles = [{"camera": c, "status": statuses[c.pk], "open_alarms": open_alarms.get(c.pk, 0)} for c in shown]
    return render_page(request, "panel/wall.html", "wall", {
        "page": page, "tiles": tiles, "sites": sites, "states": [s.value for s in CaptureState],
        "filters": {"site": site, "tag": tag, "state": state}, "query": query_without_page(request),
    })


def visible_sites(user: Any) -> QuerySet[Site]:
    """The sites a filter offers: the user's own, or all (scope_to_sites' rule for cameras)."""
    return scope_to_sites(Site.objects.order_by("name"), user, "pk")


def with_tag(cameras: QuerySet[Camera], tag: str) -> QuerySet[Camera]:
    """Cameras carrying ``tag`` (JSON containment where the database has it; SQLite has not)."""
    if connection.features.supports_json_field_contains:
        return cameras.filter(tags__contains=[tag])
    ids = [pk for pk, tags in cameras.values_list("pk", "tags") if tag in (tags or [])]
    return cameras.filter(pk__in=ids)


# --- alarms ------------------------------------------------------------------------------------
def scoped_alarms(user: Any) -> QuerySet[Alarm]:
    return scope_to_sites(Alarm.objects.select_related("camera", "camera__site"), user, "camera__site")


@role_required(Role.VIEWER)
def alarm_list(request: HttpRequest) -> HttpResponse:
    """Filters as the API's (AlarmFilter: camera, algorithm, severity, status, since, until) plus site."""
    # The page's cameras by a second query, not a join: with the join, MariaDB read the cameras first
    # and sorted every alarm (480 ms p50 for 100,000; bench/panel_pages.py), without it 65 ms.
    alarms = scope_to_sites(Alarm.objects.prefetch_related("camera"), request.user, "camera__site")
    site = request.GET.get("site", "")
    if site.isdigit():
        alarms = alarms.filter(camera__site_id=int(site))
    filters = AlarmFilter(request.GET, queryset=alarms)
    found = filters.qs if filters.is_valid() else alarms.none()
    page = page_of(request, found, ALARM_PAGE)
    cameras = scope_to_sites(Camera.objects.all(), request.user, "site").order_by("name").values_list("pk", "name")
    algorithms = Algorithm.objects.values_list("slug", flat=True)  # the catalog: no scan of the alarms
    return render_page(request, "panel/alarms.html", "alarms", {
        "page": page, "errors": filters.errors, "filters": request.GET, "query": query_without_page(request),
        "cameras": list(cameras), "sites": visible_sites(request.user), "algorithms": sorted(set(algorithms)),
        "severities": SeverityChoices.choices, "statuses": AlarmStatus.choices,
        "live": not request.GET.get("page") or request.GET.get("page") == "1",
    })


@role_required(Role.VIEWER)
def alarm_detail(request: HttpRequest, pk: int) -> HttpResponse:
    alarm = get_object_or_404(scoped_alarms(request.user).select_related("zone", "acknowledged_by", "closed_by"), pk=pk)
    operator = can_operate(request.user)
    deliveries = (AlarmDelivery.objects.filter(alarm=alarm).select_related("endpoint").order_by("target", "event_type")
                  if operator else AlarmDelivery.objects.none())  # the API shows deliveries to operators only
    details = alarm.details or {}
    frame = details.get("frame_size") or [0, 0]
    zone_points = details.get("zone_points") or (alarm.zone.points if alarm.zone else None) or []
    width, height = (int(frame[0]), int(frame[1])) if len(frame) == 2 else (0, 0)
    return render_page(request, "panel/alarm_detail.html", "alarms", {
        "alarm": alarm, "history": alarm.history.select_related("user"), "deliveries": deliveries,
        "can_operate": operator, "width": width, "height": height,
        "zone_svg": " ".join(f"{x * width:.1f},{y * height:.1f}" for x, y in zone_points) if width else "",
        "box": box_rect(details.get("box")) if width else None,
        "replay_playable": alarm.replay_status in ("ready", "partial") and bool(alarm.replay_path),
    })


def box_rect(box: Any) -> tuple[float, float, float, float] | None:
    """[x1, y1, x2, y2] (the alarm's box, frame pixels) as SVG's x, y, width, height."""
    if not isinstance(box, list) or len(box) != 4:
        return None
    x1, y1, x2, y2 = (float(v) for v in box)
    return x1, y1, x2 - x1, y2 - y1


def render_page(request: HttpRequest, template: str, nav: str, context: dict[str, Any]) -> HttpResponse:
    role = role_of(request.user)
    return render(request, template, {**context, "nav": nav, "panel_role": role.value if role else ""})


def _back(pk: int) -> HttpResponseRedirect:
    return HttpResponseRedirect(reverse("panel:alarm", args=[pk]))


@role_required(Role.OPERATOR)  # first: a viewer gets 403 on an edit URL whatever the method
@require_POST
def alarm_acknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    alarm = get_object_or_404(scoped_alarms(request.user), pk=pk)
    if alarm.acknowledge(request.user):
        messages.success(request, f"Alarm {pk} acknowledged.")
    else:
        messages.warning(request, f"Alarm {pk} is {alarm.status}, not new: nothing done.")
    return _back(pk)


@role_required(Role.OPERATOR)
@require_POST
def alarm_close(request: HttpRequest, pk: int) -> HttpResponse:
    alarm = get_object_or_404(scoped_alarms(request.user), pk=pk)
    body = CloseSerializer(data={"note": request.POST.get("note", "")})
    if not body.is_valid():
        messages.error(request, f"Not closed: {'; '.join(str(e) for e in body.errors.get('note', []))}")
    elif alarm.close(request.user, body.validated_data["note"]):
        messages.success(request, f"Alarm {pk} closed.")
    else:
        messages.warning(request, f"Alarm {pk} is already closed.")
    return _back(pk)


# --- zone editor -------------------------------------------------------------------------------
@role_required(Role.OPERATOR)
def zone_editor(request: HttpRequest, pk: int) -> HttpResponse:
    """The camera's zones over its live picture. Opening it takes the camera's edit lock; a page
    that did not get it is read-only and says who holds it. Saving goes through the REST API
    (static panel/zones.js), so the API's validation and its lock check are the only ones."""
    camera = get_object_or_404(scope_to_sites(Camera.objects.all(), request.user, "site"), pk=pk)
    held, lock = locks.acquire(camera.pk, request.user)
    return render_page(request, "panel/zone_editor.html", "wall", {
        "camera": camera, "held": held, "lock": lock, "is_admin": role_of(request.user) == Role.ADMIN,
        "kinds": ZoneKindChoices.choices, "directions": LineDirectionChoices.choices,
        "severities": SeverityChoices.choices, "renew_seconds": locks.LOCK_SECONDS // 3,
    })


@role_required(Role.OPERATOR)
@require_POST
def zone_lock(request: HttpRequest, pk: int) -> JsonResponse:
    """The editor's lock: ``action`` renew (or take), take_over (admins), release; answers the lock."""
    camera = get_object_or_404(scope_to_sites(Camera.objects.all(), request.user, "site"), pk=pk)
    action = request.POST.get("action", "renew")
    if action == "release":
        locks.release(camera.pk, request.user)
        return JsonResponse({"held": False, "lock": None})
    held, lock = locks.acquire(camera.pk, request.user, take_over=action == "take_over")
    return JsonResponse({"held": held, "lock": lock.as_json()})
