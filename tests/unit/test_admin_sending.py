"""The admin's sending screens through the test client: pages, JSON endpoints, validation, roles."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Group as AuthGroup
from django.contrib.auth.models import Permission, User
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from webhookhub.roles import ADMINISTRATOR, MARKETER
from webhooks.health import selectors as health_selectors
from webhooks.models import Attempt, Delivery, GroupSend, Message, Webhook, WebhookHealthHour
from webhooks.secrets import MASK

from ..factories import make_customers, make_group, make_webhook
from .test_webhook_secret_storage import form_data

pytestmark = pytest.mark.django_db

HOOK_URL = "http://127.0.0.1:9/hook"


@pytest.fixture
def webhook():
    return make_webhook(HOOK_URL, name="CRM hook", body_template='{"name":"${customer.name}","id":${customerId}}')


@pytest.fixture
def fixed_webhook():
    return make_webhook(
        HOOK_URL, name="Level hook", trigger_type=Webhook.TriggerType.FIXED, event="loyalty/membership_level_up"
    )


def _send_with_deliveries(webhook, group, statuses, *, status=GroupSend.Status.SENDING, user=None):
    send = GroupSend.objects.create(
        webhook=webhook,
        group=group,
        status=status,
        scheduled_at=timezone.now(),
        total=len(statuses) + 1,
        created_by=user,
    )
    message = Message.objects.create(event="manual/group-send", group_send=send)
    customers = make_customers(len(statuses), prefix=f"S{send.pk}-", start=send.pk * 1000)
    Delivery.objects.bulk_create(
        [
            Delivery(message=message, webhook=webhook, customer=c, event=message.event, body="{}", status=s)
            for c, s in zip(customers, statuses, strict=True)
        ]
    )
    return send


# --- Roles ----------------------------------------------------------------------------------------


def test_roles_exist_with_their_permissions():
    marketer = AuthGroup.objects.get(name=MARKETER)
    codes = {f"{p.content_type.app_label}.{p.codename}" for p in marketer.permissions.select_related("content_type")}
    assert {
        "customers.add_customer",
        "customers.change_group",
        "webhooks.add_groupsend",
        "webhooks.view_delivery",
        "webhooks.view_webhook",
    } <= codes
    assert not {c for c in codes if ".delete_" in c}
    # As in DM Hub, the marketer creates and edits her webhooks; alerts, API keys and users are not hers.
    assert {"webhooks.add_webhook", "webhooks.change_webhook"} <= codes
    assert not {c for c in codes if c.startswith(("alerts.", "api.", "auth."))}
    administrator = AuthGroup.objects.get(name=ADMINISTRATOR)
    assert administrator.permissions.filter(codename="change_webhook").exists()
    assert administrator.permissions.filter(codename="delete_customer").exists()


# --- Webhook list and page ------------------------------------------------------------------------


def test_webhook_list_has_send_button_and_sample_event_button_for_fixed(admin_client, webhook, fixed_webhook):
    response = admin_client.get(reverse("admin:webhooks_webhook_changelist"))
    html = response.content.decode()
    assert response.status_code == 200
    assert f'data-send-dialog="/admin/webhooks/webhook/{webhook.pk}/send/?fragment=1"' in html
    # A fixed-event webhook's button opens the sample event dialog.
    assert f'data-send-dialog="/admin/webhooks/webhook/{fixed_webhook.pk}/send/?fragment=1"' in html
    assert html.count('data-fixed-event="1"') == 1
    fragment = admin_client.get(f"/admin/webhooks/webhook/{fixed_webhook.pk}/send/?fragment=1").content.decode()
    assert 'id="sample-event-form"' in fragment
    assert 'id="test-send-form"' not in fragment
    assert "A fixed-event webhook sends only when its loyalty event happens." in html


def test_send_dialog_fragment_and_page(admin_client, webhook):
    group = make_group(make_customers(3), name="VIP")
    url = reverse("admin:webhooks_webhook_send", args=[webhook.pk])
    fragment = admin_client.get(url + "?fragment=1").content.decode()
    assert 'id="test-send-form"' in fragment
    assert 'id="group-send-form"' in fragment
    assert "<html" not in fragment
    assert f'<option value="{group.pk}">VIP (3 members)</option>' in fragment
    page = admin_client.get(url)
    assert page.status_code == 200
    assert 'id="send-dialog"' in page.content.decode()
    assert "<html" in page.content.decode()


def test_the_dialogs_form_renders_its_own_widgets_and_the_words_come_from_the_js_catalog(admin_client, webhook):
    fragment = admin_client.get(reverse("admin:webhooks_webhook_send", args=[webhook.pk]) + "?fragment=1")
    html = fragment.content.decode()
    # GroupSendForm's widgets, as the form renders them: its choices, not a copy of them.
    assert 'name="when" value="now"' in html
    assert 'name="when" value="scheduled"' in html
    assert 'type="datetime-local"' in html
    assert 'name="time_zone"' in html
    assert "hub-i18n" not in html
    # The scripts' words: Django's JavaScript catalog in the admin's language, loaded before the dialog.
    catalog = admin_client.get(reverse("admin:webhooks_jsi18n"), HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert catalog.status_code == 200
    assert json.dumps("搜索中…") in catalog.content.decode()
    listing = admin_client.get(reverse("admin:webhooks_webhook_changelist")).content.decode()
    assert listing.index(reverse("admin:webhooks_jsi18n")) < listing.index("webhooks/send_dialog.js")


def test_webhook_page_shows_stats_recent_deliveries_and_preview(admin_client, webhook):
    customer = make_customers(1)[0]
    message = Message.objects.create(event="manual/test-send")
    now = timezone.now()
    deliveries = [
        Delivery(
            message=message,
            webhook=webhook,
            customer=customer,
            event="manual/test-send",
            body="{}",
            status=Delivery.Status.SUCCEEDED,
        ),
        Delivery(
            message=Message.objects.create(event="manual/test-send"),
            webhook=webhook,
            customer=customer,
            event="manual/test-send",
            body="{}",
            status=Delivery.Status.SUCCEEDED,
        ),
        Delivery(
            message=Message.objects.create(event="manual/test-send"),
            webhook=webhook,
            customer=customer,
            event="manual/test-send",
            body="{}",
            status=Delivery.Status.FAILED,
        ),
    ]
    Delivery.objects.bulk_create(deliveries)
    # The chart reads the attempts' hourly buckets, as the health block does: one success three days
    # ago counts on its own day; this hour's success and failure today.
    hour = now.replace(minute=0, second=0, microsecond=0)
    WebhookHealthHour.objects.create(webhook=webhook, hour=hour, succeeded=1, failed=1)
    WebhookHealthHour.objects.create(webhook=webhook, hour=hour - timedelta(days=3), succeeded=1, failed=0)
    html = admin_client.get(reverse("admin:webhooks_webhook_change", args=[webhook.pk])).content.decode()
    # One source: the health block's last day is the chart's today.
    assert health_selectors.success_rates(webhook_id=webhook.pk)["day"] == {"succeeded": 1, "failed": 1, "rate": 50.0}
    assert 'id="success-rate">66.7%<' in html
    today = timezone.localdate().isoformat()
    three_days = (timezone.localdate() - timedelta(days=3)).isoformat()
    assert f'data-day="{today}" data-succeeded="1" data-failed="1"' in html
    assert f'data-day="{three_days}" data-succeeded="1" data-failed="0"' in html
    assert html.count('class="hub-chart-day"') == 7
    assert html.count(reverse("admin:webhooks_delivery_change", args=[deliveries[2].pk])) == 1
    assert 'id="template-preview"' in html
    assert "hub-send-button" in html


def test_secrets_write_only_for_administrator_and_marketer(client, webhook, marketer):
    administrator = User.objects.create_user("boss", password="pw-admin-1", is_staff=True)
    administrator.groups.add(AuthGroup.objects.get(name=ADMINISTRATOR))
    url = reverse("admin:webhooks_webhook_change", args=[webhook.pk])

    for user in (administrator, marketer):
        client.force_login(user)
        response = client.get(url)
        html = response.content.decode()
        assert response.status_code == 200
        assert 'name="secret_key"' in html
        assert MASK in html
        assert "s3cr3t" not in html

    # The marketer replaces the key (write-only): it is stored, and never shown back.
    data = form_data(
        name=webhook.name,
        url=HOOK_URL,
        secret_key__replace="on",
        secret_key="new-s3cr3t",
        body_template=webhook.body_template,
        _continue="1",
    )
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    webhook.refresh_from_db()
    assert webhook.secret_key.reveal() == "new-s3cr3t"
    assert "new-s3cr3t" not in client.get(url).content.decode()


def test_marketer_creates_a_webhook_and_is_told_whom_to_ask_for_what_is_not_hers(marketer_client, webhook):
    boss = User.objects.create_user("laowang", password="pw-admin-1", is_staff=True)
    boss.groups.add(AuthGroup.objects.get(name=ADMINISTRATOR))
    marketer_client.defaults["HTTP_ACCEPT_LANGUAGE"] = "zh-hans"
    listing = marketer_client.get(reverse("admin:webhooks_webhook_changelist")).content.decode()
    assert reverse("admin:webhooks_webhook_add") in listing
    assert marketer_client.get(reverse("admin:webhooks_webhook_add")).status_code == 200
    response = marketer_client.post(
        reverse("admin:webhooks_webhook_add"),
        form_data(name="她的 CRM", url=HOOK_URL, secret_key="mkt-s3cr3t"),
    )
    assert response.status_code == 302
    created = Webhook.objects.get(name="她的 CRM")
    assert created.secret_key.reveal() == "mkt-s3cr3t"

    # Pausing is the administrator's: no button, a sentence naming whom to ask instead.
    page = marketer_client.get(reverse("admin:webhooks_webhook_change", args=[created.pk])).content.decode()
    assert 'id="pause-webhook"' not in page
    assert "暂停和恢复 Webhook由管理员操作：请联系 laowang。" in page  # noqa: RUF001
    # A link followed anyway: the friendly page in her language, never a bare "403 Forbidden".
    response = marketer_client.post(reverse("admin:webhooks_webhook_pause", args=[created.pk]), {"reason": "x"})
    assert response.status_code == 403
    html = response.content.decode()
    assert "您的角色不包含此页面或操作，因此没有做任何更改。" in html  # noqa: RUF001
    assert "请联系 laowang。" in html
    assert 'id="forbidden-ask"' in html
    created.refresh_from_db()
    assert not created.is_paused


def test_marketer_cannot_delete(marketer_client, webhook):
    customer = make_customers(1)[0]
    assert marketer_client.get(reverse("admin:customers_customer_delete", args=[customer.pk])).status_code == 403
    assert marketer_client.get(reverse("admin:webhooks_webhook_delete", args=[webhook.pk])).status_code == 403


# --- Customer search ------------------------------------------------------------------------------


def test_customer_search_by_name_nickname_and_mobile(admin_client):
    make_customers(30)  # 客户0… / 微信0… / 13900000000…
    url = reverse("admin:webhooks_customer_search")
    by_nickname = admin_client.get(url, {"q": "微信2"}).json()["results"]
    assert {r["wechat_nickname"] for r in by_nickname} == {
        "微信2",
        "微信20",
        "微信21",
        "微信22",
        "微信23",
        "微信24",
        "微信25",
        "微信26",
        "微信27",
        "微信28",
        "微信29",
    }
    assert [r["name"] for r in admin_client.get(url, {"q": "客户17"}).json()["results"]] == ["客户17"]
    assert [r["mobile"] for r in admin_client.get(url, {"q": "13900000029"}).json()["results"]] == ["13900000029"]
    assert len(admin_client.get(url, {"q": "客户"}).json()["results"]) == 20
    assert admin_client.get(url, {"q": "  "}).json()["results"] == []


def test_customer_search_is_few_indexed_queries():
    from customers.selectors import customer_search

    make_customers(50)
    with CaptureQueriesContext(connection) as queries:
        customer_search(query="1390000001")
    assert len(queries) <= 4  # id, mobile, name, nickname
    for query in queries.captured_queries:
        assert "LIMIT 20" in query["sql"]
        # SQLite: a range on the plain index; PostgreSQL: LIKE 'x%' on the varchar_pattern_ops index.
        assert "LIKE" not in query["sql"] or connection.vendor == "postgresql"
    # The nickname prefix query uses an index on either database (PostgreSQL: the pattern-ops one).
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny table would be scanned otherwise
            cursor.execute("EXPLAIN SELECT * FROM customers_customer WHERE wechat_nickname LIKE '微%%'")
        else:
            cursor.execute(
                "EXPLAIN QUERY PLAN SELECT * FROM customers_customer"
                " WHERE wechat_nickname >= '微' AND wechat_nickname < '微z'"
            )
        plan = " ".join(str(row) for row in cursor.fetchall())
    assert "index" in plan.lower(), plan


# --- Test send and group send ---------------------------------------------------------------------


def test_test_send_creates_a_delivery_recorded_as_the_user(admin_client, admin_user, webhook):
    customer = make_customers(1)[0]
    response = admin_client.post(
        reverse("admin:webhooks_webhook_test_send", args=[webhook.pk]), {"customer": customer.pk}
    )
    assert response.status_code == 201
    delivery = Delivery.objects.get(pk=response.json()["delivery_id"])
    assert delivery.event == "manual/test-send"
    assert delivery.customer == customer
    assert delivery.message.created_by == admin_user
    result = admin_client.get(response.json()["result_url"]).json()
    assert result["status"] == "pending"
    assert result["attempts"] == []
    assert not result["final"]


def test_test_send_errors(admin_client, webhook, fixed_webhook):
    url = reverse("admin:webhooks_webhook_test_send", args=[webhook.pk])
    assert admin_client.post(url, {}).json() == {"errors": {"customer": ["Choose a customer to send the test to."]}}
    assert admin_client.post(url, {"customer": 999999}).status_code == 400
    customer = make_customers(1)[0]
    response = admin_client.post(
        reverse("admin:webhooks_webhook_test_send", args=[fixed_webhook.pk]), {"customer": customer.pk}
    )
    assert response.status_code == 400
    assert "fixed-event" in response.json()["errors"]["__all__"][0]
    assert not Delivery.objects.exists()
    assert admin_client.get(url).status_code == 405


def test_group_send_now(admin_client, admin_user, webhook):
    group = make_group(make_customers(4))
    response = admin_client.post(
        reverse("admin:webhooks_webhook_group_send", args=[webhook.pk]), {"group": group.pk, "when": "now"}
    )
    assert response.status_code == 201, response.content
    send = GroupSend.objects.get(pk=response.json()["send_id"])
    assert send.created_by == admin_user
    assert send.total == 4
    assert send.group == group
    assert abs((send.scheduled_at - timezone.now()).total_seconds()) < 5


def test_group_send_scheduled_in_the_users_time_zone(admin_client, webhook):
    group = make_group(make_customers(2))
    url = reverse("admin:webhooks_webhook_group_send", args=[webhook.pk])
    year = timezone.now().year + 2
    response = admin_client.post(
        url,
        {"group": group.pk, "when": "scheduled", "scheduled_at": f"{year}-01-01T08:00", "time_zone": "Asia/Shanghai"},
    )
    assert response.status_code == 201, response.content
    send = GroupSend.objects.get(pk=response.json()["send_id"])
    assert send.status == GroupSend.Status.SCHEDULED
    assert send.scheduled_at == datetime(year, 1, 1, 0, 0, tzinfo=UTC)
    response = admin_client.post(
        url,
        {
            "group": group.pk,
            "when": "scheduled",
            "scheduled_at": f"{year}-01-01T08:00:30",
            "time_zone": "America/New_York",
        },
    )
    assert GroupSend.objects.get(pk=response.json()["send_id"]).scheduled_at == datetime(
        year, 1, 1, 13, 0, 30, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("data", "field", "text"),
    [
        ({"when": "scheduled", "scheduled_at": "2001-01-01T08:00"}, "scheduled_at", "in the past"),
        ({"when": "scheduled", "scheduled_at": ""}, "scheduled_at", "Choose the date and time"),
        ({"when": "scheduled", "scheduled_at": "tomorrow"}, "scheduled_at", "valid date"),
        ({"when": "now", "group": ""}, "group", "required"),
    ],
)
def test_group_send_refused(admin_client, webhook, data, field, text):
    group = make_group(make_customers(1))
    response = admin_client.post(
        reverse("admin:webhooks_webhook_group_send", args=[webhook.pk]), {"group": group.pk, **data}
    )
    assert response.status_code == 400
    assert text in " ".join(response.json()["errors"][field])
    assert not GroupSend.objects.exists()


def test_group_send_refused_for_an_inactive_webhook(admin_client, webhook):
    webhook.is_active = False
    webhook.save()
    group = make_group(make_customers(1))
    response = admin_client.post(
        reverse("admin:webhooks_webhook_group_send", args=[webhook.pk]), {"group": group.pk, "when": "now"}
    )
    assert response.status_code == 400
    assert "not active" in response.json()["errors"]["__all__"][0]


# --- Sends list -----------------------------------------------------------------------------------


def test_sends_list_progress_in_one_query_per_page(admin_client, webhook):
    group = make_group(make_customers(1))
    S = Delivery.Status
    first = _send_with_deliveries(webhook, group, [S.SUCCEEDED, S.SUCCEEDED, S.FAILED, S.PENDING])
    url = reverse("admin:webhooks_groupsend_changelist")
    cache.clear()  # the administrators' health banner is cached for 10 s: count it on both pages
    with CaptureQueriesContext(connection) as few:
        html = admin_client.get(url).content.decode()
    assert (
        f'data-send-progress="{first.pk}" data-total="5" data-succeeded="2" data-failed="1" data-pending="2"'
        ' data-cancelled="0"'
    ) in html
    assert f'data-send-cancel="{first.pk}"' in html
    for _ in range(6):
        _send_with_deliveries(webhook, group, [S.SUCCEEDED])
    cache.clear()
    with CaptureQueriesContext(connection) as many:
        admin_client.get(url)
    assert len(many) == len(few)


def test_sends_status_json(admin_client, webhook):
    group = make_group(make_customers(1))
    send = _send_with_deliveries(
        webhook, group, [Delivery.Status.SUCCEEDED, Delivery.Status.FAILED], status=GroupSend.Status.COMPLETED
    )
    data = admin_client.get(reverse("admin:webhooks_groupsend_status"), {"ids": f"{send.pk},x,999"}).json()
    assert len(data["sends"]) == 1
    row = data["sends"][0]
    assert row["status"] == "completed"
    assert row["cancellable"] is False
    assert row["progress"]["succeeded"] == 1
    assert row["progress"]["failed"] == 1
    assert row["progress"]["total"] == 3


def test_sends_status_carries_the_rows_live_cells_as_the_list_renders_them(admin_client, webhook):
    group = make_group(make_customers(1))
    S = Delivery.Status
    send = _send_with_deliveries(webhook, group, [S.SUCCEEDED, S.FAILED, S.PENDING])
    listing = admin_client.get(reverse("admin:webhooks_groupsend_changelist")).content.decode()
    row = admin_client.get(reverse("admin:webhooks_groupsend_status"), {"ids": send.pk}).json()["sends"][0]
    assert set(row["cells"]) == {"status_label", "progress_bar", "run_times", "actions_column"}
    for name, html in row["cells"].items():
        assert f'<td class="field-{name}">{html}</td>' in listing, name
    progress = f'data-send-progress="{send.pk}" data-total="4" data-succeeded="1" data-failed="1" data-pending="2"'
    assert progress in row["cells"]["progress_bar"]


def test_cancel_a_scheduled_send_records_who(marketer_client, marketer, webhook):
    group = make_group(make_customers(2))
    send = GroupSend.objects.create(webhook=webhook, group=group, scheduled_at=timezone.now() + timedelta(hours=1))
    response = marketer_client.post(reverse("admin:webhooks_groupsend_cancel", args=[send.pk]))
    assert response.status_code == 302
    send.refresh_from_db()
    assert send.status == GroupSend.Status.CANCELLED
    assert send.cancelled_by == marketer
    # A second cancel is refused with a message, not an error page.
    response = marketer_client.post(reverse("admin:webhooks_groupsend_cancel", args=[send.pk]), follow=True)
    assert "Only a scheduled or running send can be cancelled." in response.content.decode()


def test_sends_list_filters(admin_client, webhook):
    group = make_group(make_customers(1))
    _send_with_deliveries(webhook, group, [Delivery.Status.SUCCEEDED], status=GroupSend.Status.COMPLETED)
    url = reverse("admin:webhooks_groupsend_changelist")
    for query in (
        {"status__exact": "completed"},
        {"webhook__id__exact": webhook.pk},
        {"scheduled_at__gte": str(timezone.localtime() - timedelta(days=1))},
    ):
        response = admin_client.get(url, query)
        assert response.status_code == 200  # an unknown lookup would redirect to ?e=1
        assert "data-send-progress" in response.content.decode()
    assert "data-send-progress" not in admin_client.get(url, {"status__exact": "scheduled"}).content.decode()


# --- Deliveries -----------------------------------------------------------------------------------


@pytest.fixture
def failed_delivery(webhook):
    customer = make_customers(1, prefix="王")[0]
    message = Message.objects.create(event="manual/test-send")
    delivery = Delivery.objects.create(
        message=message,
        webhook=webhook,
        customer=customer,
        event=message.event,
        body='{"name":"王0"}',
        status=Delivery.Status.FAILED,
        attempt_count=1,
        last_status_code=500,
        last_error="HTTP 500",
    )
    Attempt.objects.create(
        delivery=delivery,
        number=1,
        started_at=timezone.now(),
        duration_ms=42,
        url=HOOK_URL,
        request_headers={
            "Content-Type": "application/json; charset=utf-8",
            "Authorization": f"Basic {MASK}",
            "X-Clab-Delivery-Id": delivery.pk,
        },
        response_status=500,
        response_headers={"Server": "test"},
        response_body='{"received":false}',
        response_size=18,
        error_class="HTTPStatus",
        error_message="HTTP 500",
    )
    return delivery


def test_delivery_detail_shows_every_attempt(admin_client, failed_delivery):
    html = admin_client.get(reverse("admin:webhooks_delivery_change", args=[failed_delivery.pk])).content.decode()
    assert failed_delivery.pk in html
    assert f"Basic {MASK}" in html
    assert "{&quot;received&quot;:false}" in html
    assert 'data-response-status="500"' in html
    assert "42 ms" in html
    assert 'id="redeliver-button"' in html
    assert 'id="retry-count">0<' in html


def test_the_dialogs_result_is_the_delivery_pages_attempt_view_rendered_by_the_server(admin_client, failed_delivery):
    Attempt.objects.filter(delivery=failed_delivery).update(response_body="<script>alert(1)</script>")
    result = admin_client.get(reverse("admin:webhooks_delivery_result", args=[failed_delivery.pk])).json()
    assert result["final"]
    assert len(result["attempts"]) == 1
    page = admin_client.get(reverse("admin:webhooks_delivery_change", args=[failed_delivery.pk])).content.decode()
    attempt = result["html"][result["html"].index('<div class="module hub-attempt') :].rstrip()
    assert attempt.endswith("</div>")
    assert attempt in page
    assert 'data-status="failed"' in result["html"]
    assert 'data-response-status="500"' in attempt
    assert "{&quot;name&quot;:&quot;王0&quot;}</pre>" in attempt  # the body as sent
    assert "<script>" not in result["html"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in attempt


def test_redeliver_records_who_did_it_and_needs_the_permission(client, failed_delivery, marketer, django_user_model):
    url = reverse("admin:webhooks_delivery_redeliver", args=[failed_delivery.pk])
    reader = django_user_model.objects.create_user("reader", password="pw-123456!", is_staff=True)
    reader.user_permissions.add(Permission.objects.get(codename="view_delivery"))
    client.force_login(reader)
    detail = client.get(reverse("admin:webhooks_delivery_change", args=[failed_delivery.pk]))
    assert detail.status_code == 200
    assert 'id="redeliver-button"' not in detail.content.decode()
    assert client.post(url).status_code == 403

    # A marketer redelivers (staff see every delivery and send it again); the attempt is theirs.
    client.force_login(marketer)
    detail = client.get(reverse("admin:webhooks_delivery_change", args=[failed_delivery.pk]))
    assert 'id="redeliver-button"' in detail.content.decode()
    response = client.post(url)
    assert response.status_code == 302
    failed_delivery.refresh_from_db()
    assert failed_delivery.status == Delivery.Status.PENDING
    assert failed_delivery.redeliver_requested_by == marketer


def test_delivery_list_filters_and_speed(admin_client, failed_delivery, webhook):
    url = reverse("admin:webhooks_delivery_changelist")
    group = make_group(make_customers(1, start=500))
    send = _send_with_deliveries(webhook, group, [Delivery.Status.SUCCEEDED, Delivery.Status.SUCCEEDED])
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(url)
    html = response.content.decode()
    assert html.count('class="hub-status hub-status-') == 3
    # Session, user, the page of rows (webhook and customer joined), one count, the webhook filter's choices.
    assert len(queries) <= 8, [q["sql"] for q in queries.captured_queries]

    def rows(**query):
        return admin_client.get(url, query).content.decode().count('class="hub-status hub-status-')

    assert rows(send=send.pk) == 2
    assert rows(send=f"#{send.pk}") == 2
    assert rows(customer=failed_delivery.customer_id) == 1
    assert rows(customer=failed_delivery.customer.mobile) == 1
    assert rows(status__exact="failed") == 1
    assert rows(event__exact="manual/test-send") == 1
    assert rows(webhook__id__exact=webhook.pk) == 3
    midnight = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    assert rows(created_at__gte=str(midnight)) == 3
    assert rows(created_at__gte=str(midnight + timedelta(days=1))) == 0


# --- Template preview -----------------------------------------------------------------------------


def test_template_preview(admin_client, webhook):
    customer = make_customers(1, prefix='A"B')[0]
    url = reverse("admin:webhooks_webhook_preview")
    saved = admin_client.post(url, {"customer": customer.pk, "webhook": webhook.pk}).json()
    assert saved == {"body": f'{{"name":"A\\"B0","id":{customer.pk}}}'}
    edited = admin_client.post(
        url, {"customer": customer.pk, "body_template": "Hi ${customer.wechatNickname}", "message_type": "text"}
    ).json()
    assert edited == {"body": "Hi 微信0"}
    broken = admin_client.post(
        url, {"customer": customer.pk, "body_template": '{"a":${nope}}', "message_type": "json"}
    ).json()
    assert "nope" in broken["error"]
    assert admin_client.post(url, {}).status_code == 400


# --- Access ---------------------------------------------------------------------------------------


def test_endpoints_need_a_staff_login(client, webhook):
    for url in (
        reverse("admin:webhooks_customer_search"),
        reverse("admin:webhooks_groupsend_status"),
        reverse("admin:webhooks_webhook_send", args=[webhook.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 302
        assert "/login/" in response.url


def test_staff_without_send_permission_cannot_send(client, webhook):
    user = User.objects.create_user("viewer", password="pw-viewer-1", is_staff=True)
    client.force_login(user)
    customer = make_customers(1)[0]
    assert (
        client.post(
            reverse("admin:webhooks_webhook_test_send", args=[webhook.pk]), {"customer": customer.pk}
        ).status_code
        == 403
    )
    assert client.get(reverse("admin:webhooks_customer_search"), {"q": "客"}).status_code == 403
    assert not Delivery.objects.exists()


def test_marketer_can_send(marketer_client, marketer, webhook):
    customer = make_customers(1)[0]
    assert "hub-send-button" in marketer_client.get(reverse("admin:webhooks_webhook_changelist")).content.decode()
    response = marketer_client.post(
        reverse("admin:webhooks_webhook_test_send", args=[webhook.pk]), {"customer": customer.pk}
    )
    assert response.status_code == 201
    assert Delivery.objects.get().message.created_by == marketer


def test_send_page_is_read_only_with_progress(marketer_client, webhook):
    group = make_group(make_customers(1))
    send = _send_with_deliveries(webhook, group, [Delivery.Status.SUCCEEDED])
    html = marketer_client.get(reverse("admin:webhooks_groupsend_change", args=[send.pk])).content.decode()
    assert f'data-send-progress="{send.pk}" data-total="2" data-succeeded="1"' in html
    assert 'name="_save"' not in html


def test_stop_a_running_send_cancels_its_waiting_deliveries(admin_client, admin_user, webhook):
    group = make_group(make_customers(1))
    S = Delivery.Status
    send = _send_with_deliveries(webhook, group, [S.SUCCEEDED, S.PENDING, S.RETRYING])
    html = admin_client.get(reverse("admin:webhooks_groupsend_changelist")).content.decode()
    assert f'data-send-cancel="{send.pk}"' in html
    assert ">Stop<" in html
    response = admin_client.post(reverse("admin:webhooks_groupsend_cancel", args=[send.pk]), follow=True)
    assert "is stopped" in response.content.decode()
    send.refresh_from_db()
    assert send.status == GroupSend.Status.CANCELLED
    assert send.cancelled_by == admin_user
    statuses = sorted(Delivery.objects.filter(message__group_send=send).values_list("status", flat=True))
    assert statuses == ["cancelled", "cancelled", "succeeded"]
