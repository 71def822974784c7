"""Every operation of the Open API fuzzed from its OpenAPI document (schemathesis, bounded examples), with
every check schemathesis has (`--checks all`): no 5xx; every answer has a documented status, content type,
headers and schema; what the document allows is accepted, what it forbids is refused; methods and auth
behave as documented."""

import json
import secrets
import socket

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from pydantic import ValidationError as PydanticValidationError
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.specs.openapi.checks import positive_data_acceptance

from api.endpoints import customers as customer_operations
from api.endpoints import webhooks as webhook_operations
from api.endpoints.recoveries import FILTERS
from api.hub import json_number
from api.models import ApiKey, Scope, key_hash
from api.services import KEY_PREFIX
from webhooks.models import Webhook
from webhooks.services import connection_check

from ..factories import make_customers, make_group, make_key_owner

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())
EXAMPLES = 25
# Every check schemathesis has, as `schemathesis run --checks all` runs them.
load_all_checks()
CHECKS_ALL = CHECKS.get_all()
# The key's text is fixed when the module loads (schemathesis asks for it while collecting, before any
# database); its row, with every scope and an Administrator owner, is written in each test's transaction.
RAW_KEY = KEY_PREFIX + secrets.token_urlsafe(32)


# Idempotency-Keys sent in this test's transaction: schemathesis may send one again with another request.
_sent_keys: dict[str, tuple] = {}


def _data() -> None:
    """The key's row, and a little data so that ids hit something (once per test's transaction)."""
    if ApiKey.objects.filter(hashed_key=key_hash(RAW_KEY)).exists():
        return
    _sent_keys.clear()
    ApiKey.objects.create(
        name="fuzz",
        prefix=RAW_KEY[:10],
        hashed_key=key_hash(RAW_KEY),
        scopes=Scope.values,
        created_by=make_key_owner(),
    )
    customers = make_customers(3)
    make_group(customers)
    Webhook.objects.create(name="fuzz", url="https://receiver.example.com/hook")


@schema.auth(refresh_interval=None)
class _FuzzKey:
    """The key, as schemathesis' auth: it then knows the header is ours, not a generated (or mutated) value."""

    def get(self, case, ctx):
        return RAW_KEY

    def set(self, case, data, ctx):
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


def _members_agree(event) -> bool:
    if not isinstance(event, dict):
        return True
    old, new = event.get("oldLevelId"), event.get("newLevelId")
    start, end = event.get("startDate"), event.get("endDate")
    if old is not None and old == new:
        return False
    return not (isinstance(start, str) and isinstance(end, str) and end[:10] < start[:10])


def _names_deliveries_one_way(body) -> bool:
    if not isinstance(body, dict):
        return True
    given = {key for key in (*FILTERS, "delivery_ids", "since") if body.get(key) is not None}
    if "delivery_ids" in given:
        return given == {"delivery_ids"}
    if "since" in given:
        return given == {"since", "webhook_id"}
    return bool(given)


def _form_accepts(schema_class, body, make_form) -> bool:
    """True for a body the schema refuses (a negative case, kept) or the admin's form accepts; make_form gives
    None for a body refused by a rule of the operation's own (named in its description)."""
    try:
        # As the server reads it: JSON's numbers (2.0 is the integer 2), then the schema.
        payload = schema_class.model_validate(json.loads(json.dumps(body), parse_float=json_number))
    except (PydanticValidationError, ValueError, TypeError):  # TypeError: no body at all
        return True
    form = make_form(payload)
    if form is None:
        return False
    if form.is_valid():
        return True
    codes = {error.code for errors in form.errors.as_data().values() for error in errors}
    return codes <= {"unique"}  # answered 409, as documented


def _webhook_form(payload):
    data = payload.model_dump(exclude_unset=True)
    if data.pop("previous_signature_hours", None) and "secret_key" not in data:
        return None  # refused, as its description says: hours only with a new secret_key
    return webhook_operations._form(data, instance=Webhook.objects.filter(name="fuzz").first())


def _customer_form(payload):
    data = payload.model_dump()
    data["attributes"] = json.dumps(data["attributes"], ensure_ascii=False)
    return customer_operations.CustomerForm(data=data)


# The rules the schemas leave to the admin's own forms (hub.py: "the business rules are not in the schemas"):
# a URL Django's URLValidator takes, what each trigger and authentication needs, a template that renders...
FORM_RULES = {
    ("POST", "/webhooks"): (webhook_operations.WebhookIn, lambda p: webhook_operations._form(p.model_dump())),
    ("PATCH", "/webhooks/{webhook_id}"): (webhook_operations.WebhookPatch, _webhook_form),
    ("POST", "/customers"): (customer_operations.CustomerIn, _customer_form),
    ("POST", "/groups"): (customer_operations.GroupIn, lambda p: customer_operations.GroupForm(data=p.model_dump())),
}


def _key_reused(case) -> bool:
    """An Idempotency-Key sent before with another request: refused with 422, as its description says."""
    key = (case.headers or {}).get("Idempotency-Key")
    if not key or case.operation.method.upper() != "POST":
        return False
    request = (case.operation.path, case.path_parameters, json.dumps(case.body, sort_keys=True, default=str))
    return _sent_keys.setdefault(key, request) != request


def _beyond_the_schema(case) -> bool:
    """A schema-valid body that breaks a rule the document states only in words (the server refuses it with 400,
    as documented), so that positive_data_acceptance holds for every other body:
    - JSON Schema cannot compare one member with another (as tests/unit/test_openapi_agreement.py): an event's
      endDate before its startDate or its newLevelId equal to its oldLevelId; a bulk recover naming its
      deliveries more than one way;
    - the admin's forms' rules, which the API applies as the admin does (FORM_RULES).
    (And an Idempotency-Key used before with another request: _key_reused.)"""
    method, path, body = case.operation.method.upper(), case.operation.path, case.body
    if path == "/events":
        return not all(_members_agree(event) for event in (body if isinstance(body, list) else [body]))
    if path == "/deliveries/recover":
        return not _names_deliveries_one_way(body)
    if (method, path) in FORM_RULES:
        schema_class, make_form = FORM_RULES[(method, path)]
        return not _form_accepts(schema_class, body, make_form)
    return False


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
    _data()
    # Every check on every case; only a body refused by a rule in words is not held to positive_data_acceptance.
    excluded = [positive_data_acceptance] if _key_reused(case) or _beyond_the_schema(case) else None
    case.call_and_validate(checks=CHECKS_ALL, excluded_checks=excluded)
