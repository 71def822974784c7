"""Bulk recover's entry points and its service, through the test client and the database (no worker):
the confirmation pages say how many, of which webhooks, before anything happens; the counting; the
batches; who may; stop."""

import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from webhookhub.errors import HubError
from webhooks import services
from webhooks.content.events import Event
from webhooks.engine import claim
from webhooks.models import Delivery, GroupSend, Message, Recovery
from webhooks.services import recoveries

from ..factories import make_customers, make_group, make_key_owner, make_webhook

pytestmark = pytest.mark.django_db

HOOK_URL = "http://127.0.0.1:9/hook"
S = Delivery.Status


def _send(webhook, statuses, *, event=Event.GROUP_SEND, body="{}"):
    customers = make_customers(len(statuses), start=Delivery.objects.count() + 1000)
    send = GroupSend.objects.create(
        webhook=webhook,
        group=make_group(customers, name=f"g{Delivery.objects.count()}"),
        status=GroupSend.Status.COMPLETED,
        scheduled_at=timezone.now(),
        total=len(statuses),
    )
    message = Message.objects.create(event=event, group_send=send)
    Delivery.objects.bulk_create(
        [
            Delivery(message=message, webhook=webhook, customer=c, event=event, body=body, status=status)
            for c, status in zip(customers, statuses, strict=True)
        ]
    )
    return send


def test_the_preview_counts_what_is_sent_again_and_why_not_the_rest():
    webhook = make_webhook(HOOK_URL, name="CRM")
    other = make_webhook(HOOK_URL, name="ERP")
    inactive = make_webhook(HOOK_URL, name="old", is_active=False)
    send = _send(webhook, [S.FAILED, S.FAILED, S.CANCELLED, S.SUCCEEDED, S.PENDING, S.SENDING])
    _send(other, [S.FAILED])
    _send(inactive, [S.FAILED])
    _send(webhook, [S.FAILED], event=Event.TEST_SEND)
    _send(webhook, [S.FAILED], body="")  # blanked by retention
    preview = recoveries.recovery_preview(kind=Recovery.Kind.SEND, criteria={"send_id": send.pk})
    assert (preview["total"], preview["skipped"], preview["skipped_open"], preview["skipped_succeeded"]) == (3, 3, 2, 1)
    assert preview["webhooks"] == [{"id": webhook.pk, "name": "CRM", "count": 3}]
    everything = recoveries.recovery_preview(kind=Recovery.Kind.FILTER, criteria={"status": "failed"})
    assert everything["total"] == 3  # two of CRM's send, ERP's; not the inactive, test send or blanked ones
    assert everything["skipped_other"] == 3
    assert {w["name"] for w in everything["webhooks"]} == {"CRM", "ERP"}


def test_create_counts_only_and_the_batches_move_at_most_batch_rows_keeping_ids(monkeypatch, marketer):
    webhook = make_webhook(HOOK_URL)
    send = _send(webhook, [S.FAILED] * 7 + [S.CANCELLED] * 3)
    before = {d.pk: d for d in Delivery.objects.all()}
    recovery = services.recovery_create(kind=Recovery.Kind.SEND, criteria={"send_id": send.pk}, user=marketer)
    assert (recovery.total, recovery.moved, recovery.status) == (10, 0, Recovery.Status.RUNNING)
    assert not Delivery.objects.filter(status=S.PENDING).exists(), "the request moved nothing"
    assert recoveries.recoveries_due()
    monkeypatch.setattr(recoveries, "BATCH", 4)
    assert recoveries.recoveries_advance() == 1
    assert Delivery.objects.filter(status=S.PENDING, recovery=recovery).count() == 4
    while recoveries.recoveries_advance():
        pass
    recovery.refresh_from_db()
    assert (recovery.moved, recovery.total, recovery.moving_done) == (10, 10, True)
    assert not recoveries.recoveries_due()
    moved = Delivery.objects.filter(recovery=recovery)
    assert set(moved.values_list("pk", flat=True)) == set(before)
    assert set(moved.values_list("status", "priority", "redeliver_requested_by")) == {
        (S.PENDING, Delivery.Priority.BULK, marketer.pk)
    }
    assert recoveries.recoveries_active() == [(recovery.pk, webhook.pk)]
    # Not complete while any is open; then completed with its counts kept.
    assert recoveries.recoveries_complete() == 0
    moved.update(status=S.SUCCEEDED)
    assert recoveries.recoveries_complete() == 1
    recovery.refresh_from_db()
    assert (recovery.status, recovery.succeeded, recovery.failed) == (Recovery.Status.COMPLETED, 10, 0)


def test_a_delivery_redelivered_by_hand_meanwhile_and_later_failures_are_left_alone(marketer):
    webhook = make_webhook(HOOK_URL)
    send = _send(webhook, [S.FAILED] * 3)
    recovery = services.recovery_create(kind=Recovery.Kind.SEND, criteria={"send_id": send.pk}, user=marketer)
    first = Delivery.objects.order_by("created_at", "pk").first()
    services.delivery_redeliver(delivery=first, user=marketer)
    _send(webhook, [S.FAILED])  # a failure after the recovery was asked for is not its
    while recoveries.recoveries_advance():
        pass
    recovery.refresh_from_db()
    assert (recovery.moved, recovery.total, recovery.skipped) == (2, 2, 1)
    assert Delivery.objects.get(pk=first.pk).priority == Delivery.Priority.REALTIME


def test_stop_cancels_what_was_moved_and_not_sent_and_moves_no_more(monkeypatch, marketer):
    webhook = make_webhook(HOOK_URL)
    send = _send(webhook, [S.FAILED] * 6)
    recovery = services.recovery_create(kind=Recovery.Kind.SEND, criteria={"send_id": send.pk}, user=marketer)
    monkeypatch.setattr(recoveries, "BATCH", 4)
    recoveries.recoveries_advance()
    with CaptureQueriesContext(connection) as queries:
        stopped = services.recovery_stop(recovery=recovery, user=marketer)
    # The stop only marks the recovery, whatever its size (it returned in 4.2 s with 3,802 to cancel):
    # not one delivery row is written inside the request.
    table = Delivery._meta.db_table
    assert [q["sql"] for q in queries if table in q["sql"] and not q["sql"].startswith("SELECT")] == []
    assert stopped.status == Recovery.Status.STOPPED
    assert recoveries.recoveries_advance() == 0
    assert recoveries.recoveries_active() == []
    # Nothing of it is claimed any more, and the drains' upkeep cancels what it moved, a batch a turn.
    assert (
        claim.deliveries_claim(
            webhook_id=webhook.pk, priorities=claim.BULK, limit=10, token="t", recovery_id=recovery.pk
        )
        == []
    )
    assert recoveries.recoveries_settle() == 4
    assert Delivery.objects.filter(status=S.CANCELLED, recovery=recovery).count() == 4
    assert "stopped by mkt" in Delivery.objects.filter(recovery=recovery).first().last_error
    assert Delivery.objects.filter(status=S.FAILED, recovery__isnull=True).count() == 2  # never moved
    # A wave in flight at the stop that set a retry is cancelled by the drain's upkeep.
    Delivery.objects.filter(recovery=recovery).update(status=S.RETRYING)
    assert recoveries.recoveries_settle() == 4
    with pytest.raises(HubError):
        services.recovery_stop(recovery=recovery, user=marketer)


def test_nothing_recoverable_is_refused_with_the_reason():
    webhook = make_webhook(HOOK_URL)
    send = _send(webhook, [S.SUCCEEDED])
    with pytest.raises(HubError, match="only failed or cancelled"):
        services.recovery_create(kind=Recovery.Kind.SEND, criteria={"send_id": send.pk})
    with pytest.raises(HubError, match="at least one filter"):
        services.recovery_create(kind=Recovery.Kind.FILTER, criteria={})
    assert not Recovery.objects.exists()


def test_the_list_action_confirms_the_selection_then_creates_the_recovery(marketer_client, marketer):
    webhook = make_webhook(HOOK_URL, name="CRM")
    _send(webhook, [S.FAILED, S.FAILED, S.SUCCEEDED])
    ids = list(Delivery.objects.values_list("pk", flat=True))
    url = reverse("admin:webhooks_delivery_changelist")
    page = marketer_client.post(url, {"action": "recover_selected", "_selected_action": ids})
    assert page.status_code == 200
    text = page.content.decode()
    assert 'data-total="2"' in text
    assert "CRM" in text
    assert not Recovery.objects.exists(), "nothing happens before the confirmation"
    criteria = page.context["criteria_json"]
    created = marketer_client.post(
        reverse("admin:webhooks_recovery_confirm"), {"kind": "selection", "criteria": criteria}
    )
    assert created.status_code == 302
    recovery = Recovery.objects.get()
    assert (recovery.kind, recovery.total, recovery.skipped, recovery.created_by) == ("selection", 2, 1, marketer)
    listing = marketer_client.get(reverse("admin:webhooks_recovery_changelist"))
    assert f'data-recovery-status="{recovery.pk}"' in listing.content.decode()
    detail = marketer_client.get(reverse("admin:webhooks_recovery_change", args=[recovery.pk]))
    assert detail.status_code == 200
    assert '<div class="hub-progress"' in detail.content.decode()
    status = marketer_client.get(reverse("admin:webhooks_recovery_status") + f"?ids={recovery.pk}").json()
    assert status["recoveries"][0]["status"] == "running"
    assert "hub-progress" in status["recoveries"][0]["cells"]["progress_bar"]


def test_select_all_matching_the_filters_carries_the_filters(monkeypatch, marketer_client):
    webhook = make_webhook(HOOK_URL, name="CRM")
    other = make_webhook(HOOK_URL, name="ERP")
    _send(webhook, [S.FAILED] * 4 + [S.SUCCEEDED])
    _send(other, [S.FAILED] * 2)
    monkeypatch.setattr(recoveries, "MAX_IDS", 3)  # more than the ids a confirmation carries
    url = reverse("admin:webhooks_delivery_changelist") + f"?webhook__id__exact={webhook.pk}&status__exact=failed"
    ids = list(Delivery.objects.filter(webhook=webhook, status=S.FAILED).values_list("pk", flat=True))
    page = marketer_client.post(
        url, {"action": "recover_selected", "_selected_action": ids[:1], "select_across": "1", "index": "0"}
    )
    assert page.status_code == 200
    assert 'data-total="4"' in page.content.decode()
    assert json.loads(page.context["criteria_json"]) == {"webhook_id": webhook.pk, "status": "failed"}
    assert page.context["kind"] == "filter"


def test_a_send_and_a_webhook_have_their_own_confirmation(marketer_client):
    webhook = make_webhook(HOOK_URL, name="CRM")
    send = _send(webhook, [S.FAILED, S.CANCELLED, S.SUCCEEDED])
    sends = marketer_client.get(reverse("admin:webhooks_groupsend_changelist")).content.decode()
    assert f'data-send-recover="{send.pk}"' in sends
    detail = marketer_client.get(reverse("admin:webhooks_groupsend_change", args=[send.pk])).content.decode()
    assert f'data-send-recover="{send.pk}"' in detail
    confirm = reverse("admin:webhooks_recovery_confirm")
    page = marketer_client.get(f"{confirm}?send={send.pk}")
    assert 'data-total="2"' in page.content.decode()
    webhook_page = marketer_client.get(reverse("admin:webhooks_webhook_change", args=[webhook.pk])).content.decode()
    assert f"{confirm}?webhook={webhook.pk}" in webhook_page
    asks = marketer_client.get(f"{confirm}?webhook={webhook.pk}")
    assert 'type="datetime-local"' in asks.content.decode()
    since = timezone.localtime(timezone.now() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    counted = marketer_client.get(f"{confirm}?webhook={webhook.pk}&since={since}")
    assert 'data-total="2"' in counted.content.decode()
    later = timezone.localtime(timezone.now() + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    assert (
        'id="recover-nothing"' in marketer_client.get(f"{confirm}?webhook={webhook.pk}&since={later}").content.decode()
    )


def test_who_cannot_redeliver_cannot_recover(client):
    reader = User.objects.create_user("reader", password="pw-reader-1", is_staff=True)
    reader.user_permissions.add(*Permission.objects.filter(codename__in=["view_delivery", "view_groupsend"]))
    client.force_login(reader)
    webhook = make_webhook(HOOK_URL)
    send = _send(webhook, [S.FAILED])
    confirm = reverse("admin:webhooks_recovery_confirm")
    assert client.get(f"{confirm}?send={send.pk}").status_code == 403
    criteria = json.dumps({"send_id": send.pk})
    assert client.post(confirm, {"kind": "send", "criteria": criteria}).status_code == 403
    page = client.get(reverse("admin:webhooks_delivery_changelist")).content.decode()
    assert "recover_selected" not in page
    assert client.get(reverse("admin:webhooks_recovery_changelist")).status_code == 200  # may watch
    assert not Recovery.objects.exists()


def test_the_open_api_names_a_recovery_one_way_at_a_time_and_stops_it(client):
    from api.models import Scope
    from api.services import api_key_create

    owner = make_key_owner("integrator")
    _key, raw = api_key_create(name="ops", scopes=[Scope.DELIVERIES_READ, Scope.DELIVERIES_WRITE], user=owner)
    _reader, reader_raw = api_key_create(name="read", scopes=[Scope.DELIVERIES_READ], user=owner)
    webhook = make_webhook(HOOK_URL)
    send = _send(webhook, [S.FAILED, S.FAILED, S.CANCELLED, S.SUCCEEDED])

    def post(path, body, key=raw):
        return client.post(
            f"/api/v1{path}", json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}"
        )

    assert post("/deliveries/recover", {"send_id": send.pk}, key=reader_raw).status_code == 403
    mixed = post("/deliveries/recover", {"delivery_ids": ["a" * 32], "status": "failed"})
    assert mixed.status_code == 400
    assert "delivery_ids" in mixed.json()["error"]["fields"]
    assert post("/deliveries/recover", {}).status_code == 400
    assert post("/deliveries/recover", {"since": "2026-01-01T00:00:00Z"}).status_code == 400
    assert post("/deliveries/recover", {"status": "succeeded"}).json()["error"]["code"] == "refused"
    answer = post("/deliveries/recover", {"webhook_id": webhook.pk, "status": "failed"})
    assert answer.status_code == 202
    body = answer.json()
    assert (body["kind"], body["total"], body["moved"], body["status"]) == ("filter", 2, 0, "running")
    assert body["progress"] == {"total": 2, "succeeded": 0, "failed": 0, "cancelled": 0, "pending": 2}
    read = client.get(f"/api/v1/recoveries/{body['id']}", HTTP_AUTHORIZATION=f"Bearer {reader_raw}")
    assert read.json()["id"] == body["id"]
    stopped = post(f"/recoveries/{body['id']}/stop", {})
    assert stopped.status_code == 200
    assert stopped.json()["status"] == "stopped"
    assert Recovery.objects.get(pk=body["id"]).stopped_by == owner
    assert post(f"/recoveries/{body['id']}/stop", {}).status_code == 409
