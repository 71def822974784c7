"""The SSRF guard: no delivery (or token request) reaches a loopback, private, link-local or metadata address.

The check sits in aiohttp's resolver, so the address judged is the address connected to; IP literals,
which aiohttp does not resolve, are checked before the request.
"""

import ipaddress
import socket
from functools import lru_cache
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver
from aiohttp.resolver import DefaultResolver
from django.conf import settings
from django.utils.translation import gettext as _


class BlockedAddressError(OSError):
    """The receiver's address is private, loopback, link-local or otherwise not public."""


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
    if host.lower().rstrip(".") in hosts:
        return True
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if any(ip in network for network in networks):
        return True
    # is_global is False for loopback, private, link-local (169.254.169.254 metadata), CGNAT,
    # unique-local IPv6 (fd00:ec2::254 metadata) and reserved ranges.
    return ip.is_global and not ip.is_multicast


def _blocked(host: str, address: str) -> BlockedAddressError:
    return BlockedAddressError(
        _(
            "Blocked: %(host)s resolves to %(address)s, which is not a public address; allow it with "
            "WEBHOOK_ALLOWED_HOSTS for an on-premise receiver."
        )
        % {"host": host, "address": address}
    )


class GuardedResolver(AbstractResolver):
    def __init__(self):
        self._resolver = DefaultResolver()

    async def resolve(self, host, port=0, family=socket.AF_INET):
        results = await self._resolver.resolve(host, port, family)
        allowed = [r for r in results if address_allowed(host, r["host"])]
        if not allowed:
            raise _blocked(host, results[0]["host"] if results else "?")
        return allowed

    async def close(self):
        await self._resolver.close()


def check_literal_host(url: str) -> None:
    # aiohttp does not ask the resolver about IP literals, so they are checked here.
    host = _blocked_literal(url, tuple(settings.WEBHOOK_ALLOWED_HOSTS))
    if host:
        raise _blocked(host, host)


@lru_cache(maxsize=1024)
def _blocked_literal(url: str, allowed: tuple) -> str:
    """The URL's host when it is an IP literal the guard refuses, else ''. Cached: a batch has one URL."""
    host = urlsplit(url).hostname or ""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return ""
    return "" if address_allowed(host, host) else host
