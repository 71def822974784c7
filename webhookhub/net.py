"""The client's address, as far as the installation can trust it: one helper for the micro-pages' rate
limit, the login's failure count and the allow-list of /metrics and /healthz."""

import ipaddress
from functools import lru_cache

from django.conf import settings


@lru_cache(maxsize=4)
def _networks(entries: tuple[str, ...]):
    return [ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry.strip()]


def _is_proxy(address: str, proxies) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in proxies)


def client_address(request) -> str:
    """The visitor's address: the socket's, or behind TRUSTED_PROXIES, the one the proxies saw.

    X-Forwarded-For is read only when the socket's address is a trusted proxy (anyone else could write
    it), from the right: the first address that is not itself a trusted proxy is the client.
    """
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = _networks(tuple(settings.TRUSTED_PROXIES))
    if not proxies or not _is_proxy(remote, proxies):
        return remote
    for hop in reversed(request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")):
        hop = hop.strip()
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return remote  # a forged or broken header: the proxy's own address, not a guess
        if not _is_proxy(hop, proxies):
            return hop
    return remote


def client_key(address: str) -> str:
    """What one client is, for a limit: the IPv4 address, or the IPv6 /64 (one home or phone has a /64)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address or "unknown"
    if ip.version == 6:
        if ip.ipv4_mapped:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def login_client_key(request) -> str | None:
    """The client a failed login is counted against (django-axes' AXES_CLIENT_IP_CALLABLE): the IPv4
    address, or the first address of the IPv6 /64 (stored in an address column, so not `…/64`)."""
    key = client_key(client_address(request))
    try:
        return str(ipaddress.ip_network(key, strict=False).network_address)
    except ValueError:
        return None


def address_allowed(address: str, allowed: list[str]) -> bool:
    """True if `address` is one of `allowed` (addresses and CIDR ranges, checked by the settings)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in _networks(tuple(allowed)))
