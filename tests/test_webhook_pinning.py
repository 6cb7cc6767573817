"""A webhook goes to the address that was checked, on every attempt (DNS rebinding), to a real receiver.

The DNS answers are patched (``answers``): no DNS server exists here, and the point is an answer
that changes between the check and the connect. 127.0.0.2 stands for a public address: it is the
only one admitted (PANOPTES_WEBHOOK_ALLOWED_NETWORKS), and nothing listens there. The receiver
listens on 127.0.0.1, which is refused: a request in its log is a request that reached loopback.
"""
from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_alarm_delivery import attempt, camera, endpoint, make_alarm  # noqa: F401 (camera is a fixture)

HOST = "hooks.example.test"


class Answers:
    """``answers.script(HOST, ["127.0.0.2"], ["127.0.0.1"])``: the first lookup gets the first list,
    later lookups the next one (the last repeats); a list item may be an exception to raise."""

    def __init__(self) -> None:
        self.scripts: dict[str, list[Any]] = {}
        self.lookups: dict[str, int] = {}

    def script(self, host: str, *answers: Any) -> None:
        self.scripts[host] = list(answers)
        self.lookups[host] = 0

    def answer(self, host: str, port: Any) -> list[Any]:
        n = self.lookups[host]
        self.lookups[host] = n + 1
        answer = self.scripts[host][min(n, len(self.scripts[host]) - 1)]
        if isinstance(answer, BaseException):
            raise answer
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (a, int(port or 0))) for a in answer]


@pytest.fixture
def answers(monkeypatch: pytest.MonkeyPatch) -> Answers:
    state = Answers()
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name in state.scripts:
            return state.answer(name, port)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return state


def test_a_dns_answer_that_changes_after_the_check_never_reaches_loopback(
    camera: Any, webhook_receiver: Callable[..., Any], answers: Answers, settings: Any  # noqa: F811
) -> None:
    from controlplane.alarms.models import AlarmDelivery

    receiver = webhook_receiver({"/hook": "200"})
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.2/32"]
    answers.script(HOST, ["127.0.0.2"], ["127.0.0.1"])
    endpoint(f"http://{HOST}:{receiver.port}/hook")
    row = AlarmDelivery.objects.get(alarm=make_alarm(camera))

    # Attempt 1: checked 127.0.0.2 and connected there (refused: nothing listens), not to 127.0.0.1.
    assert attempt(row).startswith("retry in")
    row.refresh_from_db()
    assert receiver.requests() == []
    assert row.last_response.startswith("connection error") and '"ok"' not in row.last_response
    assert answers.lookups[HOST] == 1  # one lookup: the one that was checked

    # Attempt 2: the new answer is checked before anything is sent, and refused for good.
    assert attempt(row) == "dead"
    row.refresh_from_db()
    assert receiver.requests() == [] and "127.0.0.1" in row.last_response and '"ok"' not in row.last_response


def test_a_pinned_delivery_keeps_the_host_name_and_tries_each_checked_address(
    camera: Any, webhook_receiver: Callable[..., Any], answers: Answers  # noqa: F811
) -> None:
    from controlplane.alarms.models import AlarmDelivery

    receiver = webhook_receiver({"/hook": "200"})
    answers.script(HOST, ["127.0.0.2", "127.0.0.1"])  # both admitted; the first one does not answer
    endpoint(f"http://{HOST}:{receiver.port}/hook?tenant=7")
    row = AlarmDelivery.objects.get(alarm=make_alarm(camera))
    assert attempt(row) == "delivered"
    [request] = receiver.requests()
    assert request["path"] == "/hook?tenant=7"
    assert request["headers"]["Host"] == f"{HOST}:{receiver.port}"
    assert request["headers"]["webhook-id"] == row.message_id
    assert answers.lookups[HOST] == 1


def test_a_temporary_dns_failure_is_retried_with_backoff_not_dead_lettered(
    camera: Any, webhook_receiver: Callable[..., Any], answers: Answers  # noqa: F811
) -> None:
    from controlplane.alarms.models import AlarmDelivery

    receiver = webhook_receiver({"/hook": "200"})
    answers.script(HOST, socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution"),
                   socket.gaierror(socket.EAI_NONAME, "Name or service not known"), ["127.0.0.1"])
    endpoint(f"http://{HOST}:{receiver.port}/hook")
    row = AlarmDelivery.objects.get(alarm=make_alarm(camera))
    assert attempt(row).startswith("retry in")
    row.refresh_from_db()
    assert row.state == "pending" and "resolve" in row.last_response
    assert attempt(row).startswith("retry in")  # a name gone for a moment (a DNS change in flight) too
    assert attempt(row) == "delivered"
    assert len(receiver.requests("/hook")) == 1


# --- HTTPS: SNI and the certificate are the host name's, the connection the checked address's ------
def make_certificates(tmp: Path, name: str) -> tuple[Path, Path, Path]:
    """A test CA and a server certificate for ``name`` signed by it: (ca.pem, cert.pem, key.pem)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "panoptes test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
          .not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = tmp / f"{name}-ca.pem", tmp / f"{name}-cert.pem", tmp / f"{name}-key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


@pytest.fixture
def trust(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path], None]:
    """Trust a test CA instead of the public ones (no public CA signs for a test host name here)."""
    import ssl

    import workers.delivery

    def use(ca: Path) -> None:
        context = ssl.create_default_context(cafile=str(ca))
        monkeypatch.setattr(workers.delivery, "tls_context", lambda: context)

    return use


def test_https_to_a_pinned_address_checks_the_certificate_of_the_host_name(
    camera: Any, webhook_receiver: Callable[..., Any], answers: Answers, trust: Callable[[Path], None],  # noqa: F811
    tmp_path: Path,
) -> None:
    from controlplane.alarms.models import AlarmDelivery

    ca, cert, key = make_certificates(tmp_path, HOST)
    trust(ca)
    receiver = webhook_receiver({"/hook": "200"}, tls=(cert, key))
    answers.script(HOST, ["127.0.0.1"])
    endpoint(f"https://{HOST}:{receiver.port}/hook")
    row = AlarmDelivery.objects.get(alarm=make_alarm(camera))
    assert attempt(row) == "delivered"
    [request] = receiver.requests()
    assert request["sni"] == HOST and request["headers"]["Host"] == f"{HOST}:{receiver.port}"

    # The same receiver under another name: its certificate does not match, nothing is sent.
    answers.script("other.example.test", ["127.0.0.1"])
    other = endpoint(f"https://other.example.test:{receiver.port}/hook")
    row = AlarmDelivery.objects.get(alarm=make_alarm(camera), endpoint=other)
    assert attempt(row).startswith("retry in")
    row.refresh_from_db()
    assert "certificate" in row.last_response.lower() and len(receiver.requests()) == 1
