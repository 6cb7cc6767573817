"""``manage.py build_engine``: the TensorRT engine of a registered model, built ahead of time.

TensorRT and a GPU cannot exist on this machine: the command runs against the same fake
``tensorrt``/``cuda`` modules as tests/test_detector_tensorrt.py (a mock allowed only for what
cannot exist here). What this checks is the command's own part: model lookup, the spec it builds,
the progress display, the cache, and a clear error where TensorRT is missing.
"""
from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from test_detector_tensorrt import ASSETS, install_fakes


@pytest.fixture
def registered(db: Any) -> Any:
    from controlplane.detectors.actions import register_assets_model
    from controlplane.detectors.models import DetectorModel

    return register_assets_model(DetectorModel, ASSETS)


def test_it_builds_the_engine_once_with_progress_and_reuses_it(registered: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fakes = install_fakes(monkeypatch, tmp_path / "engines")
    out = io.StringIO()
    call_command("build_engine", "yolox-nano", stdout=out)
    engines = fakes.engines()
    assert len(engines) == 1 and str(engines[0]) in out.getvalue()
    assert "fp16" in engines[0].name
    builds = fakes.names().count("build_serialized_network")
    call_command("build_engine", "yolox-nano", stdout=io.StringIO())
    assert fakes.names().count("build_serialized_network") == builds  # cached: not built again


def test_an_unknown_model_or_a_host_without_tensorrt_gets_a_clear_error(registered: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(CommandError, match="no detector model named 'nope'"):
        call_command("build_engine", "nope")
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # what an import of a missing package does
    monkeypatch.delitem(sys.modules, "analytics.detectors.tensorrt", raising=False)
    with pytest.raises(CommandError, match="TensorRT is not installed"):
        call_command("build_engine", "yolox-nano")
