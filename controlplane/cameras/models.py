from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models, transaction
from django.db.models import F, Q

from analytics.config import MASK, mask_url, split_credentials, unmask_url
from analytics.limits import MAX_RETENTION_HOURS, MAX_TAG_LENGTH, MAX_TAGS
from controlplane.core.fields import EncryptedTextField
from controlplane.core.validators import validate_credential, validate_stream_url


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
    if not isinstance(value, list) or not all(isinstance(t, str) and 0 < len(t) <= MAX_TAG_LENGTH for t in value):
        raise ValidationError(f"tags must be a list of strings of 1 to {MAX_TAG_LENGTH} characters")
    if len(value) > MAX_TAGS:
        raise ValidationError(f"at most {MAX_TAGS} tags, got {len(value)}")


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
    replay_pre_seconds = models.PositiveSmallIntegerField(
        default=15, validators=[MaxValueValidator(120)], help_text="Seconds of video before an alarm's event in its replay."
    )
    replay_post_seconds = models.PositiveSmallIntegerField(
        default=15, validators=[MaxValueValidator(120)], help_text="Seconds of video after an alarm's event in its replay."
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
        default=72, validators=[MinValueValidator(1), MaxValueValidator(MAX_RETENTION_HOURS)],
        help_text=f"How long recorded segments are kept (at most {MAX_RETENTION_HOURS} hours: ten years).",
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
            # Also in the database: one absurd value (10**9 hours) once stopped retention for every camera.
            models.CheckConstraint(
                condition=Q(retention_hours__lte=MAX_RETENTION_HOURS), name="camera_retention_at_most_ten_years"
            ),
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
        """The plain value of ``credentials`` for a user name and password ("" for none).

        Raises ValidationError naming ``username``/``password`` (the API's and the admin form's
        fields) for a control character: workers.capture puts them into the URL ffmpeg opens."""
        for field, value in (("username", username), ("password", password)):
            try:
                validate_credential(value)
            except ValidationError as exc:
                raise ValidationError({field: exc.messages}) from None
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

    def keep_masked_secrets(self) -> None:
        """A URL read masked (``?password=***``) and written back keeps the stored secret values.

        The API and the admin form show stream URLs masked to everyone, so what a client sends
        back after reading it must not replace the secrets with ``***``.
        """
        if self.pk is None or MASK not in self.stream_url:
            return
        stored = Camera.objects.filter(pk=self.pk).values_list("stream_url", flat=True).first()
        if stored:
            self.stream_url = unmask_url(self.stream_url, stored)

    def clean(self) -> None:
        self.keep_masked_secrets()
        self.move_credentials_out_of_url()
        if self.pk is not None:
            self._check_model_change()

    def _check_model_change(self) -> None:
        """Refuse a change of detector model that leaves bindings looking for classes it lacks."""
        from controlplane.algorithms.models import AlgorithmBinding, stranded_classes
        from controlplane.detectors.models import DetectorModel

        before = Camera.objects.filter(pk=self.pk).values_list("detector_model_id", flat=True).first()
        if before == self.detector_model_id:
            return
        model = DetectorModel.for_camera(self.detector_model_id)
        bindings = AlgorithmBinding.objects.filter(zone__camera_id=self.pk)
        if model is not None and (message := stranded_classes(bindings, model.class_names)):
            raise ValidationError({"detector_model": f"{model.name}: {message}"})

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.move_credentials_out_of_url()
        if self.pk is not None and not self._state.adding and kwargs.get("update_fields") is None:
            # Never write epoch from a stale in-memory copy: capture workers bump it concurrently.
            kwargs["update_fields"] = [f.name for f in self._meta.concrete_fields if not f.primary_key and f.name != "epoch"]
        super().save(*args, **kwargs)

    # --- ownership (used by workers.capture) --------------------------------------------------
    @staticmethod
    def bump_epoch(camera_id: int) -> int:
        """Take a fresh fencing token: an atomic ``epoch = epoch + 1`` in the database.

        Raises Camera.DoesNotExist if the camera is gone.
        """
        with transaction.atomic():
            if Camera.objects.filter(pk=camera_id).update(epoch=F("epoch") + 1) != 1:
                raise Camera.DoesNotExist(camera_id)
            return int(Camera.objects.values_list("epoch", flat=True).get(pk=camera_id))


class DetectState(models.TextChoices):
    PENDING = "pending", "Pending"
    DONE = "done", "Detected"
    BAD = "bad", "Bad (corrupt or undecodable)"


class StaleEpochError(Exception):
    """A capture worker tried to record a segment after losing the camera to a newer owner."""


class Segment(models.Model):
    """A complete recorded piece of a camera's stream (a stream copy, cut on keyframes).

    Rows exist only for complete files, written by the camera's current owner: ``record`` refuses
    an epoch older than the camera's (DESIGN §4). ``seq`` counts a camera's segments from 1 with
    no holes and no repeats, across owners, because it is assigned under the camera's row lock.
    """

    camera = models.ForeignKey(Camera, on_delete=models.CASCADE, related_name="segments")
    seq = models.PositiveBigIntegerField()
    epoch = models.PositiveBigIntegerField()
    start_time = models.DateTimeField()
    end_time = models.DateTimeField()
    path = models.CharField(max_length=500, help_text="Relative to STORAGE_ROOT.")
    size_bytes = models.PositiveBigIntegerField()
    discontinuity = models.BooleanField(default=False, help_text="First segment after a (re)connect: a gap may precede it.")
    announced_at = models.DateTimeField(null=True, blank=True, help_text="When the gpu queue was told about it.")
    detect_state = models.CharField(max_length=10, choices=DetectState.choices, default=DetectState.PENDING)
    detect_attempts = models.PositiveSmallIntegerField(default=0, help_text="Deliveries of its detect task (capped).")
    detect_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["camera_id", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["camera", "seq"], name="segment_seq_unique_per_camera"),
            models.CheckConstraint(condition=Q(end_time__gte=F("start_time")), name="segment_ends_after_start"),
        ]
        indexes = [models.Index(fields=["camera", "start_time"]), models.Index(fields=["end_time"])]

    def __str__(self) -> str:
        return f"{self.camera_id}#{self.seq}"

    @property
    def duration(self) -> float:
        return (self.end_time - self.start_time).total_seconds()

    @classmethod
    def record(cls, *, camera_id: int, epoch: int, **fields: Any) -> Segment:
        """Store a finished segment for the owner holding ``epoch``; StaleEpochError if it lost the camera.

        The camera row is locked, so an owner change (``Camera.bump_epoch``) and this check cannot
        interleave, and ``seq`` is the next number for the camera.
        """
        with transaction.atomic():
            current = Camera.objects.select_for_update().filter(pk=camera_id).values_list("epoch", flat=True).first()
            if current is None or current != epoch:
                raise StaleEpochError(f"camera {camera_id}: epoch {epoch} is stale (current {current})")
            last = cls.objects.filter(camera_id=camera_id).order_by("-seq").values_list("seq", flat=True).first()
            return cls.objects.create(camera_id=camera_id, epoch=epoch, seq=(last or 0) + 1, **fields)


class StorageLeftover(models.Model):
    """A path under STORAGE_ROOT whose owner was deleted: a camera's segment and spool folders and
    live picture, an alarm's snapshot and replay. Their rows go with a delete (cascade), their files
    do not: the supervisor's retention removes what is listed here once it is a few minutes old
    (workers.supervisor.sweep_deleted), so a capture loop still stopping never races it. Only what
    this database deleted is listed, so a host pointed at the wrong database deletes nothing."""

    path = models.CharField(max_length=500)
    deleted_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return self.path
