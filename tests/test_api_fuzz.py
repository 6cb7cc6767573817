"""schemathesis, over HTTP against a live server: no 5xx anywhere in the API, and no response the schema does not describe.

Checks: no server error; every status code, content type, documented header and body conforms to
the schema (so drift between the schema and the responses fails CI: issue 11, finding 14).
The suite runs the examples and fuzzing phases (~570 cases, under a minute). The full run
(examples, coverage and fuzzing: ~4,000 cases, ~4.5 minutes) is
``PANOPTES_FUZZ_PHASES=examples,coverage,fuzzing python -m pytest tests/test_api_fuzz.py``;
``PANOPTES_FUZZ_EXAMPLES`` (10 a phase and operation) and ``PANOPTES_FUZZ_SEED`` (2026) explore
further; schemathesis's whole report is in the test's tmp_path (``schemathesis.txt``).
"""
from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

CHECKS = [
    "not_a_server_error", "status_code_conformance", "content_type_conformance", "response_headers_conformance",
    "response_schema_conformance",
]


def _objects(api: Any) -> dict[str, int]:
    """One object of every resource, by its URL name, so that operations on one object reach a real row."""
    from controlplane.alarms import media
    from controlplane.alarms.choices import AlarmEventType, ReplayStatus
    from controlplane.alarms.models import Alarm, AlarmDelivery, WebhookEndpoint
    from controlplane.cameras.models import Segment
    from controlplane.configs.models import ConfigRevision
    from controlplane.detectors.models import DetectorModel, model_dirs

    admin = api("admin")
    site = admin.post("/api/v1/sites/", {"name": "fuzz"}, format="json").json()
    camera = admin.post("/api/v1/cameras/", {"name": "fuzz", "stream_url": "rtsp://10.0.0.8/s", "site": site["id"]}, format="json").json()
    zone = admin.post("/api/v1/zones/", {"camera": camera["id"], "name": "z", "points": [[0, 0], [1, 0], [1, 1]]}, format="json").json()
    binding = admin.post("/api/v1/bindings/", {"zone": zone["id"], "algorithm": "intrusion"}, format="json").json()
    onnx = model_dirs()[0] / "fuzz.onnx"  # registered, never loaded: the API only checks that it exists
    onnx.parent.mkdir(parents=True, exist_ok=True)
    onnx.write_bytes(b"onnx")
    model = DetectorModel.objects.create(name="fuzz", onnx_path="fuzz.onnx", class_names=["person"], input_width=64, input_height=64)
    endpoint = WebhookEndpoint.objects.create(name="fuzz", url="https://203.0.113.5/hook", secret="s" * 20)
    # Two new alarms (nobody has acknowledged or closed them: those null fields drifted from the schema
    # once); the fuzzed one has a picture and a replay, the other stays new whatever the fuzzing does.
    alarm, _ = (
        Alarm.objects.create(
            camera_id=camera["id"], algorithm="intrusion", zone_name="z", dedup_key=uuid.uuid4().hex, severity="high",
            event_time=datetime(2026, 11, 23, 12, 0, 8, tzinfo=UTC), object_class="person", score=0.9, details={},
        )
        for _ in range(2)
    )
    for kind, relative in (("snapshot", media.snapshot_relpath(alarm.pk)), ("replay", media.replay_relpath(alarm.pk))):
        media.absolute(relative).parent.mkdir(parents=True, exist_ok=True)
        media.absolute(relative).write_bytes(b"not really a picture or a video")  # served as stored
        setattr(alarm, f"{kind}_path", relative)
    alarm.replay_status = ReplayStatus.READY
    alarm.save()
    delivery = AlarmDelivery.objects.create(
        alarm=alarm, endpoint=endpoint, target=f"webhook:{endpoint.pk}", event_type=AlarmEventType.CREATED
    )
    segment = Segment.objects.create(
        camera_id=camera["id"], seq=1, epoch=1, start_time=alarm.event_time, end_time=alarm.event_time, path="x.mp4", size_bytes=1
    )
    return {
        "sites": site["id"], "cameras": camera["id"], "zones": zone["id"], "bindings": binding["id"], "models": model.pk,
        "endpoints": endpoint.pk, "alarms": alarm.pk, "deliveries": delivery.pk, "segments": segment.pk,
        "revisions": ConfigRevision.objects.latest("version").pk, "users": api("viewer").user.pk,  # not oneself
    }


def _config(ids: dict[str, int]) -> str:
    """schemathesis.toml: operations on one object use the real one (DELETE keeps random ids: it would remove it)."""
    sections = []
    for name, pk in ids.items():
        lookup = "version" if name == "revisions" else "id"
        sections.append(
            f'[[operations]]\ninclude-path-regex = "^/api/v1/{name}/\\\\{{{lookup}\\\\}}/"\n'
            f'exclude-method = "DELETE"\nparameters = {{ "path.{lookup}" = {pk} }}\n'
        )
    return "\n".join(sections)


@pytest.mark.slow
def test_schemathesis_finds_no_server_error_and_no_drift_from_the_schema(
    api: Any, live_server: Any, settings: Any, tmp_path: Path
) -> None:
    (tmp_path / "schemathesis.toml").write_text(_config(_objects(api)))
    token = api("admin")._credentials["HTTP_AUTHORIZATION"]
    settings.ALLOWED_HOSTS = ["*"]

    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("schemathesis")), "--config-file", str(tmp_path / "schemathesis.toml"),
            "run", f"{live_server.url}/api/v1/schema/",
            "--checks", ",".join(CHECKS), "--max-examples", os.environ.get("PANOPTES_FUZZ_EXAMPLES", "10"),
            "--header", f"Authorization: {token}", "--seed", os.environ.get("PANOPTES_FUZZ_SEED", "2026"),
            "--workers", "1", "--request-timeout", "20",
            "--phases", os.environ.get("PANOPTES_FUZZ_PHASES", "examples,fuzzing"),
        ],
        capture_output=True, text=True, timeout=900, cwd=tmp_path,
    )
    (tmp_path / "schemathesis.txt").write_text(result.stdout + result.stderr)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:] + f"\n(whole report: {tmp_path})"
