from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models, transaction


def model_dirs() -> list[Path]:
    """Where ONNX files may be registered from: STORAGE_ROOT/models and the shared assets' models."""
    return [settings.STORAGE_ROOT / "models", settings.PANOPTES_ASSETS / "models"]


def resolve_model_path(path: str) -> Path:
    candidate = Path(path)
    if not candidate.is_absolute():
        candidate = settings.STORAGE_ROOT / "models" / candidate
    resolved = candidate.resolve()
    if not any(resolved.is_relative_to(d.resolve()) for d in model_dirs()):
        raise ValidationError(f"model files must live under {' or '.join(str(d) for d in model_dirs())}")
    if resolved.suffix != ".onnx" or not resolved.is_file():
        raise ValidationError(f"{resolved} is not an existing .onnx file")
    return resolved


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class DetectorModel(models.Model):
    """An ONNX detector and its I/O contract (input size, class names in output order).

    Exactly one model is the default (used by cameras that name none); making a model the default
    clears the flag on the others in the same transaction.
    """

    name = models.CharField(max_length=100, unique=True)
    onnx_path = models.CharField(max_length=500, help_text="Absolute, or relative to STORAGE_ROOT/models.")
    sha256 = models.CharField(
        max_length=64, blank=True, validators=[RegexValidator(r"^[0-9a-f]{64}$", "a lowercase hex SHA-256")],
        help_text="Computed from the file when left empty; checked against it otherwise.",
    )
    input_width = models.PositiveIntegerField(validators=[MinValueValidator(32)])
    input_height = models.PositiveIntegerField(validators=[MinValueValidator(32)])
    class_names = models.JSONField(help_text="Class names in the model's output order.")
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors: dict[str, Any] = {}
        try:
            path = resolve_model_path(self.onnx_path)
        except ValidationError as exc:
            errors["onnx_path"] = exc.messages
        else:
            actual = file_sha256(path)
            if not self.sha256:
                self.sha256 = actual
            elif self.sha256 != actual:
                errors["sha256"] = f"does not match the file (its SHA-256 is {actual})"
        if not isinstance(self.class_names, list) or not self.class_names or not all(
            isinstance(c, str) and c for c in self.class_names
        ):
            errors["class_names"] = "class_names must be a non-empty list of names"
        if errors:
            raise ValidationError(errors)

    def save(self, *args: Any, **kwargs: Any) -> None:
        # A partial unique index would say "one default" in the database, but MySQL has none.
        if not self.sha256:  # code paths that skip clean() still store a checked hash
            self.sha256 = file_sha256(resolve_model_path(self.onnx_path))
        with transaction.atomic():
            if self.is_default:
                DetectorModel.objects.select_for_update().filter(is_default=True).exclude(pk=self.pk).update(is_default=False)
            super().save(*args, **kwargs)
