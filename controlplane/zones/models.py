from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models

from analytics.config import LineDirection, ZoneKind, validate_zone_points
from analytics.limits import MAX_ZONES_PER_CAMERA
from controlplane.zones.choices import LineDirectionChoices, ZoneKindChoices


class Zone(models.Model):
    """An area, line or mask drawn on a camera's picture, in normalised [0,1] coordinates.

    (0, 0) is the top-left corner of the image and (1, 1) the bottom-right, so zones survive a
    change of stream resolution.
    """

    camera = models.ForeignKey("cameras.Camera", on_delete=models.CASCADE, related_name="zones")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=ZoneKindChoices.choices, default=ZoneKindChoices.POLYGON)
    points = models.JSONField(help_text="[[x, y], ...] with 0 <= x, y <= 1; a line has exactly two points.")
    direction = models.CharField(
        max_length=20, choices=LineDirectionChoices.choices, default=LineDirectionChoices.ANY,
        help_text="Lines only: which crossings count, seen from the first point towards the second.",
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["camera_id", "name"]
        constraints = [
            models.UniqueConstraint(fields=["camera", "name"], name="zone_name_unique_per_camera"),
            models.CheckConstraint(
                condition=models.Q(kind=ZoneKindChoices.LINE) | models.Q(direction=LineDirectionChoices.ANY),
                name="zone_direction_only_for_lines",
                violation_error_message="only a line zone has a direction",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.camera} / {self.name}"

    def clean(self) -> None:
        try:
            self.points = [list(p) for p in validate_zone_points(ZoneKind(self.kind), self.points)]
        except ValueError as exc:
            raise ValidationError({"points": str(exc)}) from None
        if self.kind != ZoneKind.LINE and self.direction != LineDirection.ANY:
            raise ValidationError({"direction": "only a line zone has a direction"})
        # Counted without this zone, so a full camera's zones stay editable and a move is counted.
        if self.camera_id and Zone.objects.filter(camera_id=self.camera_id).exclude(pk=self.pk).count() >= MAX_ZONES_PER_CAMERA:
            raise ValidationError({"camera": f"a camera has at most {MAX_ZONES_PER_CAMERA} zones; {self.camera} has them all"})
