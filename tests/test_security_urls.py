"""URL fields refuse what an attacker would type (DESIGN §11), through the API and the admin.

Stream URLs: link-local (cloud metadata) in every spelling libc accepts, names that resolve there,
malformed URLs and bad ports, control characters and spaces, and `file:` URLs in any form but the
canonical one. Webhook URLs: the shared address space, addresses hidden inside IPv6 forms (6to4,
Teredo, NAT64, mapped, compatible), bad ports. Webhook secrets that cannot sign.

Name resolution is patched (``resolver``): no DNS server exists here. IP literals still go to the
real libc ``getaddrinfo``, so its inet_aton spellings (``0xa9fea9fe``) are what a worker would see.
"""
from __future__ import annotations

import base64
import socket
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

Names = dict[str, list[str]]
GOOD_SECRET = "whsec_" + base64.b64encode(b"panoptes-test-secret-0123456789").decode()


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> Names:
    """``resolver["cam.example.test"] = ["10.0.0.5"]``; other names do not resolve (EAI_NONAME)."""
    names: Names = {}
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name.rstrip(".").lower() in names:
            return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "",
                     (a, port or 0) if ":" not in a else (a, port or 0, 0, 0)) for a in names[name.rstrip(".").lower()]]
        try:
            return real(host, port, *args, **{**kwargs, "flags": kwargs.get("flags", 0) | socket.AI_NUMERICHOST})
        except socket.gaierror:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return names


def refusals(client: Any, path: str, field: str, urls: list[str], **payload: Any) -> list[str]:
    """The URLs of ``urls`` that were NOT refused with a 400 naming ``field`` (so: [] is a pass)."""
    missed = []
    for url in urls:
        response = client.post(path, {"name": uuid.uuid4().hex[:10], field: url, **payload}, format="json")
        if response.status_code != 400 or field not in response.json():
            missed.append(f"{url!r} -> {response.status_code}")
    return missed


def accepted(client: Any, path: str, field: str, urls: list[str], **payload: Any) -> list[str]:
    missed = []
    for url in urls:
        response = client.post(path, {"name": uuid.uuid4().hex[:10], field: url, **payload}, format="json")
        if response.status_code != 201:
            missed.append(f"{url!r} -> {response.status_code} {response.content[:200]!r}")
    return missed


# --- stream URLs --------------------------------------------------------------------------------
METADATA_SPELLINGS = [
    "rtsp://169.254.169.254/x",
    "rtsp://[::ffff:169.254.169.254]/x",  # IPv4-mapped
    "rtsp://[::ffff:a9fe:a9fe]/x",
    "rtsp://[::169.254.169.254]/x",  # IPv4-compatible
    "rtsp://[64:ff9b::169.254.169.254]/x",  # NAT64
    "rtsp://[2002:a9fe:a9fe::1]/x",  # 6to4
    "rtsp://0xa9fea9fe/x",  # inet_aton: one hex number
    "rtsp://2852039166/x",  # one decimal number
    "rtsp://0251.0376.0251.0376/x",  # octal parts
    "rtsp://0xa9.0xfe.0xa9.0xfe/x",
    "rtsp://169.254.43518/x",  # a.b.c16
    "rtsp://169.16689662/x",  # a.b24
    "rtsp://169.254.169.254./x",  # trailing dot
    "http://[fe80::1%25eth0]/x",
    "rtsp://100.100.100.200/x",  # Alibaba Cloud metadata
    "http://[fd00:ec2::254]/latest/meta-data/",  # AWS IPv6 metadata
    "rtsp://0.0.0.0/x",
    "rtsp://0/x",
    "rtsp://224.0.0.1/x",
    "rtsp://255.255.255.255/x",
]


def test_a_stream_url_at_a_metadata_address_is_refused_in_every_spelling(api: Any, resolver: Names) -> None:
    assert refusals(api("admin"), "/api/v1/cameras/", "stream_url", METADATA_SPELLINGS) == []


def test_a_stream_url_whose_name_resolves_to_a_metadata_address_is_refused(api: Any, resolver: Names) -> None:
    resolver["metadata.google.internal"] = ["169.254.169.254"]
    resolver["cam.example.test"] = ["10.0.0.5", "169.254.169.254"]  # one bad answer among good ones
    resolver["cam6.example.test"] = ["::ffff:169.254.169.254"]
    resolver["alibaba.example.test"] = ["100.100.100.200"]
    urls = ["http://metadata.google.internal/computeMetadata/v1/", "http://metadata.google.internal./x",
            "rtsp://cam.example.test/x", "rtsp://CAM6.example.test/x", "rtsp://alibaba.example.test/x"]
    assert refusals(api("admin"), "/api/v1/cameras/", "stream_url", urls) == []


def test_cameras_on_private_networks_and_names_not_resolving_yet_are_accepted(api: Any, resolver: Names) -> None:
    resolver["nvr.example.test"] = ["192.168.1.20"]
    urls = ["rtsp://10.0.0.1:554/x", "rtsp://192.168.1.20/Streaming/Channels/101", "rtsp://127.0.0.1:8554/cam",
            "rtsp://[fd00::5]:554/x", "rtsp://100.64.3.4/tailscale", "rtsp://nvr.example.test/x",
            "rtsp://cam-7.lan/not-in-dns-yet", "https://cam.example.test:8443/video.mjpg?res=hd&fps=5",
            "rtsp://u:p%40ss@10.0.0.2/x"]
    assert accepted(api("admin"), "/api/v1/cameras/", "stream_url", urls) == []


MALFORMED = [
    "rtsp://[10.0.0.1/x", "rtsp://10.0.0.1]/x", "rtsp://[::1/x", "rtsp://[not-an-ip]/x",
    "rtsp://10.0.0.1:99999/x", "rtsp://10.0.0.1:65536/x", "rtsp://10.0.0.1:0/x", "rtsp://10.0.0.1:-1/x",
    "rtsp://10.0.0.1:abc/x", "rtsp://10.0.0.1:554:80/x", "rtsp://%31%30.0.0.1/x", "rtsp://cam\\@10.0.0.1/x",
    "rtsp://cam_with*star/x",
]

CONTROL = [
    "rtsp://10.0.0.1/x\r\nCSeq: 9\r\n", "rtsp://10.0.0.1/x\nX: y", "rtsp://10.0.0.1/x\rX", "rtsp://10.0.0.1/a\tb",
    "rtsp://10.0.0.1/a b", "rtsp://10.0.0.1/x\x00", "rtsp://10.0.0.1/x\x7f", "rtsp://10.0.0.1/x\x1b[31m",
    "rtsp://10.0.0.1/x\u2028y", "rtsp://10.0.0.1/x\u00a0y", "rtsp://10.0.0.1/x\u200by", "rtsp://10.0.0.1/x\u0085y",
    "rtsp://10.0.\t0.1/x", "rtsp://user\r\n:pw@10.0.0.1/x", "rtsp://10.0.0.1/x?a=1\r\nb",
]


def test_malformed_stream_urls_and_bad_ports_are_a_400_naming_the_field(api: Any, resolver: Names) -> None:
    assert refusals(api("admin"), "/api/v1/cameras/", "stream_url", MALFORMED) == []


def test_control_characters_and_spaces_in_a_stream_url_are_refused(api: Any, resolver: Names) -> None:
    assert refusals(api("admin"), "/api/v1/cameras/", "stream_url", CONTROL) == []


def test_a_camera_edit_cannot_slip_a_control_character_in_either(api: Any, resolver: Names) -> None:
    admin = api("admin")
    camera = admin.post("/api/v1/cameras/", {"name": "gate", "stream_url": "rtsp://10.0.0.1/x"}, format="json").json()
    response = admin.patch(f"/api/v1/cameras/{camera['id']}/", {"stream_url": "rtsp://10.0.0.1/x\r\nA: b"}, format="json")
    assert response.status_code == 400 and "stream_url" in response.json()


def test_control_characters_in_camera_credentials_are_refused_as_in_the_url(api: Any, root: Any) -> None:
    """ffmpeg percent-decodes the user info and writes the user name into its Digest
    Authorization header: a CR/LF there is header injection, whichever way it was typed."""
    admin = api("admin")
    missed = []
    for fields, field in [({"username": "a\r\nX-Injected: 1", "password": "pw"}, "username"),
                          ({"username": "a", "password": "pw\nX: 1"}, "password"),
                          ({"username": "a\x00", "password": "pw"}, "username"),
                          ({"stream_url": "rtsp://a%0d%0aX-Injected:%201:pw@10.0.0.1/x"}, "stream_url"),
                          ({"stream_url": "rtsp://a:p%0Aw@10.0.0.1/x"}, "stream_url")]:
        payload = {"name": uuid.uuid4().hex[:10], "stream_url": "rtsp://10.0.0.1/x", **fields}
        response = admin.post("/api/v1/cameras/", payload, format="json")
        if response.status_code != 400 or field not in response.json():
            missed.append(f"{fields} -> {response.status_code} {response.content[:200]!r}")
    assert missed == []
    spaced = admin.post("/api/v1/cameras/", {"name": "spaced", "stream_url": "rtsp://10.0.0.1/x", "username": "ad min",
                                             "password": "correct horse battery"}, format="json")
    assert spaced.status_code == 201, spaced.json()  # spaces are fine in a password

    form = {**camera_form("rtsp://10.0.0.1/x"), "username": "a\r\nX-Injected: 1", "password": "pw"}
    response = root.post(reverse("admin:cameras_camera_add"), form)
    assert response.status_code == 200 and "username" in form_errors(response)


def test_the_capture_worker_never_sends_a_control_character_from_stored_credentials(
    live_db: Any, settings: Any, tmp_path: Path
) -> None:
    """A row stored before the check: the worker refuses to connect rather than inject headers."""
    import threading

    from capture_helpers import LoopThread, clear_lease_grace, wait_for

    from controlplane.cameras.models import Camera
    from controlplane.core.redis import client
    from workers.status import read_status

    listener = socket.create_server(("127.0.0.1", 0))
    received: list[bytes] = []

    def serve() -> None:  # an RTSP server that asks for Digest authentication, and records requests
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            data = b""
            while chunk := conn.recv(65536):
                data += chunk
                while b"\r\n\r\n" in data:
                    request, data = data.split(b"\r\n\r\n", 1)
                    received.append(request)
                    cseq = next(line for line in request.split(b"\r\n") if line.lower().startswith(b"cseq"))
                    conn.sendall(b"RTSP/1.0 401 Unauthorized\r\n" + cseq + b"\r\n"
                                 b'WWW-Authenticate: Digest realm="cam", nonce="n0"\r\n\r\n')
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    settings.STORAGE_ROOT = tmp_path / "storage"
    clear_lease_grace()
    camera = Camera(name="injected", stream_url=f"rtsp://127.0.0.1:{listener.getsockname()[1]}/x")
    camera.credentials = Camera.credentials_for("a", "pw").replace('"a"', '"a\\r\\nX-Injected: 1"')
    camera.save()
    try:
        with LoopThread(camera.pk):
            status = wait_for(lambda: (s := read_status(client(), [camera.pk])[camera.pk]).get("last_error") and s,
                              timeout=15)
    finally:
        listener.close()
    assert not any(b"\nX-Injected" in request for request in received), received
    assert "control character" in status["last_error"]


# --- file: URLs ---------------------------------------------------------------------------------
@pytest.fixture
def media(tmp_path: Path, settings: Any) -> Path:
    """A media directory with one clip, admitted by PANOPTES_MEDIA_DIRS; a secret file beside it."""
    root = (tmp_path / "media").resolve()
    (root / "sub").mkdir(parents=True)
    (root / "clip.mp4").write_bytes(b"\0" * 16)
    (tmp_path / "secret.txt").write_text("not for cameras")
    settings.MEDIA_DIRS = [root]
    return root


def test_only_the_canonical_file_url_form_inside_a_media_directory_is_accepted(api: Any, media: Path) -> None:
    admin = api("admin")
    m = str(media)
    parent = media.parent
    refused = [
        f"file:{m}/clip.mp4",  # no authority: ffmpeg would open it, but only one spelling is accepted
        f"file://localhost{m}/clip.mp4",
        f"file://x/../..{m}/clip.mp4",  # ffmpeg opens //x/../..<m>/clip.mp4: host + path
        f"file://x/../../etc/passwd?{m}/clip.mp4",
        f"file://{parent.parts[1]}{m}/clip.mp4",  # the host is the first folder: ffmpeg opens //<it><m>/...
        f"file://{m}/clip.mp4?../../secret.txt",  # ffmpeg opens the query too
        f"file://{m}/clip.mp4#x",
        f"file://{m}/sub/../clip.mp4",
        f"file://{m}/./clip.mp4",
        f"file://{m}//clip.mp4",
        f"file:///{m}/clip.mp4",  # four slashes
        f"file://{m}/clip%2Emp4",  # ffmpeg does not decode: it would look for "clip%2Emp4"
        f"file://{m}/%2e%2e/secret.txt",
        f"file://{m}/../secret.txt",
        f"file://{m}/",
        f"file://{m}/missing.mp4",
        "file:///etc/passwd",
        "file:clip.mp4",
        "file://",
    ]
    assert refusals(admin, "/api/v1/cameras/", "stream_url", refused) == []
    assert accepted(admin, "/api/v1/cameras/", "stream_url", [f"file://{m}/clip.mp4"]) == []


def test_the_capture_worker_opens_only_the_checked_path_even_for_a_row_stored_unchecked(
    live_db: Any, media: Path, settings: Any, tmp_path: Path
) -> None:
    """A row written before this check (or by SQL) cannot make ffmpeg open another file: with the
    host smuggled in (``file://tmp/...``), ffmpeg would open ``//tmp/...``, which the old check
    never looked at. The worker opens the canonical, checked path; the capture loop runs for real."""
    import shutil

    from capture_helpers import LoopThread, clear_lease_grace, wait_for
    from rtsp import VIDEOS

    from controlplane.cameras.models import Camera
    from controlplane.core.redis import client
    from workers.status import read_status

    settings.STORAGE_ROOT = tmp_path / "storage"
    clear_lease_grace()
    shutil.copy(VIDEOS["onebyone"], media / "clip.mp4")
    first, rest = str(media).lstrip("/").split("/", 1)
    smuggled = Camera.objects.create(name="smuggled", stream_url=f"file://{first}/{rest}/clip.mp4")
    canonical = Camera.objects.create(name="canonical", stream_url=f"file://{media}/clip.mp4")

    def status(camera: Any) -> dict[str, str]:
        return read_status(client(), [camera.pk])[camera.pk]

    with LoopThread(smuggled.pk):
        refused = wait_for(lambda: (s := status(smuggled)).get("last_error") and s, timeout=15)
    assert refused["state"] == "backoff" and "canonical" in refused["last_error"]
    with LoopThread(canonical.pk):
        wait_for(lambda: status(canonical).get("state") == "streaming", timeout=15)


def test_the_capture_worker_does_not_follow_an_http_stream_redirect(live_db: Any, settings: Any, tmp_path: Path) -> None:
    """A public stream URL that answers 302 to the metadata address must not be followed: the
    check saw only the first host (ffmpeg follows redirects unless told not to)."""
    import http.server
    import threading

    from capture_helpers import LoopThread, clear_lease_grace, wait_for

    from controlplane.cameras.models import Camera
    from controlplane.core.redis import client
    from workers.status import read_status

    hits: list[str] = []

    class Redirecting(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            hits.append(self.path)
            self.send_response(302 if self.path == "/live" else 404)
            self.send_header("Location", "/latest/meta-data/")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirecting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.STORAGE_ROOT = tmp_path / "storage"
    clear_lease_grace()
    camera = Camera.objects.create(name="redirect", stream_url=f"http://127.0.0.1:{server.server_address[1]}/live")
    try:
        with LoopThread(camera.pk):
            wait_for(lambda: read_status(client(), [camera.pk])[camera.pk].get("last_error"), timeout=15)
    finally:
        server.shutdown()
    assert "/live" in hits and "/latest/meta-data/" not in hits


# --- webhook URLs -------------------------------------------------------------------------------
def endpoint_payload(**fields: Any) -> dict[str, Any]:
    return {"secret": GOOD_SECRET, **fields}


def test_webhooks_to_the_shared_address_space_and_embedded_private_addresses_are_refused(
    api: Any, resolver: Names, settings: Any
) -> None:
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]  # as in the test suite: loopback itself is admitted
    resolver["rebind.example.test"] = ["93.184.216.34", "100.100.100.200"]
    urls = [
        "http://100.100.100.200/latest/meta-data/", "http://100.64.0.1/x", "http://100.127.255.254/x",
        "http://[2002:7f00:1::1]/x", "http://[2002:a9fe:a9fe::]/x", "http://[2002:0a00:0001::]/x",  # 6to4
        "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/x",  # Teredo, client 127.0.0.1 (inverted bits)
        "http://[64:ff9b::7f00:1]/x", "http://[64:ff9b::a9fe:a9fe]/x", "http://[64:ff9b:1::a9fe:a9fe]/x",  # NAT64
        "http://[::ffff:a9fe:a9fe]/x", "http://[::169.254.169.254]/x", "http://[::ffff:0:a9fe:a9fe]/x",
        "http://[fec0::1]/x", "http://[fd00:ec2::254]/x", "http://198.18.0.1/x", "http://192.0.0.192/x",
        "http://0.1.2.3/x", "http://192.0.2.1/x", "http://240.0.0.1/x", "http://224.0.0.251/x",
        "http://rebind.example.test/x",
    ]
    assert refusals(api("admin"), "/api/v1/endpoints/", "url", urls, **endpoint_payload()) == []


def test_malformed_webhook_urls_bad_ports_and_control_characters_are_a_400(api: Any, resolver: Names) -> None:
    urls = ["http://[10.0.0.1/x", "http://[93.184.216.34]/x", "http://93.184.216.34:99999/x",
            "http://93.184.216.34:65536/x", "http://93.184.216.34:0/x", "http://93.184.216.34/x\r\nX-Injected: 1",
            "http://93.184.216.34/x\u2028y", "http://93.184.216.34/a b", "http://0x5db8d822/x"]
    assert refusals(api("admin"), "/api/v1/endpoints/", "url", urls, **endpoint_payload()) == []


def test_public_webhooks_are_accepted_even_through_nat64(api: Any, resolver: Names) -> None:
    resolver["hooks.example.test"] = ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"]
    urls = ["https://93.184.216.34/hook", "https://hooks.example.test:8443/hook?x=1",
            "http://[64:ff9b::5db8:d822]/hook", "https://[2606:2800:220:1:248:1893:25c8:1946]/hook"]
    assert accepted(api("admin"), "/api/v1/endpoints/", "url", urls, **endpoint_payload()) == []


# --- webhook secrets ----------------------------------------------------------------------------
BAD_SECRETS = [
    "whsec_" + "@" * 24,  # not base64
    "whsec_" + base64.b64encode(b"0123456789").decode(),  # 10 bytes: too short a key
    "whsec_" + base64.urlsafe_b64encode(b"\xfb\xff" * 12).decode(),  # URL-safe alphabet: "-_" would be dropped
    "whsec_ " + base64.b64encode(b"panoptes-test-secret-0123456789").decode(),
]


def test_a_webhook_secret_that_cannot_sign_is_refused(api: Any) -> None:
    admin = api("admin")
    missed = []
    for secret in BAD_SECRETS:
        response = admin.post("/api/v1/endpoints/", {"name": uuid.uuid4().hex[:10], "url": "https://93.184.216.34/h",
                                                     "secret": secret}, format="json")
        if response.status_code != 400 or "secret" not in response.json():
            missed.append(f"{secret!r} -> {response.status_code}")
    assert missed == []
    good = admin.post("/api/v1/endpoints/", {"name": "ok", "url": "https://93.184.216.34/h", "secret": GOOD_SECRET},
                      format="json")
    assert good.status_code == 201, good.json()


def test_an_endpoint_stored_with_a_secret_that_cannot_sign_is_dead_lettered_with_the_reason(live_db: Any) -> None:
    """A row from before this check: no retrying forever on an internal error."""
    from test_alarm_delivery import make_alarm

    from controlplane.alarms.models import AlarmDelivery, WebhookEndpoint
    from controlplane.cameras.models import Camera
    from workers.delivery import deliver

    camera = Camera.objects.create(name="gate", stream_url="rtsp://10.0.0.1/s")
    WebhookEndpoint.objects.create(name="broken", url="https://93.184.216.34/h", secret="whsec_@@@@@@@@@@@@@@@@")
    row = AlarmDelivery.objects.get(alarm=make_alarm(camera))
    assert deliver(row.pk) == "dead"
    row.refresh_from_db()
    assert "secret" in row.last_response


# --- the admin forms ----------------------------------------------------------------------------
@pytest.fixture
def root(live_db: Any) -> Client:
    from django.contrib.auth.models import User

    client = Client()
    client.force_login(User.objects.create_superuser(username=f"root-{uuid.uuid4().hex[:6]}", password="Pw-1-x"))
    return client


def camera_form(stream_url: str) -> dict[str, str]:
    return {"name": uuid.uuid4().hex[:10], "stream_url": stream_url, "enabled": "on", "site": "", "location": "",
            "tags": "[]", "detector_model": "", "segment_seconds": "5", "detect_fps": "5.0", "detect_width": "",
            "detect_height": "", "retention_hours": "72", "username": "", "password": "",
            "zones-TOTAL_FORMS": "0", "zones-INITIAL_FORMS": "0", "zones-MIN_NUM_FORMS": "0",
            "zones-MAX_NUM_FORMS": "1000"}


def form_errors(response: Any) -> Any:
    return response.context["adminform"].form.errors if response.context else None


def test_the_admin_forms_show_bad_urls_and_secrets_as_field_errors(root: Client, resolver: Names) -> None:
    missed = []
    for stream_url in ["rtsp://[10.0.0.1/x", "rtsp://10.0.0.1:99999/x", "rtsp://0xa9fea9fe/x",
                       "rtsp://10.0.0.1/x\r\nCSeq: 1"]:
        response = root.post(reverse("admin:cameras_camera_add"), camera_form(stream_url))
        errors = form_errors(response)
        if response.status_code != 200 or not errors or "stream_url" not in errors:
            missed.append(f"camera {stream_url!r} -> {response.status_code}")
    hook = {"enabled": "on", "min_severity": "info", "algorithms": "[]"}
    for url, secret in [("http://[10.0.0.1/x", GOOD_SECRET), ("http://93.184.216.34:99999/x", GOOD_SECRET),
                        ("http://100.100.100.200/x", GOOD_SECRET), ("https://93.184.216.34/h", BAD_SECRETS[0]),
                        ("https://93.184.216.34/h", BAD_SECRETS[1])]:
        response = root.post(reverse("admin:alarms_webhookendpoint_add"),
                             {**hook, "name": uuid.uuid4().hex[:10], "url": url, "secret": secret})
        errors = form_errors(response)
        field = "url" if secret == GOOD_SECRET else "secret"
        if response.status_code != 200 or not errors or field not in errors:
            missed.append(f"endpoint {url!r} {secret[:12]!r} -> {response.status_code} {errors}")
    assert missed == []


# --- URLs from the environment ------------------------------------------------------------------
def test_the_mqtt_and_public_urls_from_the_environment_refuse_control_characters_and_bad_ports(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from django.core.exceptions import ImproperlyConfigured

    from controlplane.env import env_url

    for value in ["mqtt://broker\r\n:1883", "mqtt://bro ker:1883", "mqtt://broker:99999", "mqtt://[broker:1883",
                  "http://broker:1883", "mqtt://broker:1883/\x1b[0m"]:
        monkeypatch.setenv("X_MQTT", value)
        with pytest.raises(ImproperlyConfigured, match="X_MQTT"):
            env_url("X_MQTT", schemes=("mqtt", "mqtts"))
    monkeypatch.setenv("X_MQTT", "mqtts://u:p%40ss@broker.example.test:8883")
    assert env_url("X_MQTT", schemes=("mqtt", "mqtts")) == "mqtts://u:p%40ss@broker.example.test:8883"
    monkeypatch.delenv("X_MQTT")
    assert env_url("X_MQTT", schemes=("mqtt", "mqtts")) == ""

    # And the settings use it: a worker refuses to start with a newline in its MQTT URL.
    import subprocess
    import sys

    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("PANOPTES_MQTT")}
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=Path(__file__).resolve().parent.parent,
                            env={**env, "PANOPTES_MQTT_URL": "mqtt://broker:1883\r\nX", "PANOPTES_VAR_DIR": str(tmp_path)},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "PANOPTES_MQTT_URL" in result.stderr
