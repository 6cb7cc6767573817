"""Panoptes settings: one module, driven by environment variables (see README "Configuration").

Nothing set means the embedded development defaults: SQLite and storage under ``var/``, local
Redis, secrets generated once into ``var/``. ``PANOPTES_ENV=production`` turns on the production
profile, which refuses to start without real secrets and passes ``check --deploy``.
"""
from __future__ import annotations

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from analytics.limits import MAX_REQUEST_BODY_BYTES
from controlplane.env import (
    database_from_url,
    env_bool,
    env_int,
    env_list,
    env_path,
    env_str,
    env_url,
    is_strong_key,
    local_secret,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = env_path("PANOPTES_VAR_DIR", BASE_DIR / "var")

PANOPTES_ENV = env_str("PANOPTES_ENV", "development")
if PANOPTES_ENV not in ("development", "production"):
    raise ImproperlyConfigured(f"PANOPTES_ENV must be 'development' or 'production', got {PANOPTES_ENV!r}")
PRODUCTION = PANOPTES_ENV == "production"

DEBUG = env_bool("DEBUG", default=not PRODUCTION)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DEBUG must be off when PANOPTES_ENV=production")

if PRODUCTION:
    SECRET_KEY = env_str("SECRET_KEY")
    if len(SECRET_KEY) < 50:
        raise ImproperlyConfigured("SECRET_KEY must be set to at least 50 random characters in production")
    FIELD_ENCRYPTION_KEYS = env_list("PANOPTES_FIELD_KEYS")
    if not FIELD_ENCRYPTION_KEYS:
        raise ImproperlyConfigured(
            "PANOPTES_FIELD_KEYS must hold at least one Fernet key in production "
            "(python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
        )
    if not is_strong_key(FIELD_ENCRYPTION_KEYS[0]):
        # Only the first key encrypts; older ones may stay weak while they still decrypt old values
        # (check --deploy warns about them: panoptes.W002).
        raise ImproperlyConfigured(
            "PANOPTES_FIELD_KEYS: the first key (the one that encrypts) must be 32 random bytes or more: at "
            "least 43 characters, at least 10 of them different. Make one with python -c 'from "
            "cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
        )
else:
    SECRET_KEY = env_str("SECRET_KEY") or local_secret(VAR_DIR / "secret_key")
    FIELD_ENCRYPTION_KEYS = env_list("PANOPTES_FIELD_KEYS") or [local_secret(VAR_DIR / "field_key")]

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]", "testserver"])
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must list the panel's host names in production")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "controlplane.core",
    "controlplane.cameras",
    "controlplane.zones",
    "controlplane.algorithms",
    "controlplane.detectors",
    "controlplane.alarms",
    "controlplane.configs",
    "controlplane.panel",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "controlplane.core.middleware.ActorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "controlplane.urls"
WSGI_APPLICATION = "controlplane.wsgi.application"
ASGI_APPLICATION = "controlplane.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": database_from_url(env_str("DATABASE_URL"), default_sqlite=VAR_DIR / "panoptes.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env_path("STATIC_ROOT", VAR_DIR / "static")
# The panel's front-end libraries come from node_modules (package.json, installed by `npm ci`):
# the panel's finder serves only the files it names (controlplane.panel.finders.VENDOR_FILES).
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "controlplane.panel.finders.NodeModulesFinder",
]
NODE_MODULES = env_path("PANOPTES_NODE_MODULES", BASE_DIR / "node_modules")
LOGIN_URL = "panel:login"
LOGIN_REDIRECT_URL = "panel:wall"
LOGOUT_REDIRECT_URL = "panel:login"

# --- Panoptes ---------------------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
# Every Redis key Panoptes writes starts with this; tests use their own prefix.
REDIS_PREFIX = env_str("PANOPTES_REDIS_PREFIX", "panoptes")
STORAGE_ROOT = env_path("STORAGE_ROOT", VAR_DIR / "storage")
# Shared test assets (real model and footage), referenced in place, never copied.
PANOPTES_ASSETS = env_path("PANOPTES_ASSETS", BASE_DIR.parent / "shared" / "assets")
# Directories from which `file:` stream URLs are accepted (empty: `file:` refused).
MEDIA_DIRS = [Path(p).expanduser().resolve() for p in env_list("PANOPTES_MEDIA_DIRS")]
# Networks a webhook may target although private/loopback (e.g. "127.0.0.0/8" for a local receiver).
WEBHOOK_ALLOWED_NETWORKS = env_list("PANOPTES_WEBHOOK_ALLOWED_NETWORKS")

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
# Channels (panel and integrator WebSockets, controlplane.panel): events from every process
# (workers publish alarms) reach every web process through Redis, under this installation's prefix.
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        # socket_timeout above channels_redis' 5 s blocking pop: redis-py's own 5 s default made
        # every socket idle for 5 s die ("Timeout reading", close 1011; tests/test_panel_events_socket.py).
        "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 15}], "prefix": f"{REDIS_PREFIX}:asgi"},
    }
}
# How often an open socket checks that its token or session still stands (logout, deleted token,
# deactivated user, role or sites changed): 30 s, a few queries per socket and check.
SOCKET_REAUTH_SECONDS = env_int("PANOPTES_SOCKET_REAUTH_SECONDS", 30, minimum=1)

# Capture (workers.capture; DESIGN §4). Seconds.
# 10 s lease: survives a 3 s Redis stall and a 5 s stream stall with renewals every 2 s.
LEASE_TTL = env_int("PANOPTES_LEASE_TTL", 10, minimum=3)
RECONCILE_SECONDS = env_int("PANOPTES_RECONCILE_SECONDS", 3, minimum=1)
STALL_SECONDS = env_int("PANOPTES_STALL_SECONDS", 5, minimum=1)  # no packet for this long: reopen
OPEN_TIMEOUT = env_int("PANOPTES_OPEN_TIMEOUT", 10, minimum=1)
BACKOFF_MAX = env_int("PANOPTES_BACKOFF_MAX", 60, minimum=1)
# 10 s: a keyframe decode + a 640 px JPEG every 10 s is ~0.05 % of a core at 1080p (bench/RESULTS.md).
SNAPSHOT_SECONDS = env_int("PANOPTES_SNAPSHOT_SECONDS", 5, minimum=1)  # how often the loop keeps a keyframe
# Detection (workers.detect; DESIGN §9): onnxruntime (CPU default), tensorrt or torch.
DETECTOR_BACKEND = env_str("PANOPTES_DETECTOR_BACKEND", "onnxruntime")
if DETECTOR_BACKEND not in ("onnxruntime", "tensorrt", "torch"):
    raise ImproperlyConfigured(f"PANOPTES_DETECTOR_BACKEND must be onnxruntime, tensorrt or torch, got {DETECTOR_BACKEND!r}")
# Decoding for detection: pyav (CPU, any backend) or nvdec (PyNvVideoCodec on the GPU; its frames stay
# on the GPU, which only the torch backend takes: analytics.decode_nvdec, TorchDetector.detect_tensor).
DECODER = env_str("PANOPTES_DECODER", "pyav")
if DECODER not in ("pyav", "nvdec"):
    raise ImproperlyConfigured(f"PANOPTES_DECODER must be pyav or nvdec, got {DECODER!r}")
if DECODER == "nvdec" and DETECTOR_BACKEND != "torch":
    raise ImproperlyConfigured(
        f"PANOPTES_DECODER=nvdec needs PANOPTES_DETECTOR_BACKEND=torch (NVDEC frames stay on the GPU and only the "
        f"torch backend takes them there), got PANOPTES_DETECTOR_BACKEND={DETECTOR_BACKEND!r}"
    )
DETECT_BATCH = env_int("PANOPTES_DETECT_BATCH", 8, minimum=1)
# How long the model waits for a fuller batch than what is queued (0: run what is there; worth a few
# ms on a GPU shared by many cameras' segments, see analytics/detectors/batching.py).
DETECT_BATCH_WAIT = env_int("PANOPTES_DETECT_BATCH_WAIT_MS", 0, minimum=0) / 1000
DETECT_MAX_ATTEMPTS = env_int("PANOPTES_DETECT_MAX_ATTEMPTS", 3, minimum=1)  # deliveries before a segment is "bad"
# Analysis (workers.analyze; DESIGN §5): how long a later segment waits for a missing one.
ANALYSIS_GAP_WAIT = env_int("PANOPTES_ANALYSIS_GAP_WAIT", 30, minimum=1)
RETENTION_SECONDS = env_int("PANOPTES_RETENTION_SECONDS", 300, minimum=10)  # how often retention runs
# Alarm delivery (workers.delivery, workers.replay; DESIGN §6).
# Absolute base of the links put in webhook payloads (signed, expiring snapshot/replay URLs).
PUBLIC_URL = env_url("PANOPTES_PUBLIC_URL", "http://127.0.0.1:8000", schemes=("http", "https")).rstrip("/")
MEDIA_URL_TTL = env_int("PANOPTES_MEDIA_URL_TTL", 7 * 24 * 3600, minimum=60)  # seconds a signed link works
DELIVERY_CONNECT_TIMEOUT = env_int("PANOPTES_DELIVERY_CONNECT_TIMEOUT", 5, minimum=1)
DELIVERY_READ_TIMEOUT = env_int("PANOPTES_DELIVERY_READ_TIMEOUT", 10, minimum=1)
DELIVERY_MAX_ATTEMPTS = env_int("PANOPTES_DELIVERY_MAX_ATTEMPTS", 12, minimum=1)  # then dead-lettered
DELIVERY_BACKOFF_BASE = env_int("PANOPTES_DELIVERY_BACKOFF_BASE", 2, minimum=1)  # 2, 4, 8, ... s, jittered
DELIVERY_BACKOFF_MAX = env_int("PANOPTES_DELIVERY_BACKOFF_MAX", 600, minimum=1)
# A claimed row not settled within this many seconds (its worker died) is sent again.
DELIVERY_CLAIM_SECONDS = env_int(
    "PANOPTES_DELIVERY_CLAIM_SECONDS", DELIVERY_CONNECT_TIMEOUT + DELIVERY_READ_TIMEOUT + 15, minimum=1
)
# MQTT sink: empty disables it; mqtt://user:pass@host:1883 (credentials never logged).
MQTT_URL = env_url("PANOPTES_MQTT_URL", schemes=("mqtt", "mqtts"))
MQTT_TOPIC_PREFIX = env_str("PANOPTES_MQTT_TOPIC_PREFIX", "panoptes")
# How long a replay waits for its post-roll segments before it is cut from what exists.
REPLAY_WAIT = env_int("PANOPTES_REPLAY_WAIT", 60, minimum=1)

# Login throttling (controlplane.core.throttling; DESIGN §11): failed password checks (admin login
# and POST /api/v1/auth/token/) counted in Redis; at a limit, logins are refused, the right
# password too, until LOGIN_LOCKOUT_SECONDS after the first counted failure.
AUTHENTICATION_BACKENDS = ["controlplane.core.throttling.ThrottledModelBackend"]
LOGIN_FAILURES_PER_USER = env_int("PANOPTES_LOGIN_FAILURES_PER_USER", 5, minimum=1)
# Higher than per user: people behind one NAT share an address.
LOGIN_FAILURES_PER_ADDRESS = env_int("PANOPTES_LOGIN_FAILURES_PER_ADDRESS", 20, minimum=1)
LOGIN_LOCKOUT_SECONDS = env_int("PANOPTES_LOGIN_LOCKOUT_SECONDS", 900, minimum=1)
# Reverse proxies in front of the panel that append the client's address to X-Forwarded-For
# (0: the connection's own address counts, and X-Forwarded-For is ignored).
NUM_PROXIES = env_int("PANOPTES_NUM_PROXIES", 0, minimum=0)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["controlplane.core.permissions.RolePermission"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "controlplane.core.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "controlplane.core.pagination.PanoptesPagination",  # page size and bounds there
    "DEFAULT_SCHEMA_CLASS": "controlplane.core.schema.PanoptesAutoSchema",  # documents the error responses
    "EXCEPTION_HANDLER": "controlplane.core.api.exception_handler",
    # The resource API reads JSON only, with a depth limit (forms would carry JSON in strings past
    # it); the token view adds form parsers of its own.
    "DEFAULT_PARSER_CLASSES": ["controlplane.core.parsers.DepthLimitedJSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
# Every request body, API (JSON, also through DRF) and admin forms alike: larger is a 413 from the
# API (controlplane.core.api.exception_handler), a 400 from Django elsewhere. Why 1 MiB: analytics.limits.
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BODY_BYTES
SPECTACULAR_SETTINGS = {
    "TITLE": "Panoptes API",
    "DESCRIPTION": "Cameras, zones, algorithm bindings, detector models, alarms and configuration revisions.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    # Swagger UI assets from the drf-spectacular-sidecar package: the panel works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "SeverityEnum": "controlplane.alarms.choices.SeverityChoices",
        "AlarmStatusEnum": "controlplane.alarms.choices.AlarmStatus",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}

# --- Production hardening (what `check --deploy` asks for) -------------------------------------
if PRODUCTION:
    # JSON only: the browsable API's HTML pages (forms posting with the session) are for development.
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"] = ["rest_framework.renderers.JSONRenderer"]
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    X_FRAME_OPTIONS = "DENY"
    if env_bool("BEHIND_TLS_PROXY", False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
