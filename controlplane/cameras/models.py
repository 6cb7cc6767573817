from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models, transaction
from django.db.models import F, Q

from analytics.config import mask_url, split_credentials
from controlplane.core.fields import EncryptedTextField
from controlplane.core.validators import validate_stream_url


class Site(models.Model):
    """A place cameras belong to; users who are members of sites see only those sites."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="panoptes_sites")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


def _validate_tags(value: Any) -> None:
    if not isinstance(value, list) or not all(isinstance(t, str) and 0 < len(t) <= 50 for t in value):
        raise ValidationError("tags must be a list of strings of 1 to 50 characters")


class Camera(models.Model):
    """A video source recorded in segments and analysed by the zones and bindings under it.

    ``stream_url`` never stores credentials: a URL given with ``user:pass@`` has them moved into
    the encrypted ``credentials`` field on save. ``epoch`` is the fencing token that capture
    workers increment when they take the camera over (DESIGN §4); it is not configuration.
    """

    name = models.CharField(max_length=100, unique=True)
    stream_url = models.CharField(max_length=1024, validators=[validate_stream_url])
    credentials = EncryptedTextField(blank=True, default="", editable=False)
    enabled = models.BooleanField(default=True)
    segment_seconds = models.PositiveSmallIntegerField(
        default=5, validators=[MinValueValidator(1), MaxValueValidator(60)], help_text="Length of recorded segments."
    )
    detect_fps = models.FloatField(
        default=5.0,
        validators=[MinValueValidator(0.1), MaxValueValidator(60)],
        help_text="Frames per second sampled for detection.",
    )
    detect_width = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(64), MaxValueValidator(7680)],
        help_text="Decode width for detection; empty means the stream's own.",
    )
    detect_height = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(64), MaxValueValidator(4320)],
        help_text="Decode height for detection; empty means the stream's own.",
    )
    retention_hours = models.PositiveIntegerField(
        default=72, validators=[MinValueValidator(1)], help_text="How long recorded segments are kept."
    )
    site = models.ForeignKey(Site, null=True, blank=True, on_delete=models.PROTECT, related_name="cameras")
    location = models.CharField(max_length=200, blank=True)
    tags = models.JSONField(default=list, blank=True, validators=[_validate_tags])
    detector_model = models.ForeignKey(
        "detectors.DetectorModel", null=True, blank=True, on_delete=models.SET_NULL, related_name="cameras",
        help_text="Empty means the default model.",
    )
    epoch = models.PositiveBigIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(segment_seconds__gte=1, segment_seconds__lte=60), name="camera_segment_seconds_range"),
            models.CheckConstraint(condition=Q(detect_fps__gt=0, detect_fps__lte=60), name="camera_detect_fps_range"),
            models.CheckConstraint(condition=Q(retention_hours__gte=1), name="camera_retention_positive"),
            models.CheckConstraint(
                condition=Q(detect_width__isnull=True, detect_height__isnull=True)
                | Q(detect_width__isnull=False, detect_height__isnull=False),
                name="camera_detect_size_both_or_neither",
                violation_error_message="give both detect width and height, or neither",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    # --- credentials --------------------------------------------------------------------------
    @staticmethod
    def credentials_for(username: str, password: str) -> str:
        """The plain value of ``credentials`` for a user name and password ("" for none)."""
        return json.dumps({"username": username, "password": password}) if (username or password) else ""

    def set_credentials(self, username: str, password: str) -> None:
        self.credentials = self.credentials_for(username, password)

    def get_credentials(self) -> tuple[str, str] | None:
        if not self.credentials:
            return None
        data = json.loads(self.credentials)
        return data["username"], data["password"]

    @property
    def has_credentials(self) -> bool:
        return bool(self.credentials)

    def move_credentials_out_of_url(self) -> None:
        """``rtsp://u:p@host/x`` becomes ``rtsp://host/x`` with (u, p) kept encrypted."""
        split = split_credentials(self.stream_url)
        if split is not None:
            self.stream_url, username, password = split
            self.set_credentials(username, password)

    @property
    def masked_url(self) -> str:
        """The stream URL as shown to people and logs: credentials appear as ``***``."""
        if not self.has_credentials:
            return mask_url(self.stream_url)
        parts = urlsplit(self.stream_url)
        return mask_url(urlunsplit((parts.scheme, "u:p@" + parts.netloc, parts.path, parts.query, parts.fragment)))

    def clean(self) -> None:
        self.move_credentials_out_of_url()

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.move_credentials_out_of_url()
        super().save(*args, **kwargs)

    # --- ownership (used by workers.capture) --------------------------------------------------
    def bump_epoch(self) -> int:
        """Take a fresh fencing token: an atomic ``epoch = epoch + 1`` in the database."""
        with transaction.atomic():
            Camera.objects.filter(pk=self.pk).update(epoch=F("epoch") + 1)
            self.epoch = Camera.objects.values_list("epoch", flat=True).get(pk=self.pk)
        return self.epoch
