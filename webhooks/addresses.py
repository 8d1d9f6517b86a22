"""Where a webhook may be sent: http(s) URLs whose host resolves only to public addresses.

The check runs at registration and again at every attempt, on the addresses the name resolves
to then, and the attempt connects to the address that was checked: a name that re-resolves to
an internal address between the check and the connection (DNS rebinding) reaches nothing.
"""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

SCHEMES = {"http": 80, "https": 443}
# NAT64 (RFC 6052) prefix: its addresses carry an IPv4 address the gateway connects to.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class URLRefused(Exception):
    """The URL is not one a webhook may be sent to; the message says why, for its owner."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # as sent in the Host header and in TLS SNI (ASCII)
    port: int
    path: str  # path and query
    address: str  # the checked IP address to connect to

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == SCHEMES[self.scheme] else f"{host}:{self.port}"


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    if ip.version != 6:
        return None
    if ip.ipv4_mapped or ip.sixtofour or ip.teredo:
        return ip.ipv4_mapped or ip.sixtofour or ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def refusal(ip: IPAddress) -> str | None:
    """Why a webhook may not go to this address, or None when it may."""
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        return refusal(embedded)
    kinds = (
        ("is_loopback", "a loopback address"),
        ("is_link_local", "a link-local address (where cloud metadata services answer)"),
        ("is_unspecified", "an unspecified address"),
        ("is_multicast", "a multicast address"),
        ("is_reserved", "a reserved address"),
        ("is_private", "a private address"),
    )
    for attribute, kind in kinds:
        if getattr(ip, attribute):
            return kind
    return None if ip.is_global else "not a public address"


def _parse(url: str) -> tuple[str, str, int, str]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise URLRefused(f"The URL is not valid: {exc}.")
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise URLRefused("Only http and https URLs are allowed.")
    if not parts.hostname:
        raise URLRefused("The URL has no host.")
    if parts.username is not None or parts.password is not None:
        raise URLRefused("Credentials in the URL are not supported; verify the signature instead.")
    try:
        host = parts.hostname.encode("idna").decode("ascii")
    except UnicodeError:
        raise URLRefused("The host name is not valid.")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return scheme, host, port or SCHEMES[scheme], path


def _addresses(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise URLRefused(f"The host name {host} does not resolve.")
    # An IPv6 answer may carry a zone ("fe80::1%eth0"); the address is what is checked.
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in found))


def resolve(url: str) -> Target:
    """The URL's target, resolved now, with the address to connect to; URLRefused when the URL
    or any address its host resolves to is not allowed."""
    scheme, host, port, path = _parse(url)
    addresses = _addresses(host, port)
    if not settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES:
        for ip in addresses:
            reason = refusal(ip)
            if reason:
                raise URLRefused(f"Refused: {host} resolves to {ip}, {reason}.")
    return Target(scheme=scheme, host=host, port=port, path=path, address=str(addresses[0]))
