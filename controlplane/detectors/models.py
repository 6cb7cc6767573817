from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models, transaction

from analytics.limits import MAX_CLASS_NAME_LENGTH, MAX_MODEL_CLASSES


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
            isinstance(c, str) and 0 < len(c) <= MAX_CLASS_NAME_LENGTH for c in self.class_names
        ):
            errors["class_names"] = f"class_names must be a non-empty list of names of 1 to {MAX_CLASS_NAME_LENGTH} characters"
        elif len(self.class_names) > MAX_MODEL_CLASSES:
            errors["class_names"] = f"a model has at most {MAX_MODEL_CLASSES} classes, got {len(self.class_names)}"
        else:
            errors.update(self._stranded_bindings())
        if errors:
            raise ValidationError(errors)

    def _stranded_bindings(self) -> dict[str, str]:
        """Refuse new classes, or becoming the default, when bindings of the cameras that would run
        this model look for classes it does not have (their alarms would silently stop)."""
        from controlplane.algorithms.models import AlgorithmBinding, stranded_classes

        was_default = self.pk is not None and DetectorModel.objects.filter(pk=self.pk, is_default=True).exists()
        runs_it = models.Q(zone__camera__detector_model_id=self.pk) if self.pk is not None else models.Q(pk__in=[])
        if was_default:
            runs_it |= models.Q(zone__camera__detector_model=None)
        errors: dict[str, str] = {}
        if message := stranded_classes(AlgorithmBinding.objects.filter(runs_it), self.class_names):
            errors["class_names"] = message
        if self.is_default and not was_default:
            bindings = AlgorithmBinding.objects.filter(zone__camera__detector_model=None)
            if message := stranded_classes(bindings, self.class_names):
                errors["is_default"] = f"cameras without a model of their own would run this one: {message}"
        return errors

    @classmethod
    def for_camera(cls, detector_model_id: int | None) -> DetectorModel | None:
        """The model a camera with this ``detector_model`` runs: that one, else the default; None
        when none is registered."""
        if detector_model_id is not None:
            return cls.objects.filter(pk=detector_model_id).first()
        return cls.objects.filter(is_default=True).first()

    @classmethod
    def run_by(cls, camera_id: int) -> DetectorModel | None:
        """The model the saved camera ``camera_id`` runs, in one query: its own sorts before the
        default (used by every binding's clean)."""
        own_or_default = models.Q(cameras__pk=camera_id) | models.Q(is_default=True)
        return cls.objects.filter(own_or_default).order_by("is_default").first()

    def describe_classes(self) -> str:
        """``<name> (classes: a, b, ...)``, for messages that must name what the model knows."""
        return f"{self.name} (classes: {', '.join(self.class_names)})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # A partial unique index would say "one default" in the database, but MySQL has none.
        if not self.sha256:  # code paths that skip clean() still store a checked hash
            self.sha256 = file_sha256(resolve_model_path(self.onnx_path))
        with transaction.atomic():
            if self.is_default:
                DetectorModel.objects.select_for_update().filter(is_default=True).exclude(pk=self.pk).update(is_default=False)
            super().save(*args, **kwargs)
