"""Issue 22 items 4 and 6: every error under /api/v1/ in the one JSON shape, and no JSON nesting reaches a 500.

Each case here answered otherwise before: Django's HTML (a body over the size limit, a refused host, a 500),
a RecursionError (a deeply nested body template), or an unchecked media type.
"""

import json

import pytest
from django.test import Client

from api.endpoints import webhooks as webhook_operations
from api.models import Scope
from api.services import api_key_create

from ..factories import make_key_owner

pytestmark = pytest.mark.django_db

WEBHOOK = {"name": "CRM", "url": "https://crm.example.com/hook"}


@pytest.fixture
def raw_key():
    _key, raw = api_key_create(name="all", scopes=Scope.values, user=make_key_owner())
    return raw


def _error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    return error


def _post(client, raw_key, path, data, content_type="application/json", **extra):
    return client.post(
        f"/api/v1{path}", data, content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {raw_key}", **extra
    )


def test_a_10_mb_body_is_413_json_on_every_operation(client, raw_key):
    big = json.dumps({**WEBHOOK, "body_template": "x" * 10_000_000})
    for path in ("/webhooks", "/events", "/sends", "/customers"):
        error = _error(_post(client, raw_key, path, big), 413, "body_too_large")
        assert "bytes" in error["message"]
    # With an Idempotency-Key too (its check reads the body before the operation).
    _error(_post(client, raw_key, "/webhooks", big, HTTP_IDEMPOTENCY_KEY="k1"), 413, "body_too_large")


def test_a_deeply_nested_body_template_is_a_field_error_not_a_500(client, raw_key):
    deep = "[" * 20_000 + "]" * 20_000  # under the 64 KB a body template may have: its depth is refused
    error = _error(
        _post(client, raw_key, "/webhooks", json.dumps({**WEBHOOK, "body_template": deep})), 400, "invalid_fields"
    )
    assert "nested too deeply" in " ".join(error["fields"]["body_template"])
    zh = _post(
        client, raw_key, "/webhooks", json.dumps({**WEBHOOK, "body_template": deep}), HTTP_ACCEPT_LANGUAGE="zh-hans"
    )
    assert zh.status_code == 400
    assert "嵌套" in " ".join(zh.json()["error"]["fields"]["body_template"])


@pytest.mark.parametrize("depth", [33, 5_000, 100_000])
def test_a_deeply_nested_body_is_400(client, raw_key, depth):
    body = '{"name": ' + "[" * depth + "]" * depth + "}"
    error = _error(_post(client, raw_key, "/webhooks", body), 400, "malformed_json")
    assert "nested too deeply" in error["message"]


def test_a_body_that_is_not_json_is_415(client, raw_key):
    _error(
        _post(client, raw_key, "/webhooks", json.dumps(WEBHOOK), content_type="text/plain"),
        415,
        "unsupported_media_type",
    )


def test_unknown_paths_and_methods_are_json(client, raw_key):
    _error(client.get("/api/v1/deliveries/../../webhooks/1"), 404, "not_found")
    refused = client.delete("/api/v1/webhooks", HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    _error(refused, 405, "method_not_allowed")
    assert "GET" in refused["Allow"]


def test_a_refused_host_is_json(client):
    # Django's own 400 (DisallowedHost), made before any API code runs.
    _error(client.get("/api/v1/webhooks", HTTP_HOST="evil.example.com"), 400, "bad_request")


def test_an_unexpected_error_is_a_json_500(raw_key, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(webhook_operations, "webhook_as_dict", broken)
    client = Client(raise_request_exception=False)
    webhook = client.post(
        "/api/v1/webhooks", json.dumps(WEBHOOK), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {raw_key}"
    )
    error = _error(webhook, 500, "server_error")
    assert "a bug" not in error["message"]
