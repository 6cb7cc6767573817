"""The compiled pipeline configuration that the control plane publishes to Redis.

The control plane (controlplane.configs) builds a ``ConfigSnapshot`` from MySQL, validates it
here and publishes it; workers parse it back with the same models, so a snapshot that does not
validate is refused on both sides. The geometry and schedule validators are also what the
control plane's model ``clean()`` methods call, so the API and the workers agree on what is valid.
"""
from __future__ import annotations

import re
from datetime import datetime, time
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import unquote, urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator
from shapely.geometry import LinearRing, Polygon
from shapely.validation import explain_validity

from analytics.limits import (
    MAX_BINDINGS_PER_CAMERA,
    MAX_CLASS_NAME_LENGTH,
    MAX_MODEL_CLASSES,
    MAX_RETENTION_HOURS,
    MAX_SCHEDULE_WINDOWS,
    MAX_TAG_LENGTH,
    MAX_TAGS,
    MAX_TIMEZONE_LENGTH,
    MAX_ZONE_POINTS,
    MAX_ZONES_PER_CAMERA,
)

Point = tuple[float, float]


class ZoneKind(StrEnum):
    POLYGON = "polygon"  # an area: intrusion, loitering, crowding, absence, stationary vehicle
    LINE = "line"  # two points: line crossing
    MASK = "mask"  # an area whose detections are ignored


class LineDirection(StrEnum):
    """Direction of a counted crossing, seen from the line's first point looking at its second."""

    ANY = "any"
    LEFT_TO_RIGHT = "left_to_right"
    RIGHT_TO_LEFT = "right_to_left"


class Weekday(StrEnum):
    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"

    @property
    def number(self) -> int:
        """Monday is 0, as in ``datetime.weekday()``."""
        return list(Weekday).index(self)


class Severity(StrEnum):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)


def validate_zone_points(kind: ZoneKind | str, points: Any) -> list[Point]:
    """Check a zone's points (normalised [0,1] image coordinates) and return them as tuples.

    Raises ValueError with a message an operator can act on.
    """
    kind = ZoneKind(kind)
    if not isinstance(points, (list, tuple)):
        raise ValueError("points must be a list of [x, y] pairs")
    if len(points) > MAX_ZONE_POINTS:  # before anything is parsed: a huge list costs nothing to refuse
        raise ValueError(f"a zone has at most {MAX_ZONE_POINTS} points, got {len(points)}")
    parsed: list[Point] = []
    for i, p in enumerate(points):
        if (
            not isinstance(p, (list, tuple))
            or len(p) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in p)
        ):
            raise ValueError(f"point {i} must be a pair of numbers [x, y]")
        x, y = float(p[0]), float(p[1])
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            raise ValueError(f"point {i} ({x}, {y}) is outside the image: coordinates are normalised to [0, 1]")
        parsed.append((x, y))
    if kind is ZoneKind.LINE:
        if len(parsed) != 2:
            raise ValueError(f"a line has exactly 2 points, got {len(parsed)}")
        if parsed[0] == parsed[1]:
            raise ValueError("a line's two points must be distinct")
        return parsed
    if len(parsed) < 3:
        raise ValueError(f"a polygon needs at least 3 points, got {len(parsed)}")
    if len(set(parsed)) != len(parsed):
        raise ValueError("a polygon must not repeat a point")
    if not LinearRing(parsed).is_simple:
        raise ValueError("the polygon's edges cross each other (self-intersecting)")
    polygon = Polygon(parsed)
    if not polygon.is_valid or polygon.area <= 0:
        raise ValueError(f"the polygon is not valid: {explain_validity(polygon)}")
    return parsed


class Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScheduleWindow(Frozen):
    """Active on ``days`` from ``start`` to ``end`` local time; ``end <= start`` runs past midnight."""

    days: list[Weekday] = Field(min_length=1)
    start: time
    end: time

    @field_validator("days")
    @classmethod
    def _unique_days(cls, days: list[Weekday]) -> list[Weekday]:
        if len(set(days)) != len(days):
            raise ValueError("days must not repeat")
        return days

    @model_validator(mode="after")
    def _not_empty(self) -> ScheduleWindow:
        if self.start == self.end:
            raise ValueError("start and end must differ")
        return self

    def covers(self, local: datetime) -> bool:
        t, day = local.time().replace(tzinfo=None), local.weekday()
        days = {d.number for d in self.days}
        if self.start < self.end:
            return day in days and self.start <= t < self.end
        # Overnight: the window belongs to the day it starts on.
        return (day in days and t >= self.start) or (((day - 1) % 7) in days and t < self.end)


def _check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file name
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as 'Europe/Berlin')") from None
    return name


class Schedule(Frozen):
    """Weekly windows in a time zone; no windows means always active."""

    timezone: Annotated[str, StringConstraints(max_length=MAX_TIMEZONE_LENGTH), AfterValidator(_check_timezone)] = "UTC"
    windows: list[ScheduleWindow] = Field(default_factory=list, max_length=MAX_SCHEDULE_WINDOWS)

    def is_active(self, when: datetime) -> bool:
        if not self.windows:
            return True
        if when.tzinfo is None:
            raise ValueError("is_active needs an aware datetime")
        local = when.astimezone(ZoneInfo(self.timezone))
        return any(w.covers(local) for w in self.windows)


class ZoneConfig(Frozen):
    id: int
    name: str
    kind: ZoneKind
    points: list[Point]
    direction: LineDirection = LineDirection.ANY
    enabled: bool = True

    @model_validator(mode="after")
    def _geometry(self) -> ZoneConfig:
        validate_zone_points(self.kind, self.points)
        return self


ClassName = Annotated[str, StringConstraints(min_length=1, max_length=MAX_CLASS_NAME_LENGTH)]


class BindingConfig(Frozen):
    id: int
    zone_id: int
    algorithm: str
    params: dict[str, Any]
    target_classes: list[ClassName] = Field(min_length=1, max_length=MAX_MODEL_CLASSES)
    min_score: float = Field(ge=0.0, le=1.0)
    schedule: Schedule = Schedule()
    cooldown_seconds: int = Field(ge=0)
    severity: Severity
    enabled: bool = True


class CameraConfig(Frozen):
    id: int
    name: str
    stream_url: str  # never holds credentials; see ``credentials``
    credentials: str | None = None  # Fernet token of {"username","password"}; workers decrypt it
    enabled: bool
    segment_seconds: int = Field(ge=1, le=60)
    detect_fps: float = Field(gt=0, le=60)
    detect_width: int | None = None
    detect_height: int | None = None
    retention_hours: int = Field(ge=1, le=MAX_RETENTION_HOURS)
    site: str | None = None
    location: str = ""
    tags: list[Annotated[str, StringConstraints(min_length=1, max_length=MAX_TAG_LENGTH)]] = Field(
        default_factory=list, max_length=MAX_TAGS
    )
    detector_model_id: int | None = None
    zones: list[ZoneConfig] = Field(default_factory=list, max_length=MAX_ZONES_PER_CAMERA)
    bindings: list[BindingConfig] = Field(default_factory=list, max_length=MAX_BINDINGS_PER_CAMERA)

    @model_validator(mode="after")
    def _bindings_reference_own_zones(self) -> CameraConfig:
        zone_ids = {z.id for z in self.zones}
        for b in self.bindings:
            if b.zone_id not in zone_ids:
                raise ValueError(f"binding {b.id} refers to zone {b.zone_id}, which camera {self.id} does not have")
        return self


class DetectorModelConfig(Frozen):
    id: int
    name: str
    onnx_path: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    input_width: int = Field(gt=0)
    input_height: int = Field(gt=0)
    class_names: list[ClassName] = Field(min_length=1, max_length=MAX_MODEL_CLASSES)
    is_default: bool = False


class ConfigSnapshot(Frozen):
    """Everything the workers need, at one version. Published by controlplane.configs."""

    version: int = Field(ge=0)
    created_at: datetime
    cameras: list[CameraConfig] = Field(default_factory=list)
    models: list[DetectorModelConfig] = Field(default_factory=list)

    def camera(self, camera_id: int) -> CameraConfig | None:
        return next((c for c in self.cameras if c.id == camera_id), None)

    def content(self) -> dict[str, Any]:
        """The snapshot without its version and time: equal content means an equal configuration."""
        return self.model_dump(mode="json", exclude={"version", "created_at"})


def split_credentials(url: str) -> tuple[str, str, str] | None:
    """(URL without user info, user name, password) when the URL carries ``user:pass@``, else None."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if "@" not in parts.netloc:
        return None
    userinfo, host = parts.netloc.rsplit("@", 1)
    username, _, password = userinfo.partition(":")
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment)), unquote(username), unquote(password)


_USERINFO = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s'\"]+@")
#: Query or fragment parameter names whose values are secrets (``password``, ``passwd``, ``pwd``,
#: ``access_token``, ``apikey``, ``X-Amz-Signature``, ``sig``, ``sessionid``, ...). Matched anywhere
#: in the name: masking a harmless value (``monkey=1``) costs nothing, showing a secret does.
_SECRET_NAME = re.compile(r"pass|pwd|token|secret|key|auth|sig|credential|session|jwt", re.IGNORECASE)
#: ``name=value`` after ``?``, ``&``, ``;`` or ``#`` inside free text (a URL in an error message).
_PARAM_IN_TEXT = re.compile(r"([?&;#])([^=&;#?\s'\"<>]+)=([^&;#\s'\"<>]*)")
MASK = "***"


def is_secret_name(name: str) -> bool:
    """Whether a query parameter of this name holds a secret (its name percent-decoded first)."""
    return bool(_SECRET_NAME.search(unquote(name)))


def mask_text(text: str) -> str:
    """Free text (an error message) with every URL's user info and secret query values masked.

    Used by workers (capture errors in the camera status, delivery errors) and wherever an
    exception's text is shown or logged.
    """
    text = _USERINFO.sub(r"\1***:***@", text)
    return _PARAM_IN_TEXT.sub(lambda m: f"{m[1]}{m[2]}={MASK}" if is_secret_name(m[2]) else m[0], text)


def _mask_params(params: str) -> str:
    """``a=1&password=x`` -> ``a=1&password=***`` (``&`` and ``;`` separated, order kept)."""
    return re.sub(
        r"([^=&;]+)=([^&;]*)", lambda m: f"{m[1]}={MASK}" if is_secret_name(m[1]) else m[0], params
    )


def mask_url(url: str) -> str:
    """The URL with any user info and secret-looking query (and fragment) values replaced by ``***``.

    Used wherever a stream or webhook URL is logged or shown (API, admin, revision snapshots).
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***:***@" + netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, netloc, parts.path, _mask_params(parts.query), _mask_params(parts.fragment)))


def unmask_url(url: str, stored: str) -> str:
    """``url`` with each secret parameter given as ``***`` set back to its value in ``stored``.

    A client that reads a masked URL and sends it back (GET, modify, PUT; an admin form saved
    unchanged) keeps the secrets it was never shown. The n-th ``password=***`` takes the n-th
    stored ``password`` value; one with no stored counterpart stays ``***``. Used by
    ``Camera.clean`` (controlplane.cameras).
    """
    if MASK not in url:
        return url
    try:
        new, old = urlsplit(url), urlsplit(stored)
    except ValueError:
        return url

    def restore(params: str, stored_params: str) -> str:
        values: dict[str, list[str]] = {}
        for name, _, value in (p.partition("=") for p in re.split(r"[&;]", stored_params) if p):
            values.setdefault(name, []).append(value)

        def one(m: re.Match[str]) -> str:
            kept = values.get(m[1])
            if m[2] != MASK or not is_secret_name(m[1]) or not kept:
                return m[0]
            return f"{m[1]}={kept.pop(0)}"

        return re.sub(r"([^=&;]+)=([^&;]*)", one, params)

    return urlunsplit((new.scheme, new.netloc, new.path, restore(new.query, old.query),
                       restore(new.fragment, old.fragment)))


