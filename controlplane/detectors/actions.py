"""Registering detector models (used by the 0002 data migration and ``manage.py register_model``)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from controlplane.detectors.models import file_sha256

YOLOX_NANO = "yolox_nano_dynbatch.onnx"  # symbolic batch: what batching backends need


def read_class_names(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def register(model: Any, *, name: str, onnx_path: Path, width: int, height: int, class_names: list[str], default: bool) -> Any:
    """Create or update a model row (``model`` may be the historical model inside a migration)."""
    if default:
        model.objects.filter(is_default=True).exclude(name=name).update(is_default=False)
    row, _ = model.objects.update_or_create(
        name=name,
        defaults={"onnx_path": str(onnx_path), "sha256": file_sha256(onnx_path), "input_width": width,
                  "input_height": height, "class_names": class_names, "is_default": default},
    )
    return row


def register_assets_model(model: Any, assets: Path) -> Any | None:
    """YOLOX-Nano (COCO-80) from the shared assets, as the default model; None if the assets are absent."""
    onnx, classes = assets / "models" / YOLOX_NANO, assets / "models" / "coco_classes.txt"
    if not (onnx.is_file() and classes.is_file()):
        return None
    return register(model, name="yolox-nano", onnx_path=onnx.resolve(), width=416, height=416,
                    class_names=read_class_names(classes),
                    default=not model.objects.filter(is_default=True).exclude(name="yolox-nano").exists())
