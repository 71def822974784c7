"""Issue 10.3 and 10.7 (micro-pages): an unverified submit never takes over an existing customer; a double
submit is one submission; the rate limit counts an IPv6 /64 as one client, behind trusted proxies too; CSP."""

import json
import re
import threading

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from automation.models import Flow, FlowRun, FormField, MicroPage, Submission
from customers.models import Customer, Group, GroupEntry
from webhooks.models import Delivery, Message

from ..factories import make_webhook

TEMPLATE = (
    '{"customerId":"${customerId!"none"}","name":"${form.name}","mobile":"${form.mobile}",'
    '"submission":${submission.id},"matched":${submission.matched},"verified":${submission.verified}}'
)


def make_page(*, trust=False, slug="signup") -> MicroPage:
    group = Group.objects.create(name=f"报名-{slug}")
    page = MicroPage.objects.create(title="报名", slug=slug, group=group, trust_submitted_mobile=trust)
    FormField.objects.create(page=page, label="姓名", key="name", required=True, order=1)
    FormField.objects.create(page=page, label="手机", key="mobile", field_type=FormField.Type.MOBILE, order=2)
    page.webhooks.set([make_webhook("http://127.0.0.1:9/crm", body_template=TEMPLATE)])
    Flow.objects.create(name="报名后", trigger=Flow.Trigger.FORM_SUBMITTED, page=page)
    return page


def submit(client, page, **data) -> int:
    return client.post(reverse("automation:page", args=[page.slug]), {"website": "", **data}).status_code


def pushed_body(submission) -> dict:
    return json.loads(Delivery.objects.get(message=submission.message).body)


# --- Who a submit belongs to ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_unverified_submit_never_changes_the_matching_customer(client, redis_conn):
    page = make_page()
    existing = Customer.objects.create(name="老客户", mobile="13800138000", attributes={"vip": True})
    assert submit(client, page, f_name="冒名者", f_mobile="13800138000") == 302

    submission = Submission.objects.get()
    assert (submission.matched, submission.verified, submission.customer) == (True, False, existing)
    existing.refresh_from_db()
    assert existing.name == "老客户"
    assert existing.attributes == {"vip": True}
    assert not GroupEntry.objects.filter(customer=existing).exists()
    assert not FlowRun.objects.exists()
    # Pushed as a submission, not under the customer's id.
    delivery = Delivery.objects.get(message=submission.message)
    assert delivery.customer_id is None
    assert pushed_body(submission) == {
        "customerId": "none",
        "name": "冒名者",
        "mobile": "13800138000",
        "submission": submission.pk,
        "matched": True,
        "verified": False,
    }


@pytest.mark.django_db
def test_a_page_that_trusts_submitted_mobiles_keeps_todays_behaviour(client, redis_conn):
    page = make_page(trust=True)
    existing = Customer.objects.create(name="老客户", mobile="13800138000")
    assert submit(client, page, f_name="老客户", f_mobile="13800138000") == 302

    submission = Submission.objects.get()
    assert (submission.matched, submission.verified, submission.customer) == (True, True, existing)
    assert GroupEntry.objects.filter(group=page.group, customer=existing).exists()
    assert FlowRun.objects.filter(customer=existing).count() == 1
    assert Delivery.objects.get(message=submission.message).customer == existing
    body = pushed_body(submission)
    assert body["customerId"] == str(existing.pk)
    assert body["matched"] is True
    assert body["verified"] is True


@pytest.mark.django_db
def test_a_new_mobile_creates_the_customer_as_before(client, redis_conn):
    page = make_page()
    assert submit(client, page, f_name="新客户", f_mobile="13900001111") == 302
    customer = Customer.objects.get(mobile="13900001111")
    submission = Submission.objects.get()
    assert (submission.matched, submission.verified, submission.customer) == (False, False, customer)
    assert GroupEntry.objects.filter(group=page.group, customer=customer).exists()
    assert FlowRun.objects.filter(customer=customer).count() == 1
    assert pushed_body(submission)["customerId"] == str(customer.pk)


# --- A double submit is one submission -------------------------------------------------------------------


def _token(client, page) -> str:
    html = client.get(reverse("automation:page", args=[page.slug])).content.decode()
    return re.search(r'name="form_token" value="([0-9a-f]{32})"', html).group(1)


@pytest.mark.django_db
def test_the_same_form_submitted_twice_is_one_submission_and_one_push(client, redis_conn):
    page = make_page()
    token = _token(client, page)
    for _ in range(2):
        assert submit(client, page, f_name="李雷", f_mobile="13900002222", form_token=token) == 302
    assert Submission.objects.count() == 1
    assert Message.objects.count() == 1
    assert Delivery.objects.count() == 1
    # The form shown again is a new form: its submit is a new submission.
    assert submit(client, page, f_name="李雷", f_mobile="13900002222", form_token=_token(client, page)) == 302
    assert Submission.objects.count() == 2
    # Each showing of the form has its own token.
    assert _token(client, page) != _token(client, page)


@pytest.mark.django_db(transaction=True)
def test_a_double_click_arriving_at_once_is_one_submission(redis_conn):
    page = make_page()
    token = _token(Client(), page)
    barrier, statuses = threading.Barrier(2), []

    def post():
        barrier.wait()
        statuses.append(submit(Client(), page, f_name="韩梅梅", f_mobile="13900003333", form_token=token))
        connection.close()

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert statuses == [302, 302]
    assert Submission.objects.count() == 1
    assert Message.objects.count() == 1
    assert Customer.objects.filter(mobile="13900003333").count() == 1


@pytest.mark.django_db(transaction=True)
def test_submits_without_a_form_token_arriving_at_once_are_one_submission_and_one_push(redis_conn):
    # Issue 22 (7): leaving form_token out skipped the de-duplication (4 concurrent POSTs, 4 pushes).
    page = make_page()
    barrier, statuses = threading.Barrier(4), []

    def post():
        barrier.wait()
        statuses.append(submit(Client(), page, f_name="韩梅梅", f_mobile="13900004444"))
        connection.close()

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert statuses == [302] * 4
    assert Submission.objects.count() == 1
    assert Message.objects.count() == 1
    assert Delivery.objects.count() == 1


@pytest.mark.django_db
def test_a_tokenless_submit_is_a_repeat_only_with_the_same_answers_within_the_window(client, redis_conn, monkeypatch):
    from datetime import timedelta

    from automation import services

    page = make_page()
    assert submit(client, page, f_name="李雷", f_mobile="13900005555") == 302
    assert submit(client, page, f_name="李雷", f_mobile="13900005555") == 302
    assert Submission.objects.count() == 1
    # Other answers are another submission.
    assert submit(client, page, f_name="李雷", f_mobile="13900006666") == 302
    assert Submission.objects.count() == 2
    # The same answers after the window are a new submission.
    later = services.timezone.now() + timedelta(seconds=2 * services.CONTENT_REPEAT_WINDOW + 1)
    monkeypatch.setattr(services.timezone, "now", lambda: later)
    assert submit(client, page, f_name="李雷", f_mobile="13900005555") == 302
    assert Submission.objects.count() == 3


# --- Rate limit: IPv6 /64, trusted proxies ---------------------------------------------------------------


@pytest.mark.django_db
def test_rate_limit_counts_an_ipv6_64_as_one_client(redis_conn, settings):
    settings.FORM_RATE_LIMIT_PER_MINUTE = 2
    page = make_page()
    same_64 = ["2001:db8:1:2::1", "2001:db8:1:2:aaaa::7", "2001:db8:1:2:ffff:ffff:ffff:ffff"]
    statuses = [
        submit(Client(REMOTE_ADDR=a), page, f_name="x", f_mobile=f"1390000000{i}") for i, a in enumerate(same_64)
    ]
    assert statuses == [302, 302, 429]
    # Another /64 is another client.
    assert submit(Client(REMOTE_ADDR="2001:db8:1:3::1"), page, f_name="y", f_mobile="13900000009") == 302
    # An IPv4-mapped address is its IPv4 address.
    for expected in (302, 302, 429):
        assert submit(Client(REMOTE_ADDR="::ffff:198.51.100.7"), page, f_name="z") == expected


@pytest.mark.django_db
def test_the_client_address_comes_from_trusted_proxies_only(redis_conn, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    page = make_page()
    behind = Client(REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="203.0.113.9, 10.0.0.7")
    assert submit(behind, page, f_name="a") == 302
    forged = Client(REMOTE_ADDR="198.51.100.4", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert submit(forged, page, f_name="b") == 302
    assert list(Submission.objects.order_by("id").values_list("ip", flat=True)) == ["203.0.113.9", "198.51.100.4"]

    settings.FORM_RATE_LIMIT_PER_MINUTE = 1
    # Two visitors behind one proxy are two clients.
    first = Client(REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="203.0.113.20")
    second = Client(REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="203.0.113.21")
    assert [submit(first, page, f_name="c"), submit(second, page, f_name="d"), submit(first, page, f_name="e")] == [
        302,
        302,
        429,
    ]


# --- Content-Security-Policy ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_public_pages_send_a_strict_content_security_policy(client, redis_conn):
    page = make_page()
    for response in (
        client.get(reverse("automation:page", args=[page.slug])),
        client.get(reverse("automation:thanks", args=[page.slug])),
    ):
        policy = response["Content-Security-Policy"]
        assert "default-src 'none'" in policy
        assert "script-src" not in policy
        assert "frame-ancestors 'none'" in policy
        nonce = re.search(r"'nonce-([^']+)'", policy).group(1)
        assert f'<style nonce="{nonce}">' in response.content.decode()
    first = client.get(reverse("automation:page", args=[page.slug]))["Content-Security-Policy"]
    assert first != client.get(reverse("automation:page", args=[page.slug]))["Content-Security-Policy"]
