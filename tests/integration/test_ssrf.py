"""The SSRF guard (webhooks/engine/ssrf.py): IPv6 forms that carry an IPv4 address, and metadata addresses."""

import asyncio

import pytest

from webhooks.engine import ssrf
from webhooks.engine.http import Endpoint, Outgoing, attempt, new_session
from webhooks.engine.ssrf import BlockedAddressError, GuardedResolver, address_allowed, embedded_ipv4

from ..support.receivers import ScriptedServer

# IPv6 addresses that carry a loopback, private or metadata IPv4 address.
EMBEDDING_PRIVATE = [
    "64:ff9b::7f00:1",  # NAT64 well-known prefix → 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 → 169.254.169.254
    "64:ff9b::a00:1",  # NAT64 → 10.0.0.1
    "64:ff9b:1::a00:1",  # NAT64 local-use prefix: never public
    "64:ff9b:1:ff00::808:808",
    "2002:7f00:1::",  # 6to4 → 127.0.0.1
    "2002:a9fe:a9fe::1",  # 6to4 → 169.254.169.254
    "2002:c0a8:101::1",  # 6to4 → 192.168.1.1
    "2001:0:808:808:0:0:f5ff:fffe",  # Teredo, client 10.0.0.1 (server 8.8.8.8)
    "2001:0:7f00:1:0:0:f7f7:f7f7",  # Teredo, server 127.0.0.1
    "::7f00:1",  # IPv4-compatible → 127.0.0.1
    "::a9fe:a9fe",  # IPv4-compatible → 169.254.169.254
    "::c0a8:101",  # IPv4-compatible → 192.168.1.1
]


@pytest.mark.parametrize("address", EMBEDDING_PRIVATE)
def test_ipv6_forms_carrying_a_private_ipv4_address_are_blocked(settings, address):
    settings.WEBHOOK_ALLOWED_HOSTS = []
    assert not address_allowed("example.test", address, 443)


@pytest.mark.parametrize(
    ("address", "carried"),
    [
        ("64:ff9b::808:808", ["8.8.8.8"]),
        ("2002:808:808::1", ["8.8.8.8"]),
        ("::808:808", ["8.8.8.8"]),
        ("::ffff:808:808", ["8.8.8.8"]),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", ["65.54.227.120", "192.0.2.45"]),
        ("2606:4700::1111", []),
        ("::1", []),
    ],
)
def test_the_carried_ipv4_address_is_decoded(address, carried):
    import ipaddress

    assert [str(ip) for ip in embedded_ipv4(ipaddress.ip_address(address))] == carried


@pytest.mark.parametrize("address", ["64:ff9b::808:808", "2002:808:808::1", "::ffff:808:808"])
def test_ipv6_forms_carrying_a_public_ipv4_address_pass(settings, address):
    settings.WEBHOOK_ALLOWED_HOSTS = []
    assert address_allowed("example.test", address, 443)


@pytest.mark.parametrize(
    "address",
    ["169.254.169.254", "169.254.0.23", "fd00:ec2::254", "fe80::1", "100.100.100.200", "::ffff:169.254.169.254"],
)
def test_an_allow_listed_host_name_does_not_open_metadata_addresses(settings, address):
    settings.WEBHOOK_ALLOWED_HOSTS = ["crm.internal"]
    assert not address_allowed("crm.internal", address, 443)
    # The same name still reaches an on-premise private address.
    assert address_allowed("crm.internal", "10.1.2.3", 443)


@pytest.mark.parametrize(
    ("allowed", "address"),
    [
        (["169.254.169.254"], "169.254.169.254"),
        (["169.254.0.0/16"], "169.254.10.1"),
        (["fd00:ec2::/64"], "fd00:ec2::254"),
        (["10.0.0.0/8"], "64:ff9b::a00:1"),  # the carried address is in the allowed range
    ],
)
def test_metadata_and_private_addresses_open_only_by_address(settings, allowed, address):
    settings.WEBHOOK_ALLOWED_HOSTS = allowed
    assert address_allowed("crm.internal", address, 443)


@pytest.mark.parametrize(
    ("allowed", "address", "port", "ok"),
    [
        (["crm.internal"], "10.1.2.3", 443, True),
        (["crm.internal"], "10.1.2.3", 80, True),
        (["crm.internal"], "10.1.2.3", 6379, False),
        (["crm.internal:8080"], "10.1.2.3", 8080, True),
        (["crm.internal:8080"], "10.1.2.3", 443, False),
        (["10.0.0.0/8"], "10.1.2.3", 5432, False),
        (["10.0.0.0/8:5432"], "10.1.2.3", 5432, True),
        (["[fd00::/8]:8443"], "fd00::1", 8443, True),
        (["fd00::/8"], "fd00::1", 443, True),
        (["fd00::/8"], "fd00::1", 8443, False),
        (["127.0.0.1:*"], "127.0.0.1", 6379, True),
        ([], "93.184.215.14", 8080, True),  # a public address, on any port
    ],
)
def test_allow_list_entries_carry_ports(settings, allowed, address, port, ok):
    # Issue 22 (10): host[:port]; without a port only 80 and 443, `:*` every port.
    settings.WEBHOOK_ALLOWED_HOSTS = allowed
    assert address_allowed("crm.internal", address, port) is ok


@pytest.mark.parametrize("entry", ["crm.internal:0", "crm.internal:http", "[fd00::1]x", "10.0.0.1:70000"])
def test_a_malformed_allow_list_port_is_a_configuration_error(settings, entry):
    from django.core.exceptions import ImproperlyConfigured

    settings.WEBHOOK_ALLOWED_HOSTS = [entry]
    with pytest.raises(ImproperlyConfigured):
        address_allowed("crm.internal", "10.1.2.3", 443)


class _FixedResolver:
    """Stands in for DNS: every name resolves to the given addresses."""

    def __init__(self, addresses):
        self.addresses = addresses

    async def resolve(self, host, port=0, family=0):
        return [
            {"hostname": host, "host": address, "port": port, "family": 0, "proto": 0, "flags": 0}
            for address in self.addresses
        ]

    async def close(self):
        pass


def test_resolver_refuses_an_allow_listed_name_pointing_at_metadata(settings):
    settings.WEBHOOK_ALLOWED_HOSTS = ["crm.internal"]

    async def resolve(addresses):
        resolver = GuardedResolver()
        resolver._resolver = _FixedResolver(addresses)
        return await resolver.resolve("crm.internal", 80)

    with pytest.raises(BlockedAddressError, match=r"crm\.internal") as blocked:
        asyncio.run(resolve(["169.254.169.254"]))
    # The record keeps the address; the message people read does not say what the name resolves to.
    assert blocked.value.address == "169.254.169.254"
    assert "169.254" not in str(blocked.value)
    assert [r["host"] for r in asyncio.run(resolve(["10.1.2.3", "169.254.169.254"]))] == ["10.1.2.3"]


@pytest.mark.parametrize("host", ["[64:ff9b::7f00:1]", "[::7f00:1]", "[2002:7f00:1::]"])
def test_an_attempt_to_a_literal_carrying_loopback_sends_nothing(settings, host):
    settings.WEBHOOK_ALLOWED_HOSTS = []
    ep = Endpoint(
        id=1,
        url=f"http://{host}:{{port}}/hook",
        auth_type="none",
        is_json=True,
        verify_ssl=True,
        connect_timeout=2.0,
        read_timeout=3.0,
    )
    with ScriptedServer() as server:
        ep.url = ep.url.format(port=server.port)

        async def one():
            async with new_session(limit=1) as session:
                return await attempt(session, ep, Outgoing("d" * 32, "manual/test-send", "{}"))

        result = asyncio.run(one())
        assert server.hits == []
    assert result.error_class == "BlockedAddress"
    assert "not a public address" in result.error_message


def test_the_http_client_uses_this_guard():
    from webhooks.engine import http

    assert http.GuardedResolver is ssrf.GuardedResolver
    assert http.BlockedAddressError is ssrf.BlockedAddressError
    assert http.check_literal_host is ssrf.check_literal_host
