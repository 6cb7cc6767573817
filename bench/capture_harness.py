"""Shared by the capture benchmarks (capture_cpu.py, capture_fleet.py): a throwaway Panoptes.

``Sandbox`` gives a benchmark its own world, so it never touches a developer's data:
1. a temporary directory holding ``PANOPTES_VAR_DIR``, a SQLite database (migrated at start)
   and ``STORAGE_ROOT``;
2. a Redis prefix of its own, with the leases' restart grace cleared, and a broker database of
   its own: the first empty one of ``BROKER_DATABASES`` on the local Redis, claimed by a marker
   key for the run (two benchmarks at once never consume each other's tasks: capture task ids
   are camera ids, the same 1..N in every sandbox);
3. real workers (``celery -A workers worker -Q capture -P threads -c N``, or another role's
   queues and pool) started with that environment, and ``capture_camera`` tasks sent to them, as
   the supervisor would.
The directory, prefix and database are named ``bench-<script>-<run id>`` (no ``panoptes`` in
them): a long run on a shared machine lost its directory and keys to a cleanup of
``panoptes-*`` names by another job (bench/RESULTS.md, 2026-11-23).
Everything is removed at the end (``--keep`` keeps the directory, with the worker logs).

CPU and memory come from ``/proc``: utime + stime (and those of waited-for children) of a
process and all its descendants, in seconds; resident memory in MB.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "var" / "bench"  # git-ignored: transcoded footage is kept here between runs
REDIS = "redis://127.0.0.1:6379"
# Broker databases a sandbox may claim (0 is the application's, 14 the tests' broker, 15 spare).
BROKER_DATABASES = range(1, 14)
BROKER_CLAIM = "bench:broker-claim"  # in the claimed database; removed at the end
MARIADB = "mysql://root@127.0.0.1:3306"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --- /proc --------------------------------------------------------------------------------------
def _stat_fields(pid: int) -> list[str]:
    raw = Path(f"/proc/{pid}/stat").read_text()
    return raw[raw.rindex(")") + 2 :].split()  # the command name may hold spaces: cut after it


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its live descendants."""
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        try:
            todo += _children(current)
        except OSError:
            continue
    return tree


def cpu_seconds(pid: int) -> float:
    """CPU time used so far by ``pid`` and its descendants (0 for a process that is gone)."""
    total = 0
    for member in process_tree(pid):
        try:
            fields = _stat_fields(member)
        except OSError:
            continue
        # Fields 14-17 of /proc/<pid>/stat (1-based): utime, stime, cutime, cstime.
        total += sum(int(v) for v in fields[11:15])
    return total / CLOCK_TICKS


def context_switches(pid: int) -> int:
    """Voluntary + involuntary context switches so far of every thread of ``pid`` and its descendants.

    Each is a thread put to sleep or woken (a blocking read, a GIL hand-over, a timer): the
    kernel's share of a capture worker's CPU grows with them.
    """
    total = 0
    for member in process_tree(pid):
        try:
            tasks = list(Path(f"/proc/{member}/task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                lines = (task / "status").read_text().splitlines()
            except OSError:
                continue
            total += sum(int(line.split()[1]) for line in lines if "ctxt_switches:" in line)
    return total


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all cores, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


@dataclass
class Window:
    """CPU used by groups of processes over one measured window."""

    seconds: float
    cpu: dict[str, float]  # group -> CPU seconds
    switches: dict[str, int]  # group -> context switches
    machine_busy: float  # share of all the machine's cores that were busy (0..1)

    def percent(self, group: str, per: int = 1) -> float:
        """Percent of one core, divided among ``per`` cameras."""
        return 100 * self.cpu[group] / self.seconds / per

    def switch_rate(self, group: str, per: int = 1) -> float:
        """Context switches per second, divided among ``per`` cameras."""
        return self.switches[group] / self.seconds / per


def measure(groups: dict[str, list[int]], seconds: float, tick: Callable[[float], None] | None = None) -> Window:
    """Sleep ``seconds`` (calling ``tick(elapsed)`` every second, if given) and return the CPU each group used."""

    def sample() -> dict[str, tuple[float, int]]:
        return {name: (sum(cpu_seconds(p) for p in pids), sum(context_switches(p) for p in pids)) for name, pids in groups.items()}

    busy0, total0 = machine_jiffies()
    before, started = sample(), time.monotonic()
    while (elapsed := time.monotonic() - started) < seconds:
        time.sleep(min(1.0, seconds - elapsed))
        if tick is not None:
            tick(time.monotonic() - started)
    after, took = sample(), time.monotonic() - started
    busy1, total1 = machine_jiffies()
    return Window(
        took,
        {name: after[name][0] - before[name][0] for name in groups},
        {name: after[name][1] - before[name][1] for name in groups},
        (busy1 - busy0) / max(1, total1 - total0),
    )


# --- statistics ---------------------------------------------------------------------------------
def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def slope_per_minute(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value) points, per minute."""
    if len(points) < 2:
        return float("nan")
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return 60 * sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else float("nan")


# --- the sandbox --------------------------------------------------------------------------------
def claim_broker(owner: str) -> str:
    """The URL of the first broker database of ``BROKER_DATABASES`` that is empty, claimed for ``owner``.

    The claim is a marker key set only if the database holds no key at all (a Lua script, so two
    sandboxes starting at once cannot both take it); ``Sandbox.close`` removes it. A claim left by
    a killed run expires after a day.
    """
    import redis

    claim = "if redis.call('DBSIZE') == 0 then return redis.call('SET', KEYS[1], ARGV[1], 'EX', 86400) end return false"
    for db in BROKER_DATABASES:
        url = f"{REDIS}/{db}"
        if redis.Redis.from_url(url).eval(claim, 1, BROKER_CLAIM, owner):
            return url
    raise RuntimeError(f"no empty Redis database among {list(BROKER_DATABASES)} for the broker: remove stale ones")


class Sandbox:
    """A throwaway Panoptes: own directory, SQLite database, Redis prefix and broker database.

    ``open()`` configures Django in this process (so call it before importing any project
    module); workers started with ``start_worker`` inherit the same environment.
    """

    def __init__(self, database: str = "sqlite", keep: bool = False, name: str = "") -> None:
        run = uuid.uuid4().hex[:8]
        self.prefix = f"bench-{name or Path(sys.argv[0]).stem}-{run}".replace("_", "-")
        self.dir = Path(tempfile.mkdtemp(prefix=f"{self.prefix}-"))
        self.keep = keep
        self.broker = claim_broker(self.prefix)
        # "mariadb": a database of its own on the local server, dropped at the end (as the tests do).
        self.mariadb = self.prefix.replace("-", "_") if database == "mariadb" else None
        database_url = f"{MARIADB}/{self.mariadb}" if self.mariadb else None
        self.env = {
            **os.environ,
            "PANOPTES_VAR_DIR": str(self.dir / "var"),
            "STORAGE_ROOT": str(self.dir / "storage"),
            "PANOPTES_REDIS_PREFIX": self.prefix,
            "CELERY_BROKER_URL": self.broker,
            "DJANGO_SETTINGS_MODULE": "controlplane.settings",
            "PYTHONPATH": str(ROOT),
            # As on a production capture host: with DEBUG on, Django also logs every query
            # (CursorDebugWrapper), which shows up in the worker's CPU.
            "DEBUG": "0",
        }
        self.env.pop("PANOPTES_ENV", None)
        if database_url:
            self.env["DATABASE_URL"] = database_url
        else:
            self.env.pop("DATABASE_URL", None)  # SQLite under PANOPTES_VAR_DIR
        self.workers: dict[str, subprocess.Popen[bytes]] = {}

    # --- set-up and tear-down ---------------------------------------------------------------------
    def open(self) -> Sandbox:
        os.environ.update(self.env)
        for name in ("DATABASE_URL", "PANOPTES_ENV"):
            if name not in self.env:
                os.environ.pop(name, None)
        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))
        import django
        from django.core.management import call_command

        if self.mariadb:
            self._mariadb(f"CREATE DATABASE {self.mariadb} CHARACTER SET utf8mb4")
        django.setup()
        call_command("migrate", verbosity=0)
        from controlplane.core.redis import client, key

        client().set(key("lease", "boot"), 0)  # a fresh prefix looks like a Redis restart to the leases
        self.purge_broker()
        return self

    def close(self) -> None:
        for name in list(self.workers):
            self.stop_worker(name)
        self.purge_broker()
        from controlplane.core.redis import client, key

        r = client()
        for k in r.scan_iter(match=key("*"), count=1000):
            r.delete(k)
        if self.mariadb:
            from django.db import connections

            connections.close_all()
            self._mariadb(f"DROP DATABASE IF EXISTS {self.mariadb}")
        import redis

        redis.Redis.from_url(self.broker).flushdb()  # its own database: queues, bindings, the claim
        if self.keep:
            print(f"kept {self.dir}")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Sandbox:
        return self.open()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    @staticmethod
    def _mariadb(statement: str) -> None:
        import MySQLdb

        conn = MySQLdb.connect(host="127.0.0.1", port=3306, user="root")
        try:
            conn.cursor().execute(statement)
        finally:
            conn.close()

    def purge_broker(self) -> None:
        """Empty the queues the benchmark uses (capture tasks, and the gpu announcements it causes)."""
        from kombu import Connection

        with Connection(self.broker) as conn:
            for queue in ("capture", "gpu"):
                try:
                    conn.default_channel.queue_purge(queue)
                except Exception:  # noqa: BLE001 - the queue does not exist yet
                    pass

    # --- cameras ----------------------------------------------------------------------------------
    def create_cameras(self, urls: Iterable[str], segment_seconds: int = 5, label: str = "bench") -> list[int]:
        """Camera rows for these stream URLs, and the configuration published to Redis."""
        from django.db import transaction

        from controlplane.cameras.models import Camera
        from controlplane.configs.actions import ensure_published

        with transaction.atomic():
            ids = [
                Camera.objects.create(name=f"{label}-{i}", stream_url=url, segment_seconds=segment_seconds).pk
                for i, url in enumerate(urls, 1)
            ]
        ensure_published()
        return ids

    def dispatch(self, camera_ids: Iterable[int]) -> None:
        """What the supervisor does for a camera without an owner: one capture task each."""
        from workers.celery import app

        for camera_id in camera_ids:
            app.send_task("panoptes.capture_camera", args=[camera_id], queue="capture")

    def states(self, camera_ids: list[int]) -> dict[int, str]:
        from controlplane.core.redis import client
        from workers.status import read_status

        return {cid: row.get("state", "unknown") for cid, row in read_status(client(), camera_ids).items()}

    def wait_streaming(self, camera_ids: list[int], timeout: float) -> float:
        """Wait until every camera's status says ``streaming``; the seconds it took."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            states = self.states(camera_ids)
            if all(s == "streaming" for s in states.values()):
                return time.monotonic() - started
            time.sleep(0.5)
        late = {cid: s for cid, s in self.states(camera_ids).items() if s != "streaming"}
        raise RuntimeError(f"not streaming within {timeout:.0f} s: {late}; see the worker log under {self.dir}")

    # --- workers ----------------------------------------------------------------------------------
    def start_worker(self, name: str, concurrency: int, queues: str = "capture", pool: str = "threads") -> subprocess.Popen[bytes]:
        """A production worker command (DESIGN §2): by default the capture worker, with N threads."""
        log = (self.dir / f"{name}.log").open("wb")
        command = [
            sys.executable, "-m", "celery", "-A", "workers", "worker", "-Q", queues, "-P", pool,
            "-c", str(concurrency), "-n", f"{name}-{self.prefix}@%h", "-l", "INFO",
        ]
        self.workers[name] = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        return self.workers[name]

    def stop_worker(self, name: str, timeout: float = 30) -> None:
        """SIGTERM (warm shutdown: loops keep their segment and release their leases), then SIGKILL."""
        proc = self.workers.pop(name)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                print(f"worker {name} did not stop within {timeout:.0f} s: killed")
                proc.kill()
                proc.wait()

    def worker_log(self, name: str) -> str:
        return (self.dir / f"{name}.log").read_text(errors="replace")


def log_problems(text: str, limit: int = 8) -> tuple[int, list[tuple[int, str]]]:
    """(count, most frequent kinds) of warnings, errors and tracebacks in a worker log.

    A kind is the message without its time stamp and with numbers as ``N``.
    """
    kinds: dict[str, int] = {}
    count = 0
    for line in text.splitlines():
        if not any(w in line for w in ("WARNING", "ERROR", "CRITICAL", "Traceback")):
            continue
        count += 1
        kind = re.sub(r"\d+", "N", re.sub(r"^\d{4}-\d\d-\d\d [\d:,]+ ", "", line))
        kinds[kind] = kinds.get(kind, 0) + 1
    return count, sorted(((n, k) for k, n in kinds.items()), reverse=True)[:limit]


def print_log_problems(title: str, text: str) -> None:
    count, kinds = log_problems(text)
    print(f"{title}: {count} warning/error line(s)")
    for n, kind in kinds:
        print(f"    {n:6d} x {kind[:200]}")


def rtsp_server(media: dict[str, Path]) -> Any:
    """tests/rtsp's RtspServer serving ``media`` from one pipeline per stream (``shared=True``)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from rtsp import RtspServer

    return RtspServer(media, shared=True)


def footage(name: str) -> Path:
    sys.path.insert(0, str(ROOT / "tests"))
    from rtsp import VIDEOS

    return Path(VIDEOS[name])


def _frame_name(frame: str) -> str:
    """``func (path/to/file.py:123)`` -> ``func (path/to/file.py)``."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit(':', 1)[0]})" if where else name


def print_profile(path: Path, top: int = 15) -> None:
    """Summarise py-spy's collapsed stacks (``--format raw``): where the samples are, self and inclusive."""
    if not path.exists():
        print(f"  no profile at {path}")
        return
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [_frame_name(f) for f in stack.split(";")]
        total += int(count)
        own[frames[-1]] = own.get(frames[-1], 0) + int(count)
        for name in set(frames):
            inclusive[name] = inclusive.get(name, 0) + int(count)
    print(f"  profile {path}: {total} samples of busy threads")
    for title, table in (("self", own), ("inclusive", inclusive)):
        print(f"  top {top} by {title} samples:")
        for name, n in sorted(table.items(), key=lambda item: -item[1])[:top]:
            print(f"    {100 * n / max(1, total):5.1f} %  {name}")
