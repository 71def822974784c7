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


def _allow_list():
    return _parse_allow_list(tuple(settings.WEBHOOK_ALLOWED_HOSTS))


@lru_cache(maxsize=8)
def _parse_allow_list(entries: tuple[str, ...]):
    # Parsed once per setting value, not once per request.
    hosts, networks = set(), []
    for entry in entries:
        entry = entry.strip().lower()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            hosts.add(entry)
    return hosts, networks


def address_allowed(host: str, address: str) -> bool:
    """May the hub connect to `address` (which `host` resolved to)?"""
    hosts, networks = _allow_list()
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    judged = [ip, *embedded_ipv4(ip)]
    if any(candidate in network for candidate in judged for network in networks):
        return True
    if any(candidate in network for candidate in judged for network in METADATA_NETWORKS):
        return False
    if host.lower().rstrip(".") in hosts:
        return True
    return all(_public(candidate) for candidate in judged)


def blocked_error(host: str, address: str) -> BlockedAddressError:
    error = BlockedAddressError(
        _(
            "Blocked: %(host)s resolves to %(address)s, which is not a public address; allow it with "
            "WEBHOOK_ALLOWED_HOSTS for an on-premise receiver."
        )
        % {"host": host, "address": address}
    )
    error.host, error.address = host, address  # for webhooks/content/failures.py
    return error


class GuardedResolver(AbstractResolver):
    def __init__(self):
        self._resolver = DefaultResolver()

    async def resolve(self, host, port=0, family=socket.AF_INET):
        results = await self._resolver.resolve(host, port, family)
        allowed = [r for r in results if address_allowed(host, r["host"])]
        if not allowed:
            raise blocked_error(host, results[0]["host"] if results else "?")
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
            raise blocked_error(host, "?")
        return await self._resolver.resolve(host, port, family)

    async def close(self):
        await self._resolver.close()


def check_literal_host(url: str) -> None:
    """Raise BlockedAddressError for a URL whose host is an IP literal the guard refuses.

    The HTTP client does not ask the resolver about IP literals, so they are judged here.
    """
    host = _blocked_literal(url, tuple(settings.WEBHOOK_ALLOWED_HOSTS))
    if host:
        raise blocked_error(host, host)


@lru_cache(maxsize=1024)
def _blocked_literal(url: str, allowed: tuple) -> str:
    """The URL's host when it is an IP literal the guard refuses, else ''. Cached: a batch has one URL."""
    host = urlsplit(url).hostname or ""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return ""
    return "" if address_allowed(host, host) else host
