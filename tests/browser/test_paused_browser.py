"""A paused webhook is visible wherever its work waits, in a real browser against a live server: the group
sends list and page, the delivery list and page, the send dialog and the webhook list each say it is paused,
why (in the reader's language, whatever language the pause was recorded in), and give the Administrator a
link to resume it and the Marketer the names of whom to ask.

Saves docs/screenshots/group-send-paused.png (zh-hans, Administrator).
"""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group as AuthGroup
from django.contrib.auth.models import User
from django.utils import timezone, translation

from tests.factories import make_customers, make_group, make_webhook
from tests.support.browser import PASSWORD, SHOTS, admin_page, log_in
from webhookhub.roles import MARKETER
from webhooks import services
from webhooks.engine.http import AttemptResult
from webhooks.health.services import wave_health_record
from webhooks.models import Delivery, GroupSend, Webhook
from webhooks.services import group_sends

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _paused_by_the_policy_during_a_send():
    """A group send of 34 to a receiver answering 503: the policy (5 failures, 0 hours) paused its webhook."""
    webhook = make_webhook(
        "http://127.0.0.1:9/status/503", name="审计故障(503)", autopause_failures=5, autopause_hours=0
    )
    send = services.group_send_create(webhook=webhook, group=make_group(make_customers(34), name="审计群组"))
    group_sends.group_sends_start_due()
    while group_sends.group_send_fanout_step(send_id=send.pk):
        pass
    now = timezone.now()
    failures = [
        AttemptResult(
            delivery_id="x",
            started_at=now - timedelta(seconds=10 - i),
            duration_ms=5,
            url=webhook.url,
            request_headers={},
            response_status=503,
        )
        for i in range(6)
    ]
    # Recorded in English (as a worker with LANGUAGE_CODE=en would): the readers below see their own language.
    with translation.override("en"):
        wave_health_record(
            webhooks={webhook.pk: Webhook.objects.get(pk=webhook.pk)},
            attempts=[(webhook.pk, r) for r in failures],
            gone={},
            now=now,
        )
    webhook.refresh_from_db()
    assert webhook.is_paused
    # Stored as a cause and its facts, worded when read, in the reader's language.
    assert webhook.pause_reason == ""
    with translation.override("en"):
        assert webhook.pause_text.startswith("Paused automatically")
    return webhook, GroupSend.objects.get(pk=send.pk)


def _note(locator):
    return locator.locator("[data-paused-note]").first


def test_a_paused_webhook_says_so_wherever_its_work_waits(browser, live_server):
    base = live_server.url
    webhook, send = _paused_by_the_policy_during_a_send()
    assert send.status == GroupSend.Status.SENDING
    delivery = Delivery.objects.filter(webhook=webhook).first()
    assert Delivery.objects.filter(webhook=webhook, status=Delivery.Status.PENDING).count() == 34
    resume_href = f"/admin/webhooks/webhook/{webhook.pk}/change/#webhook-health"

    # The Administrator, in Chinese: the reason in Chinese, and a link to resume everywhere.
    with admin_page(browser, language="zh-hans", width=1366, height=768) as page:
        log_in(page, base, username="zhangwei")
        pages = {
            "group sends list": "/admin/webhooks/groupsend/",
            "group send page": f"/admin/webhooks/groupsend/{send.pk}/change/",
            "delivery list": "/admin/webhooks/delivery/",
            "delivery page": f"/admin/webhooks/delivery/{delivery.pk}/change/",
            "webhook list": "/admin/webhooks/webhook/",
        }
        for where, path in pages.items():
            page.goto(base + path)
            note = _note(page)
            assert note.is_visible(), where
            text = note.inner_text() + " " + (note.locator("[data-paused-reason]").get_attribute("title") or "")
            assert "已自动暂停：连续 6 次请求失败" in text, (where, text)  # noqa: RUF001
            assert "最近一次响应：HTTP 503。" in text, (where, text)  # noqa: RUF001
            if where not in ("delivery list", "webhook list"):  # the lists' cells show the reason only
                assert "Webhook“审计故障(503)”已暂停" in text, (where, text)
            assert note.locator("[data-paused-resume]").get_attribute("href") == resume_href, where
            assert note.locator("[data-paused-ask]").count() == 0, where
            if where == "group sends list":
                page.screenshot(path=str(SHOTS / "group-send-paused.png"))
        # The send dialog, from the webhook list.
        page.goto(f"{base}/admin/webhooks/webhook/")
        page.click(f'a[data-webhook="{webhook.pk}"]')
        page.wait_for_selector("#send-paused-warning")
        warning = page.locator("#send-paused-warning")
        assert "审计故障(503)" in warning.inner_text()
        assert "已自动暂停" in warning.inner_text()
        assert warning.locator("[data-paused-resume]").get_attribute("href") == resume_href
        # The link leads to the button that resumes it.
        page.goto(f"{base}/admin/webhooks/groupsend/")
        _note(page).locator("[data-paused-resume]").click()
        page.wait_for_selector("#resume-webhook")
        page.click("#resume-webhook")
        page.wait_for_selector("#pause-webhook")
        assert "已放行 34 条等待中的推送" in page.inner_text(".messagelist li.success")
        assert not Webhook.objects.get(pk=webhook.pk).is_paused
        page.goto(f"{base}/admin/webhooks/groupsend/")
        assert page.locator("[data-paused-note]").count() == 0  # resumed: nothing more to say

    # Paused again; the Marketer, in English: the reason in English, and whom to ask instead of a link.
    services.webhook_pause(webhook=Webhook.objects.get(pk=webhook.pk), reason="CRM 迁移中", user="zhangwei")
    marketer = User.objects.create_user("xiaomei", password=PASSWORD, is_staff=True)
    marketer.groups.add(AuthGroup.objects.get(name=MARKETER))
    with admin_page(browser, language="en", width=1366, height=768) as page:
        log_in(page, base, username="xiaomei", create=False)
        for where, path in {
            "group sends list": "/admin/webhooks/groupsend/",
            "group send page": f"/admin/webhooks/groupsend/{send.pk}/change/",
            "delivery list": "/admin/webhooks/delivery/",
            "delivery page": f"/admin/webhooks/delivery/{delivery.pk}/change/",
            "webhook list": "/admin/webhooks/webhook/",
        }.items():
            page.goto(base + path)
            note = _note(page)
            assert note.is_visible(), where
            assert "CRM 迁移中" in note.inner_text(), where
            ask = note.locator("[data-paused-ask]")
            assert "Only an administrator can resume it: ask zhangwei." in (ask.get_attribute("title") or ""), where
            assert note.locator("[data-paused-resume]").count() == 0, where
        page.goto(f"{base}/admin/webhooks/webhook/")
        page.click(f'a[data-webhook="{webhook.pk}"]')
        page.wait_for_selector("#send-paused-warning")
        warning = page.locator("#send-paused-warning")
        assert "is paused" in warning.inner_text()
        assert "ask zhangwei" in warning.inner_text()
