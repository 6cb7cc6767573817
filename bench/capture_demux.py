"""PyAV demux alone, as the capture worker runs it: N threads in one process, with and without ``timeout``.

Why: ``av.open(url, timeout=(open, read))`` (what workers.capture does) installs an ffmpeg
interrupt callback that takes the GIL every time ffmpeg checks it, several times per RTP packet.
This isolates that cost from everything else the capture worker does (no Django, Redis, muxing).

What it measures: N threads each open the same RTSP stream (tests/rtsp, ``shared=True``) with
PyAV over TCP and pull packets with ``demux()``; over ``--seconds`` after an 8 s warm-up, the
process's CPU (utime + stime) and its threads' context switches. Three rounds: without a timeout,
with ``timeout=(5, 5)``, and without again (the two rounds without show the noise). The ratio
printed is with / without (the mean of both rounds without).

    .venv/bin/python bench/capture_demux.py                          # 8 threads, 768x432 and 1080p
    .venv/bin/python bench/capture_demux.py --threads 2 --seconds 10 --streams 432p
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from dataclasses import dataclass

import av
from capture_cpu import prepare_streams
from capture_harness import context_switches, cpu_seconds, rtsp_server

PROTOCOLS = "rtsp,rtp,srtp,udp,tcp,tls"  # as workers.capture allows for rtsp://


@dataclass
class Round:
    label: str
    cpu_percent: float  # of one core, per thread
    switches: float  # per second, per thread
    packets: float  # per second, per thread


def read(url: str, timeout: tuple[float, float] | None, stop: threading.Event, counts: list[int], index: int) -> None:
    extra = {"timeout": timeout} if timeout else {}
    container = av.open(url, options={"rtsp_transport": "tcp", "protocol_whitelist": PROTOCOLS}, **extra)
    try:
        for _packet in container.demux(container.streams.video[0]):
            counts[index] += 1
            if stop.is_set():
                return
    finally:
        container.close()


def run_round(url: str, label: str, timeout: tuple[float, float] | None, threads: int, seconds: float) -> Round:
    stop, counts = threading.Event(), [0] * threads
    workers = [threading.Thread(target=read, args=(url, timeout, stop, counts, i)) for i in range(threads)]
    for worker in workers:
        worker.start()
    time.sleep(8)  # opening probes the stream for a few seconds
    pid = os.getpid()
    cpu0, switches0, packets0, started = cpu_seconds(pid), context_switches(pid), sum(counts), time.monotonic()
    time.sleep(seconds)
    cpu1, switches1, packets1, took = cpu_seconds(pid), context_switches(pid), sum(counts), time.monotonic() - started
    stop.set()
    for worker in workers:
        worker.join(15)
    per = took * threads
    return Round(label, 100 * (cpu1 - cpu0) / per, (switches1 - switches0) / per, (packets1 - packets0) / per)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=8, help="readers in the one process (default 8)")
    parser.add_argument("--seconds", type=float, default=20, help="measured window per round (default 20)")
    parser.add_argument("--streams", default="432p,1080p", help="comma-separated, of 432p,720p,1080p (see capture_cpu.py)")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    streams = prepare_streams(args.streams.split(","), fps=25, seconds=60)
    with rtsp_server(streams) as server:
        for name in streams:
            url = server.url(name)
            rounds = [
                run_round(url, label, timeout, args.threads, args.seconds)
                for label, timeout in (("no timeout", None), ("timeout=(5, 5)", (5.0, 5.0)), ("no timeout", None))
            ]
            print(f"\n{name}: {args.threads} threads demuxing {url}")
            for r in rounds:
                print(f"  {r.label:15} {r.cpu_percent:5.2f} % of a core per thread, {r.switches:4.0f} switches/s, {r.packets:4.1f} packets/s")
            base = (rounds[0].cpu_percent + rounds[2].cpu_percent) / 2
            switches = (rounds[0].switches + rounds[2].switches) / 2
            print(f"  ratio with/without timeout: CPU {rounds[1].cpu_percent / base:.2f}, context switches {rounds[1].switches / switches:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
