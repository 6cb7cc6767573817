"""Webhook send cost: the pinned-address delivery vs the delivery before it, on one receiver (issue 11).

Both send the same signed alarm body to the same real receiver process (tests/receiver.py, one
process, answering 200), interleaved round by round so that both see the same machine:

- pinned: ``workers.delivery.post_pinned`` after ``webhook_target`` (the URL checked, the name
  resolved once; urllib3 connects to the checked address with the host name in Host), the body
  read as ``post_webhook`` reads it, as delivered now;
- unpinned: the delivery before (commit 6a98613): ``validate_webhook_url`` of then (urlsplit, one
  getaddrinfo, the address checks) and a thread's ``requests.Session`` POST (``stream=True``, no
  redirects, the body read the same way), which resolves the name again to connect. Its code is
  copied below, so the baseline does not move when workers.delivery does.

Signing is left out of both (the same HMAC). Each send opens a new connection in both (the old
code closed its response before reading it to the end; the new one closes it on purpose). The
URL's host is a name (``localhost``, from /etc/hosts) so resolution is counted; ``--host
127.0.0.1`` measures without it. Prints the median wall and CPU time per send and the ratio
pinned/unpinned (goal <= 1.05).

    .venv/bin/python bench/webhook_pinning.py                 # 15 rounds of 200 sends each
    .venv/bin/python bench/webhook_pinning.py --rounds 3 --sends 50   # smoke run
"""
from __future__ import annotations

import argparse
import ipaddress
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RESPONSE_READ_MAX = 64 * 1024


# --- the delivery before pinning (workers/delivery.py and controlplane/core/validators.py at 6a98613) ---
def old_validate_webhook_url(url: str, allowed: list[str]) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        raise ValueError("refused")
    try:
        addrs = [ipaddress.ip_address(parts.hostname.strip("[]"))]
    except ValueError:
        infos = socket.getaddrinfo(parts.hostname, None, proto=socket.IPPROTO_TCP)
        addrs = sorted({ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos}, key=str)
    for addr in addrs:
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
            addr = addr.ipv4_mapped
        if any(addr in ipaddress.ip_network(net, strict=False) for net in allowed):
            continue
        if addr.is_link_local or addr.is_loopback or addr.is_private or addr.is_reserved or addr.is_multicast:
            raise ValueError(f"{addr} refused")


def unpinned_sender(url: str, allowed: list[str]) -> Callable[[bytes, dict[str, str]], int]:
    import requests

    session = requests.Session()
    session.trust_env = False

    def send(body: bytes, headers: dict[str, str]) -> int:
        old_validate_webhook_url(url, allowed)
        response = session.post(url, data=body, headers=headers, allow_redirects=False, stream=True, timeout=(5, 10))
        try:
            response.raw.read(RESPONSE_READ_MAX, decode_content=True).decode(errors="replace")
        finally:
            response.close()
        return response.status_code

    return send


# --- the delivery now -------------------------------------------------------------------------------
def pinned_sender(url: str) -> Callable[[bytes, dict[str, str]], int]:
    from controlplane.core.validators import webhook_target
    from workers.delivery import post_pinned

    def send(body: bytes, headers: dict[str, str]) -> int:
        target = webhook_target(url)
        response = post_pinned(target, body, headers)
        try:
            response.read(RESPONSE_READ_MAX, decode_content=True).decode(errors="replace")
        finally:
            response.close()
        return response.status

    return send


def measure(send: Callable[[bytes, dict[str, str]], int], body: bytes, headers: dict[str, str],
            sends: int) -> tuple[float, float]:
    """Wall and CPU seconds per send over ``sends`` sends."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(sends):
        status = send(body, headers)
        assert status == 200, status
    return (time.perf_counter() - wall) / sends, (time.process_time() - cpu) / sends


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--sends", type=int, default=200, help="sends per variant per round")
    parser.add_argument("--host", default="localhost", help="the URL's host (a name is resolved at each send)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="panoptes-webhook-bench-"))
    allowed = ["127.0.0.0/8", "::1/128"]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings")
    os.environ["PANOPTES_VAR_DIR"] = str(work / "var")
    os.environ["PANOPTES_WEBHOOK_ALLOWED_NETWORKS"] = ",".join(allowed)
    import django

    django.setup()
    from workers.delivery import signed_headers

    receiver = subprocess.Popen([sys.executable, str(ROOT / "tests" / "receiver.py"), "--log", str(work / "log.jsonl")],
                                stdout=subprocess.PIPE, text=True)
    try:
        assert receiver.stdout is not None
        port = int(receiver.stdout.readline().split()[1])
        url = f"http://{args.host}:{port}/hook"
        body = (b'{"type":"alarm.created","data":{"alarm":' + b"1" * 8 + b',"camera":1,"zone":"yard",'
                + b'"details":"' + b"x" * 1500 + b'"}}')
        headers = signed_headers("whsec_" + "MDEyMzQ1Njc4OWFiY2RlZg==", "msg_panoptes_1", body.decode())
        variants: dict[str, Callable[[bytes, dict[str, str]], int]] = {
            "unpinned": unpinned_sender(url, allowed), "pinned": pinned_sender(url)}
        for send in variants.values():  # warm-up: imports, first connections
            measure(send, body, headers, 20)
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
        for i in range(args.rounds):
            order = list(variants) if i % 2 == 0 else list(reversed(variants))
            for name in order:
                results[name].append(measure(variants[name], body, headers, args.sends))
    finally:
        receiver.kill()
        receiver.wait(5)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; {args.rounds} rounds x {args.sends} "
          f"sends each to {url} ({len(body)} B body); resolves to "
          f"{sorted({i[4][0] for i in socket.getaddrinfo(args.host, port, proto=socket.IPPROTO_TCP)})}")
    medians: dict[str, Any] = {}
    for name, rows in results.items():
        wall = statistics.median(r[0] for r in rows)
        cpu = statistics.median(r[1] for r in rows)
        medians[name] = (wall, cpu)
        print(f"  {name:9s} wall {wall * 1e3:6.3f} ms  cpu {cpu * 1e3:6.3f} ms per send (median of rounds)")
    ratios = [p[0] / u[0] for p, u in zip(results["pinned"], results["unpinned"], strict=True)]
    print(f"  ratio pinned/unpinned: wall {medians['pinned'][0] / medians['unpinned'][0]:.3f}, "
          f"cpu {medians['pinned'][1] / medians['unpinned'][1]:.3f}; per-round wall ratios "
          f"{min(ratios):.3f}-{max(ratios):.3f} (goal <= 1.05)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
