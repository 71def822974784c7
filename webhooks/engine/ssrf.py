"""The SSRF guard: which addresses a delivery may connect to (docs/contract.md section 1).

The guard sits in the HTTP client's resolver, so the address judged is the address connected to; IP
literals, which the client never resolves, are judged before the request. Through a proxy the client
resolves only the proxy: the destination is resolved and judged before the request instead
(webhooks.engine.http.Sessions.judge), and the proxy's own ACL must refuse private ranges too (docs/deploy).
By default only public addresses pass. IPv6 forms that carry an IPv4 address (IPv4-mapped and -compatible, NAT64, 6to4,
Teredo) are judged by the IPv4 address they carry, since that is where the packets end up.
"""

import ipaddress
import socket
from functools import lru_cache
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver
from aiohttp.resolver import DefaultResolver
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext as _

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

NAT64_WELL_KNOWN = ipaddress.ip_network("64:ff9b::/96")
# RFC 8215's local-use prefix: not globally reachable, and where the IPv4 address sits depends on the
# operator's prefix length (RFC 6052), so the whole range counts as not public.
NAT64_LOCAL_USE = ipaddress.ip_network("64:ff9b:1::/48")
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
# Cloud metadata services and link-local ranges: an allow-listed host name never opens these, only an
# allow-listed address or range that contains them does (a name's DNS may be changed to point there).
METADATA_NETWORKS = tuple(
    ipaddress.ip_network(network)
    for network in (
        "169.254.0.0/16",  # link-local: AWS, GCP, Azure, Oracle, Tencent Cloud (169.254.0.23) metadata
        "fe80::/10",  # IPv6 link-local
        "fd00:ec2::254/128",  # AWS metadata over IPv6
        "100.100.100.200/32",  # Alibaba Cloud metadata
    )
)


class BlockedAddressError(OSError):
    """The receiver's address is private, loopback, link-local or otherwise not public."""

    host = ""
    address = ""


def embedded_ipv4(ip: IPAddress) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (both ends of a Teredo address); [] for others."""
    if ip.version == 4:
        return []
    if ip.ipv4_mapped:
        return [ip.ipv4_mapped]
    if ip in NAT64_WELL_KNOWN or (ip in IPV4_COMPATIBLE and int(ip) > 1):  # :: and ::1 are themselves
        return [ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)]
    if ip.sixtofour:
        return [ip.sixtofour]
    if ip.teredo:
        return list(ip.teredo)
    return []


def _public(ip: IPAddress) -> bool:
    # is_global is False for loopback, private, link-local (169.254.169.254 metadata), CGNAT,
    # unique-local IPv6 (fd00:ec2::254 metadata) and reserved ranges.
    return ip.is_global and not ip.is_multicast and ip not in NAT64_LOCAL_USE


# An allow-list entry without a port opens only the web's ports; `host:port` another one, `host:*` every one.
DEFAULT_PORTS = frozenset({80, 443})
ALL_PORTS = "*"


def _allow_list():
    return _parse_allow_list(tuple(settings.WEBHOOK_ALLOWED_HOSTS))


def _split_port(entry: str) -> tuple[str, frozenset[int] | None]:
    """(host, address or range; its ports, None for every port) of `host[:port]`, `[v6]:port` or a bare v6."""
    if entry.startswith("["):
        inner, _bracket, rest = entry[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
        if rest and not port:
            raise ImproperlyConfigured(f"WEBHOOK_ALLOWED_HOSTS: {entry!r} is not host[:port].")
        entry = inner
    elif entry.count(":") == 1:
        entry, port = entry.split(":")
    else:
        port = ""  # a name, an IPv4 address or range, or an IPv6 one written without brackets
    if not port:
        return entry, DEFAULT_PORTS
    if port == ALL_PORTS:
        return entry, None
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ImproperlyConfigured(f"WEBHOOK_ALLOWED_HOSTS: {port!r} is not a port (1 to 65535, or *).")
    return entry, frozenset({int(port)})


@lru_cache(maxsize=8)
def _parse_allow_list(entries: tuple[str, ...]):
    # Parsed once per setting value, not once per request.
    hosts: dict[str, frozenset[int] | None] = {}
    networks = []
    for entry in entries:
        entry = entry.strip().lower()
        if not entry:
            continue
        name, ports = _split_port(entry)
        try:
            networks.append((ipaddress.ip_network(name, strict=False), ports))
        except ValueError:
            hosts[name.rstrip(".")] = ports
    return hosts, networks


def _port_open(ports: frozenset[int] | None, port: int) -> bool:
    return ports is None or port in ports


def address_allowed(host: str, address: str, port: int) -> bool:
    """May the hub connect to `address` (which `host` resolved to) on `port`?

    A public address, on any port; a private one only through an allow-list entry that names it (or
    its range, or the host name) with this port.
    """
    hosts, networks = _allow_list()
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    judged = [ip, *embedded_ipv4(ip)]
    if any(c in network and _port_open(ports, port) for c in judged for network, ports in networks):
        return True
    if any(candidate in network for candidate in judged for network in METADATA_NETWORKS):
        return False
    name = host.lower().rstrip(".")
    if name in hosts and _port_open(hosts[name], port):
        return True
    return all(_public(candidate) for candidate in judged)


def blocked_error(host: str, address: str, port: int) -> BlockedAddressError:
    # The message names the host and port, never the address it resolved to: whoever reads it (a
    # Marketer's delivery page, an API client) must not learn how internal names resolve.
    error = BlockedAddressError(
        _(
            "Blocked: %(host)s (port %(port)s) is not a public address; allow it with WEBHOOK_ALLOWED_HOSTS "
            "(host[:port]) for an on-premise receiver."
        )
        % {"host": host, "port": port}
    )
    error.host, error.address = host, address  # for webhooks/content/failures.py (kept in the record's parameters)
    return error


class GuardedResolver(AbstractResolver):
    def __init__(self):
        self._resolver = DefaultResolver()

    async def resolve(self, host, port=0, family=socket.AF_INET):
        results = await self._resolver.resolve(host, port, family)
        allowed = [r for r in results if address_allowed(host, r["host"], port)]
        if not allowed:
            raise blocked_error(host, results[0]["host"] if results else "?", port)
        return allowed

    async def close(self):
        await self._resolver.close()


class ProxyResolver(AbstractResolver):
    """A proxied session's resolver: the proxy's own host, which an administrator chose, and nothing else.

    The destination is never resolved by the client when it goes through a proxy; the hub judges it
    before the request (webhooks.engine.http.Sessions.judge), the proxy connects to it.
    """

    def __init__(self, proxy_host: str):
        self.proxy_host = proxy_host
        self._resolver = DefaultResolver()

    async def resolve(self, host, port=0, family=socket.AF_INET):
        if host != self.proxy_host:
            raise blocked_error(host, "?", port)
        return await self._resolver.resolve(host, port, family)

    async def close(self):
        await self._resolver.close()


def check_literal_host(url: str) -> None:
    """Raise BlockedAddressError for a URL whose host is an IP literal the guard refuses.

    The HTTP client does not ask the resolver about IP literals, so they are judged here.
    """
    host, port = _blocked_literal(url, tuple(settings.WEBHOOK_ALLOWED_HOSTS))
    if host:
        raise blocked_error(host, host, port)


def url_port(url: str) -> int:
    """The port a URL connects to: its own, or its scheme's."""
    parts = urlsplit(url)
    return parts.port or (443 if parts.scheme == "https" else 80)


@lru_cache(maxsize=1024)
def _blocked_literal(url: str, allowed: tuple) -> tuple[str, int]:
    """(host, port) when the URL's host is an IP literal the guard refuses there, else ('', 0). Cached: a
    batch has one URL."""
    host = urlsplit(url).hostname or ""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return "", 0
    port = url_port(url)
    return ("", 0) if address_allowed(host, host, port) else (host, port)
