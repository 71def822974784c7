"""Every operation of the Open API fuzzed from its OpenAPI document (schemathesis, bounded examples):
no answer is a 5xx, and every answer has a documented status, content type and schema."""

import socket

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.models import ApiKey, Scope
from api.services import api_key_create
from webhooks.models import Webhook
from webhooks.services import connection_check

from ..factories import make_customers, make_group

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())
EXAMPLES = 25
# What the issue asks of every answer. (Not negative_data_rejection: /events, whose answers must not change,
# accepts "date": null, which its schema leaves out; nor positive_data_acceptance: random ids are 404s.)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
_keys: dict[int, str] = {}


def _key() -> str:
    """A key with every scope, and a little data so that ids hit something (made once per test's transaction)."""
    if not ApiKey.objects.filter(name="fuzz").exists():
        _api_key, raw = api_key_create(name="fuzz", scopes=Scope.values)
        _keys.clear()
        _keys[0] = raw
        customers = make_customers(3)
        make_group(customers)
        Webhook.objects.create(name="fuzz", url="https://receiver.example.com/hook")
    return _keys[0]


@pytest.fixture(autouse=True)
def _no_network_beyond_loopback(monkeypatch):
    # Test connection really resolves and connects: fuzzed URLs (names and public IP literals) stay on this host.
    real = socket.getaddrinfo

    def loopback_only(host, *args, **kwargs):
        if host in ("127.0.0.1", "localhost", "::1"):
            return real(host, *args, **kwargs)
        raise socket.gaierror(socket.EAI_NONAME, "not resolved in the fuzz test")

    monkeypatch.setattr(socket, "getaddrinfo", loopback_only)
    monkeypatch.setattr(connection_check, "address_allowed", lambda host, address, port: address == "127.0.0.1")


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    # As Django's test client does: a request must not close the connection holding the test's transaction.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.mark.django_db
@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_5xx_and_every_answer_matches_its_schema(case):
    case.call_and_validate(headers={"Authorization": f"Bearer {_key()}"}, checks=CHECKS)
