"""Validators for user-supplied URLs (DESIGN §11): scheme allow-lists and an SSRF guard.

Used by model fields (so the API and the admin both name the field in errors) and again by the
webhook sender at delivery time, since DNS answers can change after validation.
"""
from __future__ import annotations

import ipaddress
import socket
from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

STREAM_SCHEMES = ("rtsp", "rtsps", "http", "https")
WEBHOOK_SCHEMES = ("http", "https")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def resolve(host: str) -> list[IPAddress]:
    """All addresses a host name resolves to (an IP literal resolves to itself)."""
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        raise ValidationError(f"host {host!r} does not resolve") from None
    return sorted({ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos}, key=str)


def _allowed(addr: IPAddress) -> bool:
    for net in settings.WEBHOOK_ALLOWED_NETWORKS:
        if addr in ipaddress.ip_network(net, strict=False):
            return True
    return False


def check_public_address(addr: IPAddress) -> None:
    """Refuse addresses a webhook must never reach (cloud metadata, loopback, private LANs)."""
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    if _allowed(addr):
        return
    if addr.is_link_local:
        raise ValidationError(f"{addr} is a link-local address (cloud metadata lives there)")
    if addr.is_loopback or addr.is_private or addr.is_reserved or addr.is_multicast or addr.is_unspecified:
        raise ValidationError(
            f"{addr} is a private or reserved address; admit it with PANOPTES_WEBHOOK_ALLOWED_NETWORKS"
        )


def validate_webhook_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in WEBHOOK_SCHEMES:
        raise ValidationError(f"scheme must be one of {', '.join(WEBHOOK_SCHEMES)}")
    if not parts.hostname:
        raise ValidationError("URL has no host")
    if parts.username or parts.password:
        raise ValidationError("put credentials in the endpoint's secret, not in the URL")
    for addr in resolve(parts.hostname):
        check_public_address(addr)


def validate_stream_url(url: str) -> None:
    """Camera stream URLs: rtsp/rtsps/http/https, or file: under PANOPTES_MEDIA_DIRS.

    Private addresses are allowed (cameras live on private networks); link-local, multicast
    and unspecified addresses are not, so a stream URL cannot be used to probe cloud metadata.
    """
    parts = urlsplit(url)
    if parts.scheme == "file":
        _validate_media_file(unquote(parts.path))
        return
    if parts.scheme not in STREAM_SCHEMES:
        raise ValidationError(f"scheme must be one of {', '.join(STREAM_SCHEMES)} (file: only under a media directory)")
    if not parts.hostname:
        raise ValidationError("URL has no host")
    try:
        addr = ipaddress.ip_address(parts.hostname.strip("[]"))
    except ValueError:
        return  # a name: cameras are often on local DNS that this host may not resolve yet
    if addr.is_link_local or addr.is_multicast or addr.is_unspecified:
        raise ValidationError(f"{addr} is not an address a camera can have")


def _validate_media_file(path: str) -> None:
    if not settings.MEDIA_DIRS:
        raise ValidationError("file: URLs are refused (no PANOPTES_MEDIA_DIRS configured)")
    resolved = Path(path).resolve()
    if not any(resolved.is_relative_to(d) for d in settings.MEDIA_DIRS):
        raise ValidationError("file: URL is outside the configured media directories")
    if not resolved.is_file():
        raise ValidationError("file does not exist")
