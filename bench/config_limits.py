"""Cost of the configuration limits' checks (issue 11, findings 4, 6, 12): with them vs without.

A typical camera configuration is written as an operator writes it, in this process, through
the real API stack (DRF test client: token authentication, roles, the JSON parser, the
serializers' full_clean, the transaction, the revision and the Redis publish after commit):
a camera, 4 zones of 4, 8, 12 and 20 points, 2 bindings a zone (intrusion and loitering,
target class person, a schedule of two windows), then each zone's points edited once: 13
writes a round. The camera is deleted between rounds (not timed), so every round starts alike.

"without" switches off, in the same process, what the limits added to a write:
- the JSON depth scan of every body (``controlplane.core.parsers.json_too_deep``);
- the queries in ``clean``: zones a camera has (Zone), bindings a camera has and the model's
  classes (AlgorithmBinding), and the camera's model change (Camera), by restoring the clean()
  methods of before (commit 6273dfb);
left on, because they cannot be taken out without editing the code and cost a ``len()`` each:
the points count in validate_zone_points, the list lengths in normalise and the pydantic config.

Two measures, each round by round, alternating which goes first:
1. ``api``: wall and CPU time of the 13 writes (what an operator waits for);
2. ``validate``: the same 13 bodies parsed and validated by the serializers (``is_valid``),
   without saving or publishing: the checks' share of the part they live in.

    .venv/bin/python bench/config_limits.py                          # 15 rounds, SQLite
    .venv/bin/python bench/config_limits.py --database mariadb       # MariaDB, as in production
    .venv/bin/python bench/config_limits.py --rounds 3               # smoke run
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from capture_harness import Sandbox  # noqa: E402

POINTS = (4, 8, 12, 20)
SCHEDULE = {"timezone": "Europe/Berlin", "windows": [
    {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "07:00", "end": "19:00"},
    {"days": ["sat", "sun"], "start": "22:00", "end": "06:00"},
]}


def ring(n: int, radius: float = 0.3) -> list[list[float]]:
    return [[round(0.5 + radius * math.cos(2 * math.pi * i / n), 4), round(0.5 + radius * math.sin(2 * math.pi * i / n), 4)]
            for i in range(n)]


def zone_body(camera_id: int, i: int, n: int) -> dict[str, Any]:
    return {"camera": camera_id, "name": f"zone {i}", "kind": "polygon", "points": ring(n)}


def binding_body(zone_id: int, algorithm: str) -> dict[str, Any]:
    return {"zone": zone_id, "algorithm": algorithm, "target_classes": ["person"], "schedule": SCHEDULE,
            "severity": "high", "cooldown_seconds": 30}


# --- the checks, switched off -------------------------------------------------------------------
def old_zone_clean(self: Any) -> None:  # controlplane/zones/models.py at 6273dfb
    from django.core.exceptions import ValidationError

    from analytics.config import LineDirection, ZoneKind, validate_zone_points

    try:
        self.points = [list(p) for p in validate_zone_points(ZoneKind(self.kind), self.points)]
    except ValueError as exc:
        raise ValidationError({"points": str(exc)}) from None
    if self.kind != ZoneKind.LINE and self.direction != LineDirection.ANY:
        raise ValidationError({"direction": "only a line zone has a direction"})


def old_binding_clean(self: Any) -> None:  # controlplane/algorithms/models.py at 6273dfb
    self.normalise()


def old_camera_clean(self: Any) -> None:  # controlplane/cameras/models.py at 6273dfb
    self.keep_masked_secrets()
    self.move_credentials_out_of_url()


@contextmanager
def checks(on: bool) -> Iterator[None]:
    from controlplane.algorithms.models import AlgorithmBinding
    from controlplane.cameras.models import Camera
    from controlplane.core import parsers
    from controlplane.zones.models import Zone

    if on:
        yield
        return
    saved = (parsers.json_too_deep, Zone.clean, AlgorithmBinding.clean, Camera.clean)
    parsers.json_too_deep = lambda text, limit=0: False  # type: ignore[assignment]
    Zone.clean, AlgorithmBinding.clean, Camera.clean = old_zone_clean, old_binding_clean, old_camera_clean  # type: ignore[method-assign]
    try:
        yield
    finally:
        parsers.json_too_deep, Zone.clean, AlgorithmBinding.clean, Camera.clean = saved  # type: ignore[method-assign]


# --- the two measures ---------------------------------------------------------------------------
def api_round(admin: Any, operator: Any, name: str) -> tuple[float, float, int]:
    """The 13 writes; (wall s, CPU s, camera id)."""
    wall, cpu = time.perf_counter(), time.process_time()

    def ok(response: Any) -> dict[str, Any]:
        assert response.status_code in (200, 201), response.content[:300]
        return response.json()  # type: ignore[no-any-return]

    camera = ok(admin.post("/api/v1/cameras/", {"name": name, "stream_url": "rtsp://10.0.0.9/s", "tags": ["bench"]}))
    zones = [ok(operator.post("/api/v1/zones/", zone_body(camera["id"], i, n))) for i, n in enumerate(POINTS)]
    for zone in zones:
        for algorithm in ("intrusion", "loitering"):
            ok(operator.post("/api/v1/bindings/", binding_body(zone["id"], algorithm)))
    for zone, n in zip(zones, POINTS, strict=True):
        ok(operator.patch(f"/api/v1/zones/{zone['id']}/", {"points": ring(n, 0.35)}))
    return time.perf_counter() - wall, time.process_time() - cpu, camera["id"]


def validate_round(camera_id: int, zone_ids: list[int], user: Any) -> tuple[float, float]:
    """The same bodies through the parser and the serializers' is_valid; (wall s, CPU s)."""
    from io import BytesIO

    from controlplane.algorithms.api.serializers import BindingSerializer
    from controlplane.cameras.api.serializers import CameraSerializer
    from controlplane.core.parsers import DepthLimitedJSONParser
    from controlplane.zones.api.serializers import ZoneSerializer
    from controlplane.zones.models import Zone

    parser, context = DepthLimitedJSONParser(), {"request": SimpleNamespace(user=user)}

    def valid(serializer_class: Any, body: dict[str, Any], instance: Any = None) -> None:
        data = parser.parse(BytesIO(json.dumps(body).encode()), "application/json", {})
        serializer = serializer_class(instance, data=data, context=context, partial=instance is not None)
        assert serializer.is_valid(), serializer.errors

    wall, cpu = time.perf_counter(), time.process_time()
    valid(CameraSerializer, {"name": "validated", "stream_url": "rtsp://10.0.0.9/s", "tags": ["bench"]})
    for i, n in enumerate(POINTS):
        valid(ZoneSerializer, zone_body(camera_id, i + 10, n))
    for zone_id in zone_ids:
        for algorithm in ("intrusion", "loitering"):
            valid(BindingSerializer, binding_body(zone_id, algorithm))
    for zone_id, n in zip(zone_ids, POINTS, strict=True):
        valid(ZoneSerializer, {"points": ring(n, 0.35)}, Zone.objects.get(pk=zone_id))
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--database", choices=["sqlite", "mariadb"], default="sqlite")
    args = parser.parse_args()

    with Sandbox(database=args.database, name="config-limits"):
        from django.conf import settings
        from django.contrib.auth.models import Group, User
        from rest_framework.authtoken.models import Token
        from rest_framework.test import APIClient

        from controlplane.algorithms.catalog import sync_catalog
        from controlplane.algorithms.models import Algorithm
        from controlplane.cameras.models import Camera
        from controlplane.core.roles import sync_role_groups
        from controlplane.detectors.models import DetectorModel

        settings.ALLOWED_HOSTS = ["testserver"]
        logging.getLogger("controlplane").setLevel(logging.WARNING)  # not a line per published version
        sync_catalog(Algorithm)
        sync_role_groups()
        model = DetectorModel.objects.filter(is_default=True).first()
        print(f"default model: {model.name if model else 'none'} ({len(model.class_names) if model else 0} classes); "
              f"database: {args.database}")

        def client(role: str) -> tuple[APIClient, Any]:
            user = User.objects.create_user(username=f"bench-{role}", password="Bench-pw-12345")
            user.groups.add(Group.objects.get(name=role))
            api = APIClient()
            api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
            return api, user

        (admin, admin_user), (operator, _) = client("admin"), client("operator")
        with checks(True):  # a camera with zones for the validate measure, and a warm-up round
            _, _, fixed = api_round(admin, operator, "fixed")
        zone_ids = list(Camera.objects.get(pk=fixed).zones.order_by("id").values_list("id", flat=True))

        results: dict[str, dict[bool, list[tuple[float, float]]]] = {"api": {True: [], False: []},
                                                                      "validate": {True: [], False: []}}
        measures: dict[str, Callable[[int], tuple[float, float]]] = {}

        def api_measure(r: int) -> tuple[float, float]:
            wall, cpu, camera_id = api_round(admin, operator, f"cam-{r}")
            Camera.objects.filter(pk=camera_id).delete()
            return wall, cpu

        measures["api"] = api_measure
        measures["validate"] = lambda r: validate_round(fixed, zone_ids, admin_user)
        for r in range(args.rounds):
            for name, measure in measures.items():
                for on in ((True, False) if r % 2 == 0 else (False, True)):
                    with checks(on):
                        results[name][on].append(measure(r))

        print(f"{args.rounds} rounds, 13 writes a round (median per round; ratio = with / without checks)")
        for name, by in results.items():
            line = [f"{name:>8}:"]
            for i, what in enumerate(("wall", "CPU")):
                with_ = statistics.median(x[i] for x in by[True])
                without = statistics.median(x[i] for x in by[False])
                line.append(f"{what} {with_ * 1e3:7.2f} ms with, {without * 1e3:7.2f} ms without, ratio {with_ / without:.3f};")
            print(" ".join(line))


if __name__ == "__main__":
    main()
