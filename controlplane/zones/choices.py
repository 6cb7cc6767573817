from __future__ import annotations

from django.db import models

from analytics.config import LineDirection, ZoneKind


class ZoneKindChoices(models.TextChoices):
    POLYGON = ZoneKind.POLYGON.value, "Polygon"
    LINE = ZoneKind.LINE.value, "Line"
    MASK = ZoneKind.MASK.value, "Mask (ignored area)"


class LineDirectionChoices(models.TextChoices):
    ANY = LineDirection.ANY.value, "Any direction"
    LEFT_TO_RIGHT = LineDirection.LEFT_TO_RIGHT.value, "Left to right"
    RIGHT_TO_LEFT = LineDirection.RIGHT_TO_LEFT.value, "Right to left"
