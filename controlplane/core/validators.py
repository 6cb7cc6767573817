"""Validators for user-supplied URLs and webhook secrets (DESIGN §11): scheme allow-lists, an SSRF
guard, and one canonical form for `file:` URLs.

Used by model fields (so the API and the admin both name the field in errors); by the webhook
sender at delivery time (``webhook_target``: it resolves once and connects only to the addresses
checked here, since DNS answers change); and by the capture worker (``media_file_target``: it
opens the path checked here).

What a URL's host means is decided the way the programs that connect read it: libc's
``getaddrinfo`` takes inet_aton spellings (``0xa9fea9fe``, ``2852039166``, ``0251.0376.0251.0376``,
``169.254.43518`` are all 169.254.169.254), so a host that libc would read as a number must be
written as four decimal numbers; ffmpeg's file protocol opens everything after ``file:`` as one
literal path, so only ``file:///absolute/path`` is accepted.
"""
from __future__ import annotations

import base64
import binascii
import ipaddress
import posixpath
import re
import socket
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import SplitResult, unquote, urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

STREAM_SCHEMES = ("rtsp", "rtsps", "http", "https")
WEBHOOK_SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443, "rtsp": 554, "rtsps": 322}

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _networks(*cidrs: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(c) for c in cidrs)


# Never a webhook's address (unless PANOPTES_WEBHOOK_ALLOWED_NETWORKS admits it): the IANA special-
# purpose registries, spelled out because ``is_global`` differs between Python versions (3.11
# calls 2002::/16 global). 100.64.0.0/10 is shared address space: 100.100.100.200 is a cloud
# metadata service. 64:ff9b::/96 (NAT64) is absent on purpose: its IPv4 address is checked instead.
WEBHOOK_FORBIDDEN = _networks(
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24",
    "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24",
    "224.0.0.0/4", "240.0.0.0/4",
    "::/96", "::ffff:0:0/96", "::ffff:0:0:0/96", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32",
    "2002::/16", "3fff::/20", "5f00::/16", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
)
# Never a camera's address: cameras live on private networks and loopback (tests, local
# restreamers), but not on link-local (cloud metadata), multicast, "this network" or broadcast,
# nor at the metadata services that sit elsewhere (Alibaba Cloud, Oracle Cloud, AWS over IPv6).
CAMERA_FORBIDDEN = _networks(
    "0.0.0.0/8", "169.254.0.0/16", "224.0.0.0/4", "255.255.255.255/32", "100.100.100.200/32", "192.0.0.192/32",
    "::/128", "fe80::/10", "ff00::/8", "fd00:ec2::254/128",
)
# IPv6 forms this host itself connects to as the IPv4 address they carry (dual-stack sockets: mapped,
# SIIT-translated, the old "compatible" form); NAT64, 6to4 and Teredo go through a gateway or relay.
_LOCAL_IPV4_FORMS = _networks("::ffff:0:0/96", "::ffff:0:0:0/96", "::/96")
_NAT64 = _networks("64:ff9b::/96")

_LABEL = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?")
_NUMBER = re.compile(r"0x[0-9a-f]*|[0-9]+")  # what inet_aton reads as (part of) an IPv4 address


class UnresolvedHost(ValidationError):
    """The host name did not resolve (perhaps for a moment): the webhook sender retries later,
    a camera URL is accepted (cameras are often on local DNS that this host does not see yet)."""


# --- the URL itself ------------------------------------------------------------------------------
def check_characters(url: str) -> None:
    """Refuse control characters (CR/LF/tab: header injection into ffmpeg's RTSP or HTTP request),
    spaces and other invisible characters anywhere in a URL. ``urlsplit`` silently drops tabs and
    newlines, so this looks at the URL as it will be stored and handed over."""
    for i, ch in enumerate(url):
        if ch.isspace() or unicodedata.category(ch)[0] == "C":
            raise ValidationError(
                f"URL holds a control character or space ({ch!r} at position {i}); percent-encode it"
            )


def validate_credential(value: str) -> None:
    """A camera's user name or password: no control characters (spaces are fine). ffmpeg percent-
    decodes the URL's user info and writes the user name into its Digest Authorization header."""
    for ch in value:
        if unicodedata.category(ch)[0] == "C":
            raise ValidationError(f"holds a control character ({ch!r})")


def split_url(url: str, schemes: tuple[str, ...]) -> SplitResult:
    """``urlsplit`` that refuses, as ValidationErrors, what would otherwise raise or mislead later:
    control characters, malformed brackets, ports outside 1-65535, schemes not in ``schemes``."""
    check_characters(url)
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise ValidationError(f"malformed URL: {exc}") from None
    if parts.scheme not in schemes:
        raise ValidationError(f"scheme must be one of {', '.join(schemes)}" + (
            " (file: only under a media directory)" if schemes == STREAM_SCHEMES else ""))
    hostport = parts.netloc.rpartition("@")[2]
    if "\\" in parts.netloc:
        raise ValidationError("a backslash is not allowed before the path (parsers disagree on what it means)")
    port = hostport.rpartition("]")[2] if hostport.startswith("[") else hostport
    if ":" in port:
        digits = port.partition(":")[2]
        if not (digits.isascii() and digits.isdigit() and 1 <= int(digits) <= 65535):
            raise ValidationError("the port must be a number from 1 to 65535")
    if not parts.hostname:
        raise ValidationError("URL has no host")
    return parts


def parse_host(parts: SplitResult) -> IPAddress | str:
    """The URL's host as an address (an IP literal) or as an ASCII name.

    A host that libc would read as a number (it ends in a decimal or 0x label) must be a dotted-
    quad IPv4 address written plainly: ``getaddrinfo("0xa9fea9fe")`` connects to 169.254.169.254.
    """
    host = parts.hostname or ""
    if parts.netloc.rpartition("@")[2].startswith("["):
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            raise ValidationError(f"{host!r} in brackets is not an IPv6 address") from None
    try:
        name = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise ValidationError("the host name is not a valid (internationalised) domain name") from None
    labels = name.removesuffix(".").split(".")
    if _NUMBER.fullmatch(labels[-1]):
        try:
            return ipaddress.IPv4Address(name)
        except ValueError:
            raise ValidationError("write an IPv4 address as four decimal numbers (a.b.c.d)") from None
    if len(name) > 254 or not all(_LABEL.fullmatch(label) for label in labels):
        raise ValidationError(f"{host!r} is not a valid host name")
    return name


def resolve(host: IPAddress | str) -> list[IPAddress]:
    """All addresses a host resolves to, in getaddrinfo's order (the order connections try them);
    an address resolves to itself. Raises UnresolvedHost."""
    if isinstance(host, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return [host]
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise UnresolvedHost(f"host {host!r} does not resolve ({reason})") from None
    found: dict[IPAddress, None] = {}
    for info in infos:
        found[ipaddress.ip_address(str(info[4][0]).split("%")[0])] = None
    return list(found)


def carried_ipv4(addr: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries: mapped, translated, compatible, NAT64, 6to4, Teredo."""
    if isinstance(addr, ipaddress.IPv4Address):
        return None
    if addr.sixtofour is not None:
        return addr.sixtofour
    if addr.teredo is not None:
        return addr.teredo[1]  # the client: where the relay delivers
    if any(addr in net for net in _LOCAL_IPV4_FORMS + _NAT64) and int(addr) > 1:
        return ipaddress.IPv4Address(addr.packed[12:])
    return None


# --- webhooks ------------------------------------------------------------------------------------
def _allowed(addr: IPAddress) -> bool:
    return any(addr in ipaddress.ip_network(net, strict=False) for net in settings.WEBHOOK_ALLOWED_NETWORKS)


def check_public_address(addr: IPAddress) -> None:
    """Refuse addresses a webhook must never reach (cloud metadata, loopback, private LANs, shared
    address space), also when an IPv6 form carries them."""
    if _allowed(addr):
        return
    v4 = carried_ipv4(addr)
    if v4 is not None and any(addr in net for net in _LOCAL_IPV4_FORMS):
        return check_public_address(v4)  # the connection goes to the IPv4 address itself
    for inner in ([v4] if v4 is not None else []) + [addr]:
        if inner.is_link_local:
            raise ValidationError(f"{addr} is a link-local address (cloud metadata lives there)")
        if not inner.is_global or inner.is_multicast or any(inner in net for net in WEBHOOK_FORBIDDEN):
            carried = f" (it carries {inner})" if inner is not addr else ""
            raise ValidationError(
                f"{addr} is a private or reserved address{carried}; admit it with PANOPTES_WEBHOOK_ALLOWED_NETWORKS"
            )


@dataclass(frozen=True)
class WebhookTarget:
    """A checked webhook URL: where to connect (``addresses``, each one checked) and what to say
    there (``host_header``, ``request_target``; TLS SNI and the certificate use ``hostname``)."""

    scheme: str
    hostname: str
    port: int
    request_target: str
    addresses: list[IPAddress]

    @property
    def host_header(self) -> str:
        host = f"[{self.hostname}]" if ":" in self.hostname else self.hostname
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"


def webhook_target(url: str) -> WebhookTarget:
    """Check a webhook URL and resolve its host once. Raises ValidationError (UnresolvedHost when
    the name does not resolve: the sender retries; any other refusal is for good)."""
    parts = split_url(url, WEBHOOK_SCHEMES)
    if parts.username or parts.password:
        raise ValidationError("put credentials in the endpoint's secret, not in the URL")
    host = parse_host(parts)
    addresses = resolve(host)
    for addr in addresses:
        check_public_address(addr)
    return WebhookTarget(parts.scheme, str(host), parts.port or DEFAULT_PORTS[parts.scheme],
                         (parts.path or "/") + (f"?{parts.query}" if parts.query else ""), addresses)


def validate_webhook_url(url: str) -> None:
    webhook_target(url)


WEBHOOK_KEY_MIN_BYTES = 16  # 128-bit HMAC key; Standard Webhooks' own secrets are 24 to 64 bytes


def webhook_signing_key(secret: str) -> bytes:
    """The HMAC key of a webhook secret: ``whsec_<base64>`` (Standard Webhooks) decoded, any other
    string as its UTF-8 bytes. Used by workers.delivery to sign and by WebhookEndpoint.clean."""
    if secret.startswith("whsec_"):
        encoded = secret.removeprefix("whsec_")
        try:
            key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise ValidationError("a whsec_ secret must be standard base64 after the prefix") from None
    else:
        key = secret.encode()
    if len(key) < WEBHOOK_KEY_MIN_BYTES:
        raise ValidationError(
            f"the secret gives a {len(key)}-byte signing key; at least {WEBHOOK_KEY_MIN_BYTES} bytes are needed"
        )
    return key


# --- stream URLs ---------------------------------------------------------------------------------
def check_camera_address(addr: IPAddress) -> None:
    v4 = carried_ipv4(addr)
    if v4 is not None:
        check_camera_address(v4)
    if addr.is_link_local or addr.is_multicast or addr.is_unspecified or any(addr in n for n in CAMERA_FORBIDDEN):
        shown = f"{addr}" if v4 is None else f"{addr} ({v4})"
        raise ValidationError(f"{shown} is not an address a camera can have (link-local, metadata or multicast)")


def validate_stream_url(url: str) -> None:
    """Camera stream URLs: rtsp/rtsps/http/https, or file:///path under PANOPTES_MEDIA_DIRS.

    Private addresses are allowed (cameras live on private networks); link-local, metadata,
    multicast and unspecified addresses are not, in any spelling, and neither is a name that
    resolves to one. A name that does not resolve from here is accepted (local DNS).
    """
    if url.partition(":")[0].lower() == "file":
        media_file_path(url)
        return
    parts = split_url(url, STREAM_SCHEMES)
    for part in (parts.username, parts.password):
        try:
            validate_credential(unquote(part or ""))
        except ValidationError as exc:
            raise ValidationError(f"the user info, decoded, {exc.messages[0]}") from None
    host = parse_host(parts)
    try:
        addresses = resolve(host)
    except UnresolvedHost:
        return
    for addr in addresses:
        check_camera_address(addr)


def media_file_path(url: str) -> Path:
    """The file a ``file:`` stream URL names, checked to be a file under PANOPTES_MEDIA_DIRS.

    Only ``file:///absolute/path`` is accepted, with no ``?``, ``#``, ``%``, ``.``/``..`` or
    empty segments: ffmpeg opens everything after ``file:`` literally (host, query and all,
    nothing decoded), so any other spelling could name a file other than the one checked.
    """
    check_characters(url)
    if not settings.MEDIA_DIRS:
        raise ValidationError("file: URLs are refused (no PANOPTES_MEDIA_DIRS configured)")
    path = url.removeprefix("file://")
    if not url.startswith("file:///") or path.startswith("//") or any(c in path for c in "?#%\\"):
        raise ValidationError("write a file: URL in its canonical form, file:///absolute/path (no host, ?, # or %)")
    if posixpath.normpath(path) != path:
        raise ValidationError("write a file: URL in its canonical form: no '.', '..', '//' or trailing '/'")
    resolved = Path(path).resolve()
    if not any(resolved.is_relative_to(d) for d in settings.MEDIA_DIRS):
        raise ValidationError("file: URL is outside the configured media directories")
    if not resolved.is_file():
        raise ValidationError("file does not exist")
    return resolved


def media_file_target(url: str) -> str:
    """What the capture worker hands ffmpeg for a ``file:`` URL: the checked, resolved path."""
    return f"file:{media_file_path(url)}"
