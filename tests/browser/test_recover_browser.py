"""Bulk recover in a real browser, as a marketer: select the failed deliveries of a send in the deliveries
list, choose the action, read the confirmation (how many, of which webhook), confirm, and watch the
recoveries list's progress reach done, against a live server, a real rq worker and a receiver on 127.0.0.1.
"""

from collections import Counter

import pytest
from django.contrib.auth.models import Group as AuthGroup
from django.contrib.auth.models import User

from tests.factories import make_customers, make_group, make_webhook
from tests.support.browser import PASSWORD, SHOTS, admin_page
from tests.support.receivers import ScriptedServer
from webhookhub.roles import MARKETER
from webhooks import services
from webhooks.models import Attempt, Delivery, GroupSend, Recovery

from .test_admin_browser import _wait

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

RECIPIENTS = 30


def test_recover_the_failed_deliveries_of_a_send_from_the_list(page, live_server, worker):
    healthy = {"on": False}
    answer = lambda hit: (200, {}, b"ok") if healthy["on"] else (500, {}, b"down")  # noqa: E731
    with ScriptedServer(answer) as server:
        webhook = make_webhook(server.url(), name="CRM 线索")
        send = services.group_send_create(webhook=webhook, group=make_group(make_customers(RECIPIENTS)))
        _wait(
            lambda: GroupSend.objects.get(pk=send.pk).status == GroupSend.Status.COMPLETED,
            timeout=90,
            what="the send to end, failed",
        )
        first = Counter(hit.delivery_id for hit in server.posts())
        assert len(first) == RECIPIENTS
        healthy["on"] = True

        marketer = User.objects.create_user("marketer", password=PASSWORD, is_staff=True)
        marketer.groups.add(AuthGroup.objects.get(name=MARKETER))
        base = live_server.url
        page.goto(f"{base}/admin/login/")
        page.fill("#id_username", "marketer")
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_selector("#user-tools")

        page.goto(f"{base}/admin/webhooks/delivery/?status__exact=failed&send={send.pk}")
        page.check("#action-toggle")
        page.select_option("select[name=action]", "recover_selected")
        page.click("button[name=index]")
        total = page.wait_for_selector("#recover-total")
        assert total.get_attribute("data-total") == str(RECIPIENTS)
        assert page.inner_text("#recover-webhooks").count("CRM 线索") == 1
        assert not Recovery.objects.exists(), "nothing happens before the confirmation"
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "recover-confirm.png"), full_page=True)

        page.click("#recover-confirm-button")
        page.wait_for_selector(".messagelist .success")
        recovery = Recovery.objects.get()
        assert recovery.created_by == marketer
        # The list's script follows the progress without a reload.
        page.wait_for_selector(f'[data-recovery-status="{recovery.pk}"][data-status="completed"]', timeout=90_000)
        progress = page.locator(f'tr:has([data-recovery-status="{recovery.pk}"]) .hub-progress')
        assert progress.get_attribute("data-succeeded") == str(RECIPIENTS)
        assert progress.get_attribute("data-pending") == "0"
        page.screenshot(path=str(SHOTS / "recoveries-list.png"), full_page=True)
        again = Counter(hit.delivery_id for hit in server.posts()) - first

    assert set(again) == set(first)
    assert set(again.values()) == {1}
    assert set(Delivery.objects.filter(webhook=webhook).values_list("status", flat=True)) == {"succeeded"}
    assert set(Attempt.objects.filter(number=2).values_list("trigger", "requested_by")) == {("redeliver", marketer.pk)}


@pytest.fixture
def page(live_server, browser):
    with admin_page(browser, width=1600, height=900, accept_dialogs=True) as page:
        yield page
