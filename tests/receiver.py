"""A real HTTP webhook receiver, run as its own process by tests (and bench/alarm_latency.py).

    python tests/receiver.py --port 0 --log requests.jsonl --script /a=500,500,200 --script /b=hang:30

Each request is appended to the log (time, path, headers, body) *before* it is answered, so a test
sees a request that the receiver then hangs on. ``--script PATH=ACTIONS`` answers the requests to
PATH in turn with ACTIONS (the last one repeats): a status code (``200``, ``500``, ``400``, ``429``),
``hang:S`` (sleep S seconds, then 200) or ``accept-hang:S`` (the same; the name says what it is
for: the delivering worker is killed while it waits). Unscripted paths answer 200. The chosen port
is printed on stdout as ``PORT <n>``. With ``--tls-cert``/``--tls-key`` it speaks HTTPS and logs the
server name each client asked for (SNI) as ``sni``.
"""
from __future__ import annotations

import argparse
import json
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, log: str, scripts: dict[str, list[str]], tls: tuple[str, str] | None = None) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            context.sni_callback = lambda sock, name, _ctx: setattr(sock, "sni", name)  # type: ignore[assignment]
            self.socket = context.wrap_socket(self.socket, server_side=True)
        self.log_path = log
        self.scripts = scripts
        self.counts: dict[str, int] = {}
        self.lock = threading.Lock()

    def next_action(self, path: str) -> str:
        with self.lock:
            n = self.counts.get(path, 0)
            self.counts[path] = n + 1
        script = self.scripts.get(path, ["200"])
        return script[min(n, len(script) - 1)]

    def record(self, entry: dict[str, Any]) -> None:
        with self.lock, open(self.log_path, "a") as log:
            log.write(json.dumps(entry) + "\n")
            log.flush()


class Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length).decode()
        action = self.server.next_action(self.path)
        self.server.record({"t": time.time(), "path": self.path, "headers": dict(self.headers.items()), "body": body,
                            "action": action, "sni": getattr(self.connection, "sni", None)})
        if action.startswith(("hang:", "accept-hang:")):
            time.sleep(float(action.split(":", 1)[1]))
            action = "200"
        code = int(action)
        payload = json.dumps({"ok": 200 <= code < 300, "action": action}).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # the JSONL log is the record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--log", required=True)
    parser.add_argument("--script", action="append", default=[], help="PATH=ACTION,ACTION,...")
    parser.add_argument("--tls-cert", help="PEM certificate chain: answer HTTPS")
    parser.add_argument("--tls-key", help="PEM private key of --tls-cert")
    args = parser.parse_args()
    scripts = {}
    for item in args.script:
        path, _, actions = item.partition("=")
        scripts[path] = actions.split(",")
    server = Receiver(args.port, args.log, scripts, (args.tls_cert, args.tls_key) if args.tls_cert else None)
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
