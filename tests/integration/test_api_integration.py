"""An integrator without the admin: from nothing to a delivered group send, a redelivery, and a bulk
redelivery of a send that failed while the receiver was down, through HTTP with scoped keys, against the
live server, a real rq worker and a receiver that verifies every request with the public standardwebhooks
library."""

import time

import pytest
import requests
import standardwebhooks
from django.contrib.auth import get_user_model

from api.models import Scope
from api.services import api_key_create
from webhooks.content.signing import verify
from webhooks.models import Attempt, GroupSend, Recovery

from ..support.receivers import ScriptedServer
from ..support.waiting import wait_until
from ..support.workers import running_worker

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

INTEGRATOR_SCOPES = [
    Scope.CUSTOMERS_READ,
    Scope.CUSTOMERS_WRITE,
    Scope.WEBHOOKS_READ,
    Scope.WEBHOOKS_WRITE,
    Scope.SENDS_READ,
    Scope.SENDS_WRITE,
    Scope.DELIVERIES_READ,
    Scope.DELIVERIES_WRITE,
]


class Client:
    def __init__(self, base: str, raw_key: str):
        self.base = base
        self.session = requests.Session()
        self.session.headers.update({"Authorization": f"Bearer {raw_key}", "Accept-Language": "en"})

    def __call__(self, method: str, path: str, body=None, expect: int | None = None, **headers):
        response = self.session.request(method, f"{self.base}/api/v1{path}", json=body, headers=headers, timeout=10)
        if expect is not None:
            assert response.status_code == expect, (method, path, response.status_code, response.text)
        return response.json()


class VerifyingReceiver:
    """A receiver as its developer would write it: the public library, and the DM Hub signature."""

    def __init__(self):
        self.secret = ""
        self.seen = []
        self.down = False

    def __call__(self, hit):
        headers = {k.lower(): v for k, v in hit.headers.items()}
        if self.down:  # the CRM is down for maintenance
            self.seen.append((headers["webhook-id"], None))
            return 503, {}, b"maintenance"
        try:
            standardwebhooks.Webhook(self.secret).verify(hit.body.encode("utf-8"), headers)
            ok = verify(hit.body, headers["x-clab-hmac-signature"], "crm-key")
        except standardwebhooks.webhooks.WebhookVerificationError:
            ok = False
        self.seen.append((headers["webhook-id"], ok))
        return (200, {}, b"ok") if ok else (401, {}, b"bad signature")


def test_from_nothing_to_a_delivered_group_send_and_a_redelivery_through_http(live_server, redis_conn):
    # The one step in the admin: an administrator creates the key (what it does is recorded as theirs).
    admin = get_user_model().objects.create_superuser("admin", "a@example.com", "pw")
    _key, raw = api_key_create(name="CRM 集成", scopes=INTEGRATOR_SCOPES, user=admin)
    api = Client(live_server.url, raw)
    _reader, reader_raw = api_key_create(name="只读", scopes=[Scope.SENDS_READ, Scope.WEBHOOKS_READ], user=admin)
    reader = Client(live_server.url, reader_raw)
    receiver = VerifyingReceiver()
    started = time.monotonic()
    with ScriptedServer(receiver) as server, running_worker() as worker:
        # Customers, a group, its entries.
        ids = [
            api("POST", "/customers", {"name": f"客户{i}", "mobile": f"1390000000{i}"}, expect=201)["id"]
            for i in range(3)
        ]
        group = api("POST", "/groups", {"name": "API 群组"}, expect=201)
        assert api("POST", f"/groups/{group['id']}/customers", {"customer_ids": ids}, expect=200) == {"count": 3}

        # A webhook with both signatures; its Standard Webhooks secret comes back this once.
        template = '{"customerId":"${customerId}","name":"${customer.name}","sendId":"${sendId}"}'
        webhook = api(
            "POST",
            "/webhooks",
            {
                "name": "CRM",
                "url": server.url("/crm"),
                "auth_type": "secret",
                "secret_key": "crm-key",
                "body_template": template,
                "standard_webhooks": True,
            },
            expect=201,
        )
        receiver.secret = webhook["standard_secret"]
        assert receiver.secret.startswith("whsec_")
        assert "crm-key" not in str(webhook)

        # A key without sends:write cannot send; the integrator's can, once per Idempotency-Key.
        refused = reader("POST", "/sends", {"webhook_id": webhook["id"], "group_id": group["id"]}, expect=403)
        assert refused["error"]["scope"] == "sends:write"
        body = {"webhook_id": webhook["id"], "group_id": group["id"]}
        send = api("POST", "/sends", body, expect=201, **{"Idempotency-Key": "send-1"})
        assert api("POST", "/sends", body, expect=201, **{"Idempotency-Key": "send-1"})["id"] == send["id"]
        assert GroupSend.objects.count() == 1

        done = wait_until(
            lambda: (s := api("GET", f"/sends/{send['id']}", expect=200))["status"] == "completed" and s,
            timeout=30,
            interval=0.2,
            message="the group send completed",
        )
        assert done["progress"] == {"total": 3, "succeeded": 3, "failed": 0, "cancelled": 0, "pending": 0}, worker.log
        deliveries = api("GET", f"/deliveries?send_id={send['id']}", expect=200)["items"]
        assert len(deliveries) == 3
        assert {d["status"] for d in deliveries} == {"succeeded"}
        assert {d["customer_id"] for d in deliveries} == set(ids)

        # Redeliver one: same delivery id, a new attempt, verified again by the receiver.
        target = deliveries[0]["id"]
        queued = api("POST", f"/deliveries/{target}/redeliver", expect=202, **{"Idempotency-Key": "again-1"})
        assert queued["status"] == "pending"
        redelivered = wait_until(
            lambda: (
                (d := api("GET", f"/deliveries/{target}", expect=200))["attempt_count"] == 2
                and d["status"] == "succeeded"
                and d
            ),
            timeout=30,
            interval=0.2,
            message="the redelivery",
        )
        seen_before_outage = list(receiver.seen)

        # The CRM is down during a second send: every delivery fails. Back up, the integrator sends the
        # failed ones again in bulk with a key that may only redeliver, and the same ids arrive.
        receiver.down = True
        outage = api("POST", "/sends", body, expect=201, **{"Idempotency-Key": "send-2"})
        wait_until(
            lambda: api("GET", f"/sends/{outage['id']}", expect=200)["progress"]["failed"] == 3,
            timeout=30,
            interval=0.2,
            message="the send during the outage failed",
        )
        failed_ids = {d["id"] for d in api("GET", f"/deliveries?send_id={outage['id']}&status=failed")["items"]}
        receiver.down = False
        _fixer, fixer_raw = api_key_create(
            name="运维", scopes=[Scope.DELIVERIES_READ, Scope.DELIVERIES_WRITE], user=admin
        )
        fixer = Client(live_server.url, fixer_raw)
        refused = reader("POST", "/deliveries/recover", {"send_id": outage["id"]}, expect=403)
        assert refused["error"]["scope"] == "deliveries:write"
        recover = {"send_id": outage["id"]}
        recovery = fixer("POST", "/deliveries/recover", recover, expect=202, **{"Idempotency-Key": "recover-1"})
        assert (recovery["kind"], recovery["total"], recovery["status"]) == ("send", 3, "running")
        replay = fixer("POST", "/deliveries/recover", recover, expect=202, **{"Idempotency-Key": "recover-1"})
        assert replay["id"] == recovery["id"]
        recovered = wait_until(
            lambda: (r := fixer("GET", f"/recoveries/{recovery['id']}", expect=200))["status"] == "completed" and r,
            timeout=30,
            interval=0.2,
            message="the bulk recover completed",
        )
    elapsed = time.monotonic() - started
    assert recovered["progress"] == {"total": 3, "succeeded": 3, "failed": 0, "cancelled": 0, "pending": 0}
    assert [a["trigger"] for a in redelivered["attempts"]] == ["first", "redeliver"]
    assert Attempt.objects.get(delivery_id=target, number=2).requested_by == admin
    assert all(ok for _id, ok in seen_before_outage)
    assert len(seen_before_outage) == 4
    assert [delivery_id for delivery_id, _ok in seen_before_outage].count(target) == 2
    first, second = redelivered["attempts"]
    assert first["request_headers"]["webhook-id"] == second["request_headers"]["webhook-id"] == target
    # The bulk recover: each failed id once more, verified, as a redelivery by the key's creator.
    after = receiver.seen[len(seen_before_outage) :]
    assert sorted(delivery_id for delivery_id, ok in after if ok is None) == sorted(failed_ids)
    assert sorted(delivery_id for delivery_id, ok in after if ok) == sorted(failed_ids)
    assert all(ok is not False for _id, ok in after)
    again = Attempt.objects.filter(delivery_id__in=failed_ids, number=2)
    assert set(again.values_list("trigger", "requested_by")) == {("redeliver", admin.pk)}
    assert len(Recovery.objects.filter(pk=recovery["id"])) == 1
    assert elapsed < 90
