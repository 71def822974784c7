"""The sends and deliveries lists: progress in words with links, one date format with the time zone, the
deliveries' search and HTTP status filter, the CSV export of a send's results, the delivery page's state."""

import csv
import io
import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.http import StreamingHttpResponse
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from webhooks import selectors
from webhooks.models import Delivery, GroupSend, Message

from ..factories import make_customers, make_group, make_webhook

pytestmark = pytest.mark.django_db

TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
S = Delivery.Status


@pytest.fixture
def webhook():
    return make_webhook("http://127.0.0.1:9/hook", name="CRM hook")


def _send(webhook, statuses, *, status=GroupSend.Status.SENDING, total=None, started=True, prefix="客户"):
    customers = make_customers(len(statuses), prefix=prefix, start=GroupSend.objects.count() * 1000)
    send = GroupSend.objects.create(
        webhook=webhook,
        group=make_group(customers, name=f"群组 {GroupSend.objects.count()}"),
        status=status,
        scheduled_at=timezone.now(),
        started_at=timezone.now() if started else None,
        total=len(statuses) if total is None else total,
    )
    message = Message.objects.create(event="manual/group-send", group_send=send)
    Delivery.objects.bulk_create(
        [
            Delivery(message=message, webhook=webhook, customer=c, event=message.event, body="{}", status=s)
            for c, s in zip(customers, statuses, strict=True)
        ]
    )
    return send


def _viewer(client, *codenames):
    user = User.objects.create_user("viewer", password="pw-viewer-1", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client.force_login(user)
    return user


# --- Progress in words ----------------------------------------------------------------------------


def test_progress_says_percent_and_outcomes_in_words_and_links_to_the_sends_deliveries(admin_client, webhook):
    send = _send(webhook, [S.SUCCEEDED, S.SUCCEEDED, S.FAILED, S.PENDING])
    html = admin_client.get(reverse("admin:webhooks_groupsend_changelist"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'data-sent-pct="75"' in html
    assert ">75%<" in html
    assert "3 of 4 sent" in html
    for word in ("Succeeded", "Failed", "Waiting"):
        assert word in html
    deliveries = reverse("admin:webhooks_delivery_changelist")
    assert f'href="{deliveries}?send={send.pk}"' in html
    assert f'href="{deliveries}?send={send.pk}&amp;status__exact=failed"' in html
    assert reverse("admin:webhooks_groupsend_export", args=[send.pk]) in html
    # The links lead where they say.
    failures = admin_client.get(deliveries, {"send": send.pk, "status__exact": "failed"}).content.decode()
    assert failures.count('class="hub-status hub-status-failed"') == 1

    zh = admin_client.get(reverse("admin:webhooks_groupsend_changelist"), HTTP_ACCEPT_LANGUAGE="zh-hans")
    text = zh.content.decode()
    for word in ("成功", "失败", "等待", "已发送 3 / 共 4"):
        assert word in text


def test_a_stopped_send_says_how_many_were_cancelled_and_how_many_never_written(admin_client, webhook):
    # Two sent, one cancelled when stopped, two never written (the fan-out had not reached them): three not sent.
    send = _send(webhook, [S.SUCCEEDED, S.FAILED, S.CANCELLED], status=GroupSend.Status.CANCELLED, total=5)
    progress = selectors.group_sends_with_progress([send])[0].progress
    assert (progress["cancelled_total"], progress["cancelled"], progress["unwritten"]) == (3, 1, 2)
    assert progress["waiting"] == 0
    assert progress["stopped"] is True
    assert progress["sent_pct"] == 40
    html = admin_client.get(reverse("admin:webhooks_groupsend_changelist"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert f'data-send-stopped="{send.pk}"' in html
    assert "Stopped: not sent to 3 customers: 1 cancelled, 2 never written" in html
    # The cancelled number is the rows the deliveries list shows behind its link; the rest has no row.
    legend = re.search(r'class="hub-n-cancel">(.*?)</li>', html).group(1)
    assert re.search(r">1</a>$", legend), legend
    assert re.search(r'class="hub-n-unwritten">.*Never written 2</li>', html)
    assert "Waiting" not in html
    zh = admin_client.get(reverse("admin:webhooks_groupsend_changelist"), HTTP_ACCEPT_LANGUAGE="zh-hans")
    with translation.override("zh-hans"):
        stopped = translation.ngettext(
            "Stopped: not sent to %(n)s customer: %(cancelled)s cancelled, %(unwritten)s never written "
            "(the send stopped before it wrote their deliveries).",
            "Stopped: not sent to %(n)s customers: %(cancelled)s cancelled, %(unwritten)s never written "
            "(the send stopped before it wrote their deliveries).",
            3,
        ) % {"n": 3, "cancelled": 1, "unwritten": 2}
    assert "另有 2 位客户的推送尚未生成" in stopped
    assert stopped in zh.content.decode()


def test_status_words_read_as_words_in_english_and_as_chinese_in_zh_hans(admin_client, webhook):
    send = _send(webhook, [S.SUCCEEDED, S.RETRYING, S.CANCELLED], status=GroupSend.Status.CANCELLED)
    deliveries = reverse("admin:webhooks_delivery_changelist") + f"?send={send.pk}"
    sends = reverse("admin:webhooks_groupsend_changelist")

    def badges(url, language):
        html = admin_client.get(url, HTTP_ACCEPT_LANGUAGE=language).content.decode()
        return set(re.findall(r'<span class="hub-status hub-status-\w+" data-status="\w+">([^<]+)</span>', html))

    assert badges(deliveries, "en") == {"Succeeded", "Retrying", "Cancelled"}
    assert badges(sends, "en") == {"Cancelled"}
    assert badges(deliveries, "zh-hans") == {"成功", "等待重试", "已取消"}
    assert badges(sends, "zh-hans") == {"已取消"}
    # Every status of every model, in both languages: a word with a capital in English, Chinese in zh-hans.
    from automation.models import FlowRun
    from customers.models import CouponCode
    from webhooks.models import Recovery, WorkerHeartbeat

    choices = [Delivery.Status, GroupSend.Status, Recovery.Status, FlowRun.Status, CouponCode.Status]
    labels = [label for kind in [*choices, WorkerHeartbeat.State] for label in kind.labels]
    with translation.override("en"):
        assert all(str(label)[0].isupper() for label in labels), labels
    with translation.override("zh-hans"):
        assert all(not str(label).isascii() for label in labels), [str(label) for label in labels]


def test_a_stopped_send_that_wrote_every_delivery_says_they_were_cancelled(admin_client, webhook):
    send = _send(webhook, [S.SUCCEEDED, S.CANCELLED, S.CANCELLED], status=GroupSend.Status.CANCELLED, total=3)
    progress = selectors.group_sends_with_progress([send])[0].progress
    assert (progress["cancelled_total"], progress["unwritten"]) == (2, 0)
    html = admin_client.get(reverse("admin:webhooks_groupsend_changelist"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Stopped: 2 deliveries cancelled, not sent." in html
    assert "hub-n-unwritten" not in html
    zh = admin_client.get(reverse("admin:webhooks_groupsend_changelist"), HTTP_ACCEPT_LANGUAGE="zh-hans")
    with translation.override("zh-hans"):
        stopped = translation.ngettext(
            "Stopped: %(n)s delivery cancelled, not sent.", "Stopped: %(n)s deliveries cancelled, not sent.", 2
        ) % {"n": 2}
    assert stopped.startswith("已停止")
    assert stopped in zh.content.decode()


def test_the_list_and_the_sends_page_show_one_progress_and_links_only_to_who_may_follow_them(client, webhook):
    send = _send(webhook, [S.SUCCEEDED])
    _viewer(client, "view_groupsend")
    listing = client.get(reverse("admin:webhooks_groupsend_changelist")).content.decode()
    page = client.get(reverse("admin:webhooks_groupsend_change", args=[send.pk])).content.decode()
    for html in (listing, page):
        assert f'data-send-progress="{send.pk}"' in html
        assert "data-send-deliveries" not in html
    User.objects.get(username="viewer").user_permissions.add(Permission.objects.get(codename="view_delivery"))
    page = client.get(reverse("admin:webhooks_groupsend_change", args=[send.pk])).content.decode()
    assert f'data-send-deliveries="{send.pk}"' in page
    assert f'data-send-export="{send.pk}"' in page
    polled = client.get(reverse("admin:webhooks_groupsend_status"), {"ids": send.pk}).json()["sends"][0]
    assert f'data-send-export="{send.pk}"' in polled["cells"]["progress_bar"]


# --- One date format, the time zone said once -----------------------------------------------------


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_lists_and_pages_show_one_date_format_and_the_time_zone(admin_client, webhook, language):
    send = _send(webhook, [S.SUCCEEDED], status=GroupSend.Status.COMPLETED)
    GroupSend.objects.filter(pk=send.pk).update(finished_at=timezone.now())
    delivery = Delivery.objects.get()
    moment = timezone.localtime(delivery.created_at).strftime("%Y-%m-%d %H:%M:%S")
    for url in (
        reverse("admin:webhooks_groupsend_changelist"),
        reverse("admin:webhooks_delivery_changelist"),
        reverse("admin:webhooks_groupsend_change", args=[send.pk]),
        reverse("admin:webhooks_delivery_change", args=[delivery.pk]),
        reverse("admin:customers_customer_changelist"),
    ):
        html = admin_client.get(url, HTTP_ACCEPT_LANGUAGE=language).content.decode()
        assert TIME.search(html), url
        assert not re.search(r"\d{4}年\d{1,2}月\d{1,2}日", html), url  # Django's zh-hans format is gone
        assert not re.search(r"[A-Z][a-z]{2}\.? \d{1,2}, \d{4}", html), url  # and its English one
    sends = admin_client.get(reverse("admin:webhooks_groupsend_changelist"), HTTP_ACCEPT_LANGUAGE=language)
    assert "(UTC+8)" in sends.content.decode()
    deliveries = admin_client.get(reverse("admin:webhooks_delivery_changelist"), HTTP_ACCEPT_LANGUAGE=language)
    assert moment in deliveries.content.decode()
    assert 'title="Asia/Shanghai (UTC+8)"' in deliveries.content.decode()
    page = admin_client.get(reverse("admin:webhooks_groupsend_change", args=[send.pk]), HTTP_ACCEPT_LANGUAGE=language)
    assert "Asia/Shanghai (UTC+8)" in page.content.decode()
    # Other lists with times name the zone once, under the list; these two name it in their headers.
    with translation.override(language):
        note = translation.gettext("Times are in %(zone)s.") % {"zone": "Asia/Shanghai (UTC+8)"}
    customers = admin_client.get(reverse("admin:customers_customer_changelist"), HTTP_ACCEPT_LANGUAGE=language)
    assert note in customers.content.decode()
    assert 'id="time-zone-note"' not in deliveries.content.decode()
    assert 'id="time-zone-note"' not in sends.content.decode()
    webhooks = admin_client.get(reverse("admin:webhooks_webhook_changelist"), HTTP_ACCEPT_LANGUAGE=language)
    assert 'id="time-zone-note"' not in webhooks.content.decode()  # no time column


# --- Deliveries: search and the HTTP status filter ------------------------------------------------


def _rows(client, **query):
    html = client.get(reverse("admin:webhooks_delivery_changelist"), query).content.decode()
    return html.count('class="hub-status hub-status-')


def test_deliveries_search_by_customer_and_by_the_id_prefix_the_list_shows(admin_client, webhook):
    _send(webhook, [S.SUCCEEDED, S.FAILED, S.SUCCEEDED], prefix="王")
    _send(webhook, [S.SUCCEEDED, S.SUCCEEDED], prefix="李")
    first = Delivery.objects.filter(customer__name="王0").get()
    assert _rows(admin_client) == 5
    assert _rows(admin_client, q="王") == 3
    assert _rows(admin_client, q="王1") == 1
    assert _rows(admin_client, q="微信") == 5  # WeChat nickname prefix
    assert _rows(admin_client, q=first.customer.mobile) == 1
    assert _rows(admin_client, q=first.customer.mobile[:7]) == 5  # a mobile prefix
    html = admin_client.get(reverse("admin:webhooks_delivery_changelist")).content.decode()
    assert f'<code class="hub-id" title="{first.pk}">{first.pk[:8]}</code>' in html
    assert _rows(admin_client, q=first.pk[:8]) == 1
    assert _rows(admin_client, q=first.pk[:8].upper()) == 1
    assert _rows(admin_client, q=first.pk) == 1
    assert _rows(admin_client, q="nothing-like-this") == 0


def test_deliveries_search_says_when_too_many_customers_match(admin_client, webhook, monkeypatch):
    monkeypatch.setattr(selectors, "SEARCH_CUSTOMERS", 2)
    _send(webhook, [S.SUCCEEDED] * 3, prefix="王")
    response = admin_client.get(reverse("admin:webhooks_delivery_changelist"), {"q": "王"}, HTTP_ACCEPT_LANGUAGE="en")
    html = response.content.decode()
    assert html.count('class="hub-status hub-status-') == 2
    assert "More than 2 customers start with “王”" in html
    narrow = admin_client.get(reverse("admin:webhooks_delivery_changelist"), {"q": "王1"}, HTTP_ACCEPT_LANGUAGE="en")
    assert "More than" not in narrow.content.decode()


def test_deliveries_search_reads_a_few_indexed_queries(admin_client, webhook):
    _send(webhook, [S.SUCCEEDED] * 3, prefix="王")
    with CaptureQueriesContext(connection) as queries:
        admin_client.get(reverse("admin:webhooks_delivery_changelist"), {"q": "王"})
    customer_reads = [q["sql"] for q in queries.captured_queries if 'FROM "customers_customer"' in q["sql"]]
    # The customer picker's own lookups (name, WeChat nickname), each bounded: never a scan of the customers.
    assert 1 <= len(customer_reads) <= 3, customer_reads
    assert all("LIMIT" in sql for sql in customer_reads), customer_reads
    # The id prefix is a range on the primary key's index.
    sql = "SELECT id FROM webhooks_delivery WHERE id >= 'ab12' AND id < 'ab12g'"
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("EXPLAIN QUERY PLAN " + sql)
            plan = " ".join(str(row) for row in cursor.fetchall())
            assert "INDEX" in plan, plan
        else:
            cursor.execute("SET enable_seqscan = off")  # a tiny table: ask whether the index can serve it
            cursor.execute("EXPLAIN " + sql)
            plan = " ".join(row[0] for row in cursor.fetchall())
            cursor.execute("RESET enable_seqscan")
            assert "webhooks_delivery_pkey" in plan, plan


def test_deliveries_filter_by_http_status_class(admin_client, webhook):
    send = _send(webhook, [S.SUCCEEDED, S.SUCCEEDED, S.FAILED, S.FAILED, S.FAILED, S.PENDING])
    deliveries = list(Delivery.objects.filter(message__group_send=send).order_by("customer_id"))
    for delivery, code, attempts in zip(deliveries, [200, 204, 302, 404, None, None], [1, 1, 1, 1, 2, 0], strict=True):
        Delivery.objects.filter(pk=delivery.pk).update(last_status_code=code, attempt_count=attempts)
    assert _rows(admin_client, http="2xx") == 2
    assert _rows(admin_client, http="3xx") == 1
    assert _rows(admin_client, http="4xx") == 1
    assert _rows(admin_client, http="5xx") == 0
    assert _rows(admin_client, http="none") == 1  # attempted, no answer; the pending one is not counted
    assert _rows(admin_client, http="none", status__exact="failed") == 1
    html = admin_client.get(reverse("admin:webhooks_delivery_changelist"), HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert "无响应" in html.content.decode()


def test_the_deliveries_list_counts_at_most_its_cap_and_says_more_than(admin_client, webhook, monkeypatch):
    from webhooks.admin.delivery import CappedPaginator

    monkeypatch.setattr(CappedPaginator, "CAP", 3)
    send = _send(webhook, [S.SUCCEEDED] * 5)
    Delivery.objects.filter(message__group_send=send).update(last_status_code=200, attempt_count=1)
    url = reverse("admin:webhooks_delivery_changelist")
    with CaptureQueriesContext(connection) as queries:
        html = admin_client.get(url, {"http": "2xx"}, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "超过 3 条推送" in html
    counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"] and "last_status_code" in q["sql"]]
    assert counts
    assert all("LIMIT 4" in sql for sql in counts), counts
    # Under the cap: the exact count, as before.
    html = admin_client.get(url, {"http": "4xx"}, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert 'id="result-count-capped"' not in html


# --- CSV export -----------------------------------------------------------------------------------


def test_csv_export_of_a_sends_results_streams_utf8_with_a_bom(admin_client, webhook):
    send = _send(webhook, [S.SUCCEEDED, S.FAILED], prefix="=cmd")
    failed = Delivery.objects.get(status=S.FAILED)
    Delivery.objects.filter(pk=failed.pk).update(last_status_code=500, last_error="HTTP 500", attempt_count=2)
    response = admin_client.get(
        reverse("admin:webhooks_groupsend_export", args=[send.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans"
    )
    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert f"group-send-{send.pk}-results.csv" in response["Content-Disposition"]
    body = b"".join(response.streaming_content)
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    with translation.override("zh-hans"):
        words = [translation.gettext(w) for w in ("delivery ID", "customer ID", "customer", "mobile", "status")]
    assert rows[0][:5] == words
    assert words[1] == "客户 ID"
    assert "Asia/Shanghai" in rows[0][-1]
    assert len(rows) == 3
    by_id = {row[0]: row for row in rows[1:]}
    row = by_id[failed.pk]
    assert row[2].startswith("'=cmd")  # a formula to Excel is kept as text
    assert row[3] == failed.customer.mobile
    assert row[4] == "失败"
    assert row[5:8] == ["2", "500", "HTTP 500"]
    assert TIME.fullmatch(row[8])
    english = admin_client.get(reverse("admin:webhooks_groupsend_export", args=[send.pk]), HTTP_ACCEPT_LANGUAGE="en")
    header = next(csv.reader(io.StringIO(b"".join(english.streaming_content).decode("utf-8-sig"))))
    assert header[:5] == ["delivery ID", "customer ID", "customer", "mobile", "status"]


def test_csv_export_reads_in_chunks_and_needs_the_right_to_view_deliveries(client, webhook):
    send = _send(webhook, [S.SUCCEEDED] * 5)
    rows = selectors.group_send_results(send=send, chunk_size=2)
    assert not isinstance(rows, list)  # an iterator over a cursor, never the whole send in memory
    assert len(list(rows)) == 5
    _viewer(client, "view_groupsend")
    assert client.get(reverse("admin:webhooks_groupsend_export", args=[send.pk])).status_code == 403
    User.objects.get(username="viewer").user_permissions.add(Permission.objects.get(codename="view_delivery"))
    assert client.get(reverse("admin:webhooks_groupsend_export", args=[send.pk])).status_code == 200


# --- The delivery page ----------------------------------------------------------------------------


def test_the_delivery_page_asks_before_redelivering_and_watches_a_waiting_delivery(admin_client, admin_user, webhook):
    send = _send(webhook, [S.FAILED])
    delivery = Delivery.objects.get(message__group_send=send)
    url = reverse("admin:webhooks_delivery_change", args=[delivery.pk])
    html = admin_client.get(url).content.decode()
    assert 'id="redeliver-button" data-confirm="' in html
    assert "data-watch=" not in html  # final: nothing to watch
    assert "webhooks/delivery.js" in html
    Delivery.objects.filter(pk=delivery.pk).update(
        status=S.PENDING, redeliver_requested_by=admin_user, next_attempt_at=timezone.now() + timedelta(seconds=1)
    )
    html = admin_client.get(url).content.decode()
    state_url = reverse("admin:webhooks_delivery_state", args=[delivery.pk])
    assert f'data-watch="{state_url}"' in html
    state = admin_client.get(state_url).json()
    assert state == {"status": "pending", "attempt_count": 0, "final": False, "redelivery_waiting": True}
    assert admin_client.get(reverse("admin:webhooks_delivery_state", args=["0" * 32])).status_code == 404
