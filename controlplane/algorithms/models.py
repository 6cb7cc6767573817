from __future__ import annotations

from typing import Any

import jsonschema
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import QuerySet
from pydantic import ValidationError as PydanticValidationError

from analytics.config import Schedule
from analytics.limits import MAX_BINDINGS_PER_CAMERA, MAX_CLASS_NAME_LENGTH, MAX_MODEL_CLASSES
from controlplane.alarms.choices import SeverityChoices
from controlplane.detectors.models import DetectorModel


def default_schedule() -> dict[str, Any]:
    return {"timezone": "UTC", "windows": []}


class Algorithm(models.Model):
    """An analysis rule from the catalog (analytics.catalog), with the schema of its params."""

    slug = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    params_schema = models.JSONField(help_text="JSON Schema of the binding params.")
    target_classes = models.JSONField(default=list, help_text="Default classes the rule looks at.")
    zone_kinds = models.JSONField(default=list, help_text="Zone kinds the rule can be bound to.")

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name

    def validate_params(self, params: Any) -> dict[str, Any]:
        """Params checked against the schema, with the schema's defaults filled in."""
        if not isinstance(params, dict):
            raise ValidationError("params must be a JSON object")
        validator = jsonschema.Draft202012Validator(self.params_schema)
        errors = sorted(validator.iter_errors(params), key=lambda e: list(e.path))
        if errors:
            messages = []
            for e in errors:
                where = ".".join(str(p) for p in e.path)
                if e.validator == "additionalProperties":
                    known = ", ".join(sorted(self.params_schema.get("properties", {}))) or "none"
                    messages.append(f"{e.message} for {self.slug} (known params: {known})")
                else:
                    messages.append(f"{where}: {e.message}" if where else e.message)
            raise ValidationError(messages)
        defaults = {k: v["default"] for k, v in self.params_schema.get("properties", {}).items() if "default" in v}
        return {**defaults, **params}


class AlgorithmBinding(models.Model):
    """An algorithm applied to one zone, with its params, schedule, cooldown and severity.

    ``params`` and ``target_classes`` are stored complete (defaults filled in on save), so what
    the API shows is exactly what the workers run.
    """

    zone = models.ForeignKey("zones.Zone", on_delete=models.CASCADE, related_name="bindings")
    algorithm = models.ForeignKey(Algorithm, on_delete=models.PROTECT, related_name="bindings")
    params = models.JSONField(default=dict, blank=True)
    target_classes = models.JSONField(default=list, blank=True, help_text="Empty means the algorithm's defaults.")
    min_score = models.FloatField(default=0.5, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)])
    schedule = models.JSONField(default=default_schedule, blank=True, help_text='{"timezone": "Europe/Berlin", "windows": [{"days": ["mon"], "start": "08:00", "end": "18:00"}]}; no windows means always.')
    cooldown_seconds = models.PositiveIntegerField(default=60)
    severity = models.CharField(max_length=10, choices=SeverityChoices.choices, default=SeverityChoices.MEDIUM)
    replay_pre_seconds = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(120)], help_text="Replay pre-roll; empty means the camera's."
    )
    replay_post_seconds = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(120)], help_text="Replay post-roll; empty means the camera's."
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["zone_id", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(min_score__gte=0, min_score__lte=1), name="binding_min_score_range"),
        ]

    def __str__(self) -> str:
        return f"{self.algorithm_id and self.algorithm.slug} on {self.zone_id and self.zone}"

    def normalise(self) -> None:
        """Validate params, target classes and schedule; fill in defaults. Raises ValidationError by field."""
        errors: dict[str, Any] = {}
        algorithm = self.algorithm if self.algorithm_id else None
        if algorithm is not None:
            try:
                self.params = algorithm.validate_params(self.params)
            except ValidationError as exc:
                errors["params"] = exc.messages
            if self.zone_id and self.zone.kind not in algorithm.zone_kinds:
                errors["zone"] = f"{algorithm.slug} needs a zone of kind {' or '.join(algorithm.zone_kinds)}, not {self.zone.kind}"
            if not self.target_classes:
                self.target_classes = list(algorithm.target_classes)
        if not isinstance(self.target_classes, list) or not all(
            isinstance(c, str) and 0 < len(c) <= MAX_CLASS_NAME_LENGTH for c in self.target_classes
        ):
            errors["target_classes"] = (
                f"target_classes must be a list of class names such as ['person'], each 1 to {MAX_CLASS_NAME_LENGTH} characters"
            )
        elif len(self.target_classes) > MAX_MODEL_CLASSES:
            errors["target_classes"] = f"at most {MAX_MODEL_CLASSES} target classes, got {len(self.target_classes)}"
        elif len(set(self.target_classes)) != len(self.target_classes):
            errors["target_classes"] = "target_classes must not repeat a class"
        try:
            self.schedule = Schedule.model_validate(self.schedule or default_schedule()).model_dump(mode="json")
        except PydanticValidationError as exc:
            errors["schedule"] = [_pydantic_message(e) for e in exc.errors()]
        if errors:
            raise ValidationError(errors)

    def clean(self) -> None:
        """``normalise``, then what depends on the binding's camera: room for one more binding, and
        target classes its detector model has (defaults are narrowed to those it has). Checked
        here, when someone writes, and not on every save: a rollback restores what was valid then."""
        defaulted = not self.target_classes
        self.normalise()
        if not self.zone_id:
            return
        camera_id = self.zone.camera_id
        if AlgorithmBinding.objects.filter(zone__camera_id=camera_id).exclude(pk=self.pk).count() >= MAX_BINDINGS_PER_CAMERA:
            raise ValidationError({"zone": f"a camera has at most {MAX_BINDINGS_PER_CAMERA} bindings; {self.zone.camera} has them all"})
        model = DetectorModel.run_by(camera_id)
        if model is None or not self.target_classes:  # no model registered yet; no algorithm (its own error)
            return
        known = [c for c in self.target_classes if c in model.class_names]
        if defaulted and known:
            self.target_classes = known
        elif defaulted:
            raise ValidationError({"target_classes": (
                f"none of {self.algorithm.slug}'s default classes ({', '.join(self.target_classes)}) is detected by"
                f" {model.describe_classes()}; name the target classes"
            )})
        elif len(known) < len(self.target_classes):
            unknown = [c for c in self.target_classes if c not in model.class_names]
            raise ValidationError({"target_classes": f"{', '.join(unknown)}: not detected by {model.describe_classes()}"})

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.normalise()
        super().save(*args, **kwargs)


def stranded_classes(bindings: QuerySet[AlgorithmBinding], class_names: list[str]) -> str:
    """The bindings that look for classes outside ``class_names``, with those classes, as a message;
    "" when there are none. Used when a camera's model, or a model's classes, are about to change."""
    known = set(class_names)
    stranded = []
    for binding in bindings.select_related("algorithm", "zone__camera").order_by("pk"):
        missing = [c for c in binding.target_classes if c not in known]
        if missing:
            stranded.append(f"{binding} looks for {', '.join(missing)}")
    if not stranded:
        return ""
    more = f" and {len(stranded) - 5} more" if len(stranded) > 5 else ""
    return f"bindings would look for classes the model does not detect: {'; '.join(stranded[:5])}{more}"


def _pydantic_message(error: Any) -> str:
    where = ".".join(str(p) for p in error["loc"])
    return f"{where}: {error['msg']}" if where else str(error["msg"])
