"""``manage.py quickstart``: from a fresh checkout to a running panel with one command.

Every step is idempotent, so the command can be run again at any time:

1. Redis at REDIS_URL answers; if it does not and the URL is local, start ``redis-server``
   (daemonized, nothing persisted: Redis only holds what Panoptes can rebuild, DESIGN §3).
2. Migrate the database (SQLite under var/ unless DATABASE_URL names another).
3. Create the superuser ``admin`` if there is no superuser yet; its random password is written
   to var/admin_password (0600) and printed once.
4. Publish the latest configuration revision to Redis.
5. With ``--demo``: register demo cameras on the shared footage, served by a real RTSP server
   (tests/rtsp/server.py, GStreamer from Debian packages) started as one more role.
6. Run the roles in the foreground until Ctrl-C (panel under daphne, capture, control, gpu and analysis workers, beat),
   unless ``--no-serve``.
"""
from __future__ import annotations

import os
import secrets
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit

import redis
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction

from analytics.config import mask_url
from controlplane.configs.actions import ensure_published
from controlplane.core.choices import Role as UserRole
from controlplane.core.management.processes import Role, RoleExited, Supervisor
from controlplane.core.redis import client, key

ADMIN_USERNAME = "admin"
DEMO_RTSP_PORT = 8554
# Real footage from the shared assets (CC BY 4.0, Intel Corporation, intel-iot-devkit/sample-videos).
DEMO_STREAMS = {"onebyone": "one-by-one-person-detection.mp4", "parking": "person-bicycle-car-detection.mp4"}
DEMO_APT_PACKAGES = "python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
# A Redis started without persistence answers in well under a second; 10 s covers a slow disk.
REDIS_START_SECONDS = 10.0
INSTALL_REDIS_HINT = (
    "Install it (Debian/Ubuntu: sudo apt-get install redis-server; Fedora: sudo dnf install redis; "
    "macOS: brew install redis) and run quickstart again, or point REDIS_URL at a running Redis."
)


class Command(BaseCommand):
    help = "Set up a development instance (Redis, database, admin user, configuration) and serve the panel."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--addr", default="127.0.0.1", help="Address the panel listens on (default 127.0.0.1).")
        parser.add_argument("--port", type=int, default=8000, help="Port the panel listens on (default 8000).")
        parser.add_argument("--no-serve", action="store_true", help="Only set up; start nothing (used by tests).")
        parser.add_argument(
            "--demo", action="store_true",
            help=f"Add demo cameras on the shared footage ({', '.join(DEMO_STREAMS)}), served over RTSP (--rtsp-port).",
        )
        parser.add_argument("--rtsp-port", type=int, default=DEMO_RTSP_PORT, help=f"Port of the demo RTSP server (default {DEMO_RTSP_PORT}).")

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError(
                "quickstart runs a development instance; with PANOPTES_ENV=production run each role "
                "on its own (see docker/compose.yml)"
            )
        self.verbosity: int = options["verbosity"]
        self.prepare_dirs()
        self.ensure_redis()
        self.migrate()
        password = self.ensure_admin()
        demo = self.demo_role(options["rtsp_port"]) if options["demo"] else []
        self.publish_config()
        self.print_login(panel_url(options["addr"], options["port"]), password)
        if not options["no_serve"]:
            self.serve(demo + self.roles(options["addr"], options["port"]))

    # --- steps --------------------------------------------------------------------------------
    def prepare_dirs(self) -> None:
        for path in (settings.VAR_DIR, settings.STORAGE_ROOT):
            Path(path).mkdir(parents=True, exist_ok=True)

    def ensure_redis(self) -> None:
        url = settings.REDIS_URL
        if redis_answers():
            self.step(f"Redis: {mask_url(url)} answers")
            return
        parts = urlsplit(url)
        server = shutil.which("redis-server")
        if parts.scheme != "redis" or parts.hostname not in LOCAL_HOSTS:
            raise CommandError(f"Redis at {mask_url(url)} does not answer: start it, or set REDIS_URL to a running Redis.")
        if server is None:
            raise CommandError(f"Redis at {mask_url(url)} does not answer and redis-server is not installed. {INSTALL_REDIS_HINT}")
        if parts.username or parts.password:
            raise CommandError(f"Redis at {mask_url(url)} does not answer; quickstart only starts a Redis without a password.")
        self.start_redis(server, parts)

    def start_redis(self, server: str, parts: SplitResult) -> None:
        port = parts.port or 6379
        var_dir = Path(settings.VAR_DIR)
        log = var_dir / "redis.log"
        argv = [
            server, "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", str(port),
            "--save", "", "--appendonly", "no", "--dir", str(var_dir),
            "--logfile", str(log), "--pidfile", str(var_dir / "redis.pid"),
        ]
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise CommandError(f"redis-server failed to start: {(result.stderr or result.stdout).strip()} (log: {log})")
        deadline = time.monotonic() + REDIS_START_SECONDS
        while not redis_answers():
            if time.monotonic() > deadline:
                raise CommandError(f"redis-server was started but does not answer on port {port}; see {log}")
            time.sleep(0.1)
        self.step(
            f"Redis: started redis-server on port {port} (it keeps running after quickstart; "
            f"stop it with: redis-cli -p {port} shutdown)"
        )

    def migrate(self) -> None:
        call_command("migrate", interactive=False, verbosity=max(0, self.verbosity - 1), stdout=self.stdout)
        db = connection.settings_dict
        self.step(f"Database: {db['NAME']} ({connection.vendor}) is migrated")

    def ensure_admin(self) -> str | None:
        """Create the ``admin`` superuser unless a superuser exists; its password, or None."""
        users = get_user_model().objects
        if users.filter(is_superuser=True).exists():
            return None
        if users.filter(username=ADMIN_USERNAME).exists():
            raise CommandError(
                f"a user named {ADMIN_USERNAME!r} exists but there is no superuser: "
                "make one with `manage.py createsuperuser`"
            )
        password = secrets.token_urlsafe(18)
        with transaction.atomic():  # no admin without a saved password
            user = users.create_superuser(ADMIN_USERNAME, email="", password=password)
            user.groups.add(Group.objects.get(name=UserRole.ADMIN))
            write_private(admin_password_file(), password)
        return password

    def publish_config(self) -> None:
        try:
            version = ensure_published()
        except redis.RedisError as exc:
            raise CommandError(f"could not publish the configuration to Redis: {exc}") from None
        self.step(f"Configuration: v{version} published in Redis ({key('config', 'version')})")

    def print_login(self, url: str, new_password: str | None) -> None:
        password_file = admin_password_file()
        if new_password is not None:
            who = f"user {ADMIN_USERNAME}, password {new_password} (saved in {password_file})"
        elif password_file.exists():
            who = f"user {ADMIN_USERNAME}, password in {password_file}"
        else:
            who = "your superuser account"
        self.stdout.write(self.style.SUCCESS("\nPanoptes is set up."))
        self.stdout.write(f"  Panel:     {url}panel/  ({who})")
        self.stdout.write(f"  Admin:     {url}admin/")
        self.stdout.write(f"  API docs:  {url}api/v1/docs/")
        self.stdout.write(
            f"  API token: curl -X POST -d username={ADMIN_USERNAME} "
            f'-d "password=$(cat {shlex.quote(str(password_file))})" {url}api/v1/auth/token/'
        )
        self.stdout.flush()

    def roles(self, addr: str, port: int) -> list[Role]:
        """Every role of the platform on this machine (DESIGN §2), as foreground children."""
        celery = (sys.executable, "-m", "celery", "-A", "workers")
        return [
            # The panel, admin, API and WebSockets (/ws/v1/events/) under the ASGI server of production.
            Role("web", (sys.executable, "-m", "daphne", "--bind", addr, "--port", str(port), "controlplane.asgi:application")),
            Role("capture", (*celery, "worker", "-Q", "capture", "-P", "threads", "-c", "16", "-n", "capture@%h", "-l", "INFO")),
            Role("control", (*celery, "worker", "-Q", "control", "-P", "solo", "-n", "control@%h", "-l", "INFO")),
            # Detection: one process, model loaded lazily in it (no fork after load); its threads decode
            # segments and feed one batch queue in front of the model (workers/detect.py).
            Role("gpu", (*celery, "worker", "-Q", "gpu", "-P", "threads", "-c", "2", "-n", "gpu@%h", "-l", "INFO")),
            # Analysis: ordered per camera by a lock, so any pool works.
            Role("analysis", (*celery, "worker", "-Q", "analysis", "-P", "threads", "-c", "4", "-n", "analysis@%h", "-l", "INFO")),
            # Alarms: snapshots, replays, webhook/MQTT deliveries; threads, so a hanging receiver holds one only.
            Role("alarms", (*celery, "worker", "-Q", "alarms", "-P", "threads", "-c", "8", "-n", "alarms@%h", "-l", "INFO")),
            Role("beat", (*celery, "beat", "-l", "INFO", "-s", str(Path(settings.VAR_DIR) / "celerybeat-schedule"))),
        ]

    def demo_role(self, port: int) -> list[Role]:
        """Cameras ``demo-<name>`` on rtsp://127.0.0.1:8554/<name>, and the RTSP server that serves them."""
        from controlplane.cameras.models import Camera

        videos = Path(settings.PANOPTES_ASSETS) / "videos"
        missing = [str(videos / f) for f in DEMO_STREAMS.values() if not (videos / f).is_file()]
        if missing:
            raise CommandError(f"--demo needs the shared footage; missing: {', '.join(missing)} (set PANOPTES_ASSETS)")
        gst_python = os.environ.get("PANOPTES_GST_PYTHON", "/usr/bin/python3")
        probe = subprocess.run(
            [gst_python, "-c", "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"],
            capture_output=True,
        )
        if probe.returncode != 0:
            raise CommandError(
                f"--demo needs GStreamer's RTSP server for {gst_python}: apt-get install {DEMO_APT_PACKAGES}"
            )
        argv = [gst_python, str(Path(settings.BASE_DIR) / "tests" / "rtsp" / "server.py"), "--port", str(port), "--shared"]
        for name, filename in DEMO_STREAMS.items():
            argv += ["--media", f"{name}={videos / filename}"]
            url = f"rtsp://127.0.0.1:{port}/{name}"
            camera, created = Camera.objects.get_or_create(name=f"demo-{name}", defaults={"stream_url": url, "location": "demo"})
            if not created and camera.stream_url != url:
                camera.stream_url = url
                camera.save()
        self.step(f"Demo cameras: {', '.join('demo-' + n for n in DEMO_STREAMS)} (rtsp://127.0.0.1:{port}/...).\n")
        return [Role("rtsp-demo", tuple(argv))]

    def serve(self, roles: list[Role]) -> None:
        self.stdout.write(f"\nStarting {', '.join(r.name for r in roles)}; stop with Ctrl-C.\n")
        self.stdout.flush()
        try:
            Supervisor(roles).run()
        except RoleExited as exc:
            raise CommandError(str(exc)) from None

    def step(self, message: str) -> None:
        self.stdout.write(message)


def redis_answers() -> bool:
    """Whether Redis at REDIS_URL answers a PING; a Redis that refuses us is an error, not absent."""
    try:
        return bool(client().ping())
    except redis.AuthenticationError as exc:
        raise CommandError(f"Redis at {mask_url(settings.REDIS_URL)} refused the login: {exc}") from None
    except (redis.ConnectionError, redis.TimeoutError):
        return False
    except redis.RedisError as exc:
        raise CommandError(f"Redis at {mask_url(settings.REDIS_URL)} answered with an error: {exc}") from None


def panel_url(addr: str, port: int) -> str:
    """The URL a browser on this machine uses (a wildcard address is reached through loopback)."""
    host = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}.get(addr, f"[{addr}]" if ":" in addr else addr)
    return f"http://{host}:{port}/"


def admin_password_file() -> Path:
    return Path(settings.VAR_DIR) / "admin_password"


def write_private(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``, readable by its owner only (0600)."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text + "\n")
    os.chmod(tmp, 0o600)  # O_CREAT leaves the mode of a leftover file as it was
    os.replace(tmp, path)
