"""schemathesis, over HTTP against a live server, finds no 5xx anywhere in the API.

The suite runs the fuzzing phase (~500 cases, under a minute). The full run (examples, coverage
and fuzzing: ~5,600 cases, ~5 minutes) is
``PANOPTES_FUZZ_PHASES=examples,coverage,fuzzing python -m pytest tests/test_api_fuzz.py``.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest


@pytest.mark.slow
def test_schemathesis_finds_no_server_error(api: Any, live_server: Any, settings: Any, tmp_path: Path) -> None:
    admin = api("admin")
    camera = admin.post("/api/v1/cameras/", {"name": "fuzz", "stream_url": "rtsp://10.0.0.8/s"}, format="json").json()
    admin.post("/api/v1/zones/", {"camera": camera["id"], "name": "z", "points": [[0, 0], [1, 0], [1, 1]]}, format="json")
    token = admin._credentials["HTTP_AUTHORIZATION"]
    settings.ALLOWED_HOSTS = ["*"]

    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("schemathesis")), "run", f"{live_server.url}/api/v1/schema/",
            "--checks", "not_a_server_error", "--max-examples", os.environ.get("PANOPTES_FUZZ_EXAMPLES", "10"),
            "--header", f"Authorization: {token}", "--seed", "2026", "--workers", "1", "--request-timeout", "20",
            "--phases", os.environ.get("PANOPTES_FUZZ_PHASES", "examples,fuzzing"),
        ],
        capture_output=True, text=True, timeout=900, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
