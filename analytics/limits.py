"""Size limits of the configuration and of the requests that carry it, in one place.

Each limit is far above what an operator draws or types, and low enough that one object cannot
make every configuration write, revision and worker reload slow (before these limits a
100,000-point polygon made every write take ~5 s and every revision ~2 MB). The pydantic models
in analytics.config and the control plane's model validation (``clean``, field validators) import
these names, so the API, the admin and the workers refuse the same input, with a message naming
the field. Request limits are used by controlplane.settings and controlplane.core.parsers.
"""
from __future__ import annotations

# --- zones and bindings (controlplane.zones, controlplane.algorithms, analytics.config) ---------
#: A hand-drawn zone has 3 to 20 points. 256 leaves room for traced outlines and keeps a zone's
#: JSON near 10 KB; checking it (simple, valid polygon) takes ~0.4 ms, against ~10 ms at 1,000
#: points and 650 ms at 100,000 (every config compile checks every zone again).
MAX_ZONE_POINTS = 256
#: The busy camera of bench/analysis_cost.py has 13 zones; a picture with more than a few dozen
#: is unreadable to the person drawing them. 32 x 256 points is at most ~350 KB per camera.
MAX_ZONES_PER_CAMERA = 32
#: The same bench camera has 12 bindings (all six rules, twice); analysis time grows with every
#: rule evaluated on every frame, so 64 (5x that) bounds what one camera costs a GPU worker.
MAX_BINDINGS_PER_CAMERA = 64
#: A weekly schedule needs at most a few windows a day (7 x 3 = 21); 64 is three times that.
MAX_SCHEDULE_WINDOWS = 64
#: IANA time zone names are at most ~32 characters ("America/Argentina/ComodRivadavia").
MAX_TIMEZONE_LENGTH = 64

# --- classes (controlplane.detectors, controlplane.algorithms) --------------------------------
#: COCO has 80 classes, Objects365 365, LVIS 1,203: 2,000 admits any public label set. A
#: binding's target classes must be distinct classes of its model, so they are bounded by it too.
MAX_MODEL_CLASSES = 2000
#: The longest COCO/LVIS class name is under 50 characters.
MAX_CLASS_NAME_LENGTH = 100

# --- cameras (controlplane.cameras, analytics.config) -----------------------------------------
#: Tags are short labels for filtering ("north", "entrance"); 32 is more than a list shows.
MAX_TAGS = 32
MAX_TAG_LENGTH = 50
#: Ten years. Continuous recordings are kept for days or weeks (the default is 72 h), so no
#: operator sets more, and the bound keeps ``now - retention`` a valid date: 10**9 hours
#: overflowed it (OverflowError) and stopped retention for every camera.
MAX_RETENTION_HOURS = 10 * 8766

# --- requests (controlplane.settings, controlplane.core.parsers) ------------------------------
#: The largest body a user sends is a zone at MAX_ZONE_POINTS (~11 KB as JSON) or a detector
#: model with MAX_MODEL_CLASSES names (~200 KB at most); 1 MiB is well above both. Django's
#: default (2.5 MiB) admitted the 2.4 MB polygon.
MAX_REQUEST_BODY_BYTES = 1024 * 1024
#: The deepest document the API takes is a binding's schedule (4 levels). MariaDB's JSON columns
#: refuse a value 32 deep (JSON_VALID, 10.11), so a field inside a body at this limit still fits;
#: Python's parser raised RecursionError (a 500) at ~1,000.
MAX_JSON_DEPTH = 32
