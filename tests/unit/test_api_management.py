"""The management Open API through Django's test client: scopes, the one error shape in the caller's
language, the admin's validation, write-only secrets, rotation, cursor pages, idempotency keys."""

import json

import pytest

from api.models import ApiKey, Scope
from api.services import api_key_create, api_key_revoke
from customers.models import Group
from webhooks import services
from webhooks.models import Attempt, Delivery, GroupSend, Message, Webhook

from ..factories import make_customers, make_key_owner, make_webhook

pytestmark = pytest.mark.django_db


class Api:
    def __init__(self, client, raw_key: str):
        self.client, self.raw_key = client, raw_key

    def __call__(self, method: str, path: str, body=None, **headers):
        kwargs = {"HTTP_AUTHORIZATION": f"Bearer {self.raw_key}"} if self.raw_key else {}
        kwargs.update({f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()})
        if body is not None:
            kwargs.update(data=json.dumps(body), content_type="application/json")
        return getattr(self.client, method.lower())(f"/api/v1{path}", **kwargs)


@pytest.fixture
def owner():
    return make_key_owner("integrator")


@pytest.fixture
def api(client, owner):
    _key, raw = api_key_create(name="全部", scopes=Scope.values, user=owner)
    return Api(client, raw)


def webhook_body(**fields):
    body = {"name": "CRM", "url": "https://crm.example.com/hook", "auth_type": "secret", "secret_key": "s3cr3t"}
    body.update(fields)
    return body


# --- Keys and scopes ----------------------------------------------------------------------------------


def test_a_key_without_the_scope_gets_403_naming_it_and_one_with_it_passes(client):
    _key, raw = api_key_create(name="reader", scopes=[Scope.WEBHOOKS_READ], user=make_key_owner())
    reader = Api(client, raw)
    assert reader("GET", "/webhooks").status_code == 200
    refused = reader("POST", "/webhooks", webhook_body())
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "missing_scope"
    assert refused.json()["error"]["scope"] == "webhooks:write"
    assert "webhooks:write" in refused.json()["error"]["message"]
    assert not Webhook.objects.exists()
    # The events endpoint checks its scope too; its answers are otherwise unchanged.
    events = reader("POST", "/events", {"event": "loyalty/membership_redeem_coupon"})
    assert events.status_code == 403
    assert events.json()["error"]["scope"] == "events:write"
    for scope, path in [
        ("deliveries:read", "/deliveries"),
        ("sends:read", "/sends"),
        ("customers:read", "/customers"),
        ("customers:read", "/groups"),
    ]:
        answer = reader("GET", path)
        assert answer.status_code == 403
        assert answer.json()["error"]["scope"] == scope


def test_missing_unknown_and_revoked_keys(client):
    assert Api(client, "")("GET", "/webhooks").json()["error"]["code"] == "missing_api_key"
    assert Api(client, "")("GET", "/webhooks").status_code == 401
    assert Api(client, "whk_nope")("GET", "/webhooks").json()["error"]["code"] == "unknown_api_key"
    key, raw = api_key_create(name="old", scopes=Scope.values, user=make_key_owner())
    api_key_revoke(api_key=key)
    revoked = Api(client, raw)("GET", "/webhooks")
    assert revoked.status_code == 403
    assert revoked.json()["error"]["code"] == "revoked_api_key"
    wrong = client.get("/api/v1/webhooks", HTTP_AUTHORIZATION="Basic abc")
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "invalid_authorization"


def test_admin_creates_a_key_with_chosen_scopes_and_shows_them(admin_client):
    response = admin_client.post("/admin/api/apikey/add/", {"name": "集成", "scopes": ["webhooks:read", "sends:write"]})
    assert response.status_code == 200
    key = ApiKey.objects.get()
    assert key.scopes == ["webhooks:read", "sends:write"]
    listing = admin_client.get("/admin/api/apikey/").content.decode()
    assert "webhooks:read, sends:write" in listing
    # None ticked: what a key could do before scopes existed.
    admin_client.post("/admin/api/apikey/add/", {"name": "events only"})
    assert ApiKey.objects.get(name="events only").scopes == ["events:write"]


# --- Errors and language ------------------------------------------------------------------------------


def test_errors_have_one_shape_in_the_callers_language(api):
    english = api("POST", "/webhooks", {"name": 5, "bogus": 1})
    assert english.status_code == 400
    assert english["Content-Language"] == "en"
    error = english.json()["error"]
    assert error["code"] == "invalid_fields"
    assert error["fields"]["name"] == ["Must be a string."]
    assert error["fields"]["url"] == ["This field is required."]
    assert error["fields"]["bogus"] == ["Unknown field."]
    chinese = api("POST", "/webhooks", {"name": 5}, accept_language="zh-hans")
    assert chinese["Content-Language"] == "zh-hans"
    assert chinese.json()["error"]["message"] == "有些字段无效；没有做任何更改。"  # noqa: RUF001 - Chinese punctuation
    assert chinese.json()["error"]["fields"]["name"] == ["必须是字符串。"]
    assert api("GET", "/webhooks/99").json() == {"error": {"code": "not_found", "message": "There is no such object."}}
    malformed = api.client.post(
        "/api/v1/webhooks", b"{nope", content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {api.raw_key}"
    )
    assert malformed.status_code == 400
    assert malformed.json()["error"]["code"] == "malformed_json"
    nul = api("POST", "/groups", {"name": "a\x00b"})
    assert nul.status_code == 400
    assert nul.json()["error"]["code"] == "invalid_text"
    wrong_method = api("DELETE", "/webhooks")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"
    assert "POST" in wrong_method["Allow"]


# --- Webhooks -----------------------------------------------------------------------------------------


def test_webhook_validation_is_the_admins(api):
    refused = api(
        "POST", "/webhooks", webhook_body(url="ftp://x.example.com", secret_key="", body_template='{"a": ${customerId')
    )
    fields = refused.json()["error"]["fields"]
    assert refused.status_code == 400
    assert set(fields) == {"url", "secret_key", "body_template"}
    assert fields["secret_key"] == ["Required for this authentication."]
    assert "JSON" in fields["body_template"][0]
    fixed = api("POST", "/webhooks", webhook_body(trigger_type="fixed"))
    assert fixed.json()["error"]["fields"]["event"] == ["Choose the loyalty event this webhook receives."]
    assert not Webhook.objects.exists()


def test_secrets_are_write_only_and_a_patch_keeps_what_it_does_not_send(api):
    created = api("POST", "/webhooks", webhook_body(), idempotency_key="create-1")
    assert created.status_code == 201
    data = created.json()
    assert data["secret_key_set"] is True
    assert "s3cr3t" not in created.content.decode()
    assert data["standard_secret"] is None
    assert "secret_key" not in data
    webhook = Webhook.objects.get()
    changed = api("PATCH", f"/webhooks/{webhook.pk}", {"name": "CRM 2"})
    assert changed.status_code == 200
    assert changed.json()["name"] == "CRM 2"
    webhook.refresh_from_db()
    assert webhook.secret_key.reveal() == "s3cr3t"
    assert webhook.url == "https://crm.example.com/hook"
    # The rotation helper of the DM Hub signature, through the API.
    rotated = api("PATCH", f"/webhooks/{webhook.pk}", {"secret_key": "n3w", "previous_signature_hours": 6})
    assert rotated.json()["secret_key_previous_until"] is not None
    webhook.refresh_from_db()
    assert webhook.secret_key.reveal() == "n3w"
    assert webhook.secret_key_previous.reveal() == "s3cr3t"
    history = api("GET", f"/webhooks/{webhook.pk}/history").json()["items"]
    assert [entry["action"] for entry in history] == ["secret_replaced", "changed", "created"]
    assert history[-1]["actor"].startswith("API key “全部”")
    assert "n3w" not in json.dumps(history)
    assert "s3cr3t" not in json.dumps(history)


def test_standard_webhooks_secret_is_shown_once_and_rotates_with_an_overlap(api):
    created = api("POST", "/webhooks", webhook_body(standard_webhooks=True)).json()
    first = created["standard_secret"]
    assert first.startswith("whsec_")
    read = api("GET", f"/webhooks/{created['id']}")
    assert first not in read.content.decode()
    assert read.json()["standard_secret"] is None
    rotated = api("POST", f"/webhooks/{created['id']}/standard-secret/rotate", {"overlap_hours": 48}).json()
    assert rotated["standard_secret"].startswith("whsec_")
    assert rotated["standard_secret"] != first
    assert rotated["previous_valid_until"] == rotated["webhook"]["standard_secret_previous_until"]
    assert api("POST", f"/webhooks/{created['id']}/rotation/end").status_code == 200
    again = api("POST", f"/webhooks/{created['id']}/rotation/end")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "refused"
    actions = [e["action"] for e in api("GET", f"/webhooks/{created['id']}/history").json()["items"]]
    assert actions == ["rotation_ended", "rotation_started", "standard_enabled", "created"]
    # Off drops the secret; on again makes a new one, shown once.
    assert api("PATCH", f"/webhooks/{created['id']}", {"standard_webhooks": False}).json()["standard_secret"] is None
    assert not Webhook.objects.get(pk=created["id"]).standard_secret
    again_on = api("PATCH", f"/webhooks/{created['id']}", {"standard_webhooks": True}).json()["standard_secret"]
    assert again_on.startswith("whsec_")
    assert again_on not in (first, rotated["standard_secret"])
    alone = api("PATCH", f"/webhooks/{created['id']}", {"previous_signature_hours": 5})
    assert alone.status_code == 400
    assert "previous_signature_hours" in alone.json()["error"]["fields"]


def test_pause_resume_and_test_send(api, owner):
    webhook = make_webhook("https://crm.example.com/hook")
    customer = make_customers(1)[0]
    assert api("POST", f"/webhooks/{webhook.pk}/pause").json()["paused"] is True
    assert api("POST", f"/webhooks/{webhook.pk}/pause").status_code == 409
    # Accepted while paused: it waits, and the resume says it released it.
    services.message_publish(event="form/submit", webhooks=[webhook], customer=customer)
    resumed = api("POST", f"/webhooks/{webhook.pk}/resume").json()
    assert resumed["paused"] is False
    assert resumed["released"] == 1
    sent = api("POST", f"/webhooks/{webhook.pk}/test", {"customer_id": customer.pk})
    assert sent.status_code == 201
    delivery = Delivery.objects.get(pk=sent.json()["delivery_id"])
    assert delivery.event == "manual/test-send"
    assert delivery.message.created_by == owner
    missing = api("POST", f"/webhooks/{webhook.pk}/test", {"customer_id": 999999})
    assert missing.status_code == 404  # an id in the body names nothing, as one in the path
    assert "customer_id" in missing.json()["error"]["fields"]


# --- Deliveries, pages, sends, groups -----------------------------------------------------------------


def test_deliveries_page_by_cursor_with_the_admins_filters(api):
    webhook = make_webhook("https://crm.example.com/hook")
    customers = make_customers(5)
    message = Message.objects.create(event="form/submit")
    for customer in customers:
        Delivery.objects.create(message=message, webhook=webhook, customer=customer, event="form/submit", body="{}")
    Delivery.objects.filter(customer=customers[0]).update(status="failed")
    seen, cursor, pages = [], None, 0
    while True:
        answer = api("GET", "/deliveries?limit=2" + (f"&cursor={cursor}" if cursor else "")).json()
        seen += [item["id"] for item in answer["items"]]
        pages += 1
        cursor = answer["next_cursor"]
        if not cursor:
            break
    assert pages == 3
    assert len(seen) == len(set(seen)) == 5
    assert [d["id"] for d in api("GET", "/deliveries?status=failed").json()["items"]] == [
        Delivery.objects.get(customer=customers[0]).pk
    ]
    by_mobile = api("GET", f"/deliveries?customer={customers[1].mobile}").json()["items"]
    assert [d["customer_id"] for d in by_mobile] == [customers[1].pk]
    assert api("GET", "/deliveries?cursor=bm9wZQ").json()["error"]["code"] == "invalid_cursor"
    assert api("GET", "/deliveries?created_before=0.5").status_code == 400
    one = Delivery.objects.get(customer=customers[2])
    Attempt.objects.create(delivery=one, number=1, started_at=one.created_at, url="https://x", succeeded=True)
    detail = api("GET", f"/deliveries/{one.pk}").json()
    assert detail["body"] == "{}"
    assert [a["number"] for a in detail["attempts"]] == [1]


def test_group_sends_and_group_entries(api, owner):
    webhook = make_webhook("https://crm.example.com/hook")
    customers = make_customers(3)
    group = api("POST", "/groups", {"name": "VIP"}).json()
    assert api("POST", f"/groups/{group['id']}/customers", {"customer_ids": [c.pk for c in customers]}).json() == {
        "count": 3
    }
    assert api("POST", f"/groups/{group['id']}/customers/remove", {"customer_ids": [customers[0].pk]}).json() == {
        "count": 1
    }
    unknown = api("POST", f"/groups/{group['id']}/customers", {"customer_ids": [customers[1].pk, 987654]})
    assert unknown.status_code == 404
    assert "987654" in unknown.json()["error"]["fields"]["customer_ids"][0]
    assert api("GET", f"/groups/{group['id']}").json()["customer_count"] == 2
    in_group = api("GET", f"/customers?group_id={group['id']}").json()["items"]
    assert {c["id"] for c in in_group} == {customers[1].pk, customers[2].pk}
    past = api(
        "POST", "/sends", {"webhook_id": webhook.pk, "group_id": group["id"], "scheduled_at": "2020-01-01T00:00:00Z"}
    )
    assert past.status_code == 409
    assert "past" in past.json()["error"]["message"]
    later = api(
        "POST",
        "/sends",
        {"webhook_id": webhook.pk, "group_id": group["id"], "scheduled_at": "2099-01-01T08:00:00+08:00"},
    )
    assert later.status_code == 201
    assert later.json()["status"] == "scheduled"
    assert later.json()["scheduled_at"].startswith("2099-01-01T00:00:00")
    send = GroupSend.objects.get()
    assert send.created_by == owner
    cancelled = api("POST", f"/sends/{send.pk}/cancel")
    assert cancelled.json()["status"] == "cancelled"
    assert api("POST", f"/sends/{send.pk}/cancel").status_code == 409
    assert api("GET", "/sends").json()["items"][0]["progress"]["total"] == 2


def test_customers_are_validated_by_the_model_as_in_the_admin(api):
    created = api("POST", "/customers", {"name": "王小明", "mobile": "13900000001", "attributes": {"city": "上海"}})
    assert created.status_code == 201
    assert created.json()["attributes"] == {"city": "上海"}
    again = api("POST", "/customers", {"name": "另一个", "mobile": "13900000001"})
    # The model's unique constraint, worded as the admin words it.
    assert again.status_code == 400
    assert again.json()["error"]["fields"]["__all__"] == ["A customer with this mobile already exists."]
    bad = api("POST", "/customers", {"name": "x", "mobile": "12345", "attributes": {"1bad": "v"}})
    assert set(bad.json()["error"]["fields"]) == {"mobile", "attributes"}


# --- Idempotency ----------------------------------------------------------------------------------------


def test_idempotency_key_replays_the_first_answer_and_refuses_another_request(api):
    first = api("POST", "/groups", {"name": "一次"}, idempotency_key="abc")
    second = api("POST", "/groups", {"name": "一次"}, idempotency_key="abc")
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    other = api("POST", "/groups", {"name": "两次"}, idempotency_key="abc")
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    # A refused request is not remembered: fixed, it goes through with the same key.
    assert api("POST", "/groups", {"name": ""}, idempotency_key="fix-me").status_code == 400
    assert api("POST", "/groups", {"name": "修好了"}, idempotency_key="fix-me").status_code == 201
    assert sorted(Group.objects.values_list("name", flat=True)) == ["一次", "修好了"]
    assert api("POST", "/groups", {"name": "x"}, idempotency_key="é").json()["error"]["code"] == (
        "invalid_idempotency_key"
    )


def test_openapi_document_describes_every_operation_with_its_scope(client):
    document = client.get("/api/v1/openapi.json").json()
    # One document, generated whole by django-ninja (OpenAPI 3.1, JSON Schema 2020-12), /events included.
    assert document["openapi"] == "3.1.0"
    operations = [(path, method, op) for path, ops in document["paths"].items() for method, op in ops.items()]
    assert len(operations) >= 25
    for path, method, operation in operations:
        (requirement,) = operation["security"]
        (scope,) = requirement["bearerAuth"]
        assert scope in Scope.values
        assert scope in operation["description"]
        assert {"400", "401", "403"} <= set(operation["responses"]), (path, method)
        names = [p["name"] for p in operation.get("parameters", [])]
        assert ("Idempotency-Key" in names) == (method == "post"), (path, method)
    error = document["components"]["schemas"]["ErrorBody"]["properties"]
    assert {"code", "message", "fields", "scope", "events"} <= set(error)
