"""Bulk recover in a real browser, as a marketer: select the failed deliveries of a send in the deliveries
list, choose the action, read the confirmation (how many, of which webhook), confirm, and watch the
recoveries list's progress reach done, against a live server, a real rq worker and a receiver on 127.0.0.1.
"""

from collections import Counter

import pytest
from django.contrib.auth.models import Group as AuthGroup
from django.contrib.auth.models import User
from django.utils import translation
from django.utils.timezone import now
from django.utils.translation import gettext

from tests.factories import make_customers, make_group, make_webhook
from tests.support.browser import PASSWORD, SHOTS, admin_page, log_in
from tests.support.receivers import ScriptedServer
from webhookhub.roles import MARKETER
from webhooks import services
from webhooks.content.events import Event
from webhooks.engine.bulk import rows_insert
from webhooks.models import Attempt, Delivery, GroupSend, Message, Recovery, new_delivery_id

from .test_admin_browser import _wait
from .test_lists_browser import FITS

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


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_the_recoveries_list_says_its_progress_in_numbers_and_words_and_fits_1366(live_server, browser, language):
    # Two recoveries as an operator finds them: one done, one still running with its stop button.
    webhook = make_webhook("http://127.0.0.1:9/crm", name="CRM 线索 · 会员中心同步")
    message = Message.objects.create(event=Event.MEMBERSHIP_LEVEL_UP)
    failed = [
        Delivery(
            id=new_delivery_id(), message=message, webhook=webhook, event=message.event, body="{}", status="failed"
        )
        for _ in range(35)
    ]
    rows_insert(Delivery, failed)
    done = services.recovery_create(kind=Recovery.Kind.SELECTION, criteria={"ids": [d.id for d in failed[:34]]})
    Delivery.objects.filter(pk__in=[d.id for d in failed[:34]]).update(status="succeeded")
    Recovery.objects.filter(pk=done.pk).update(
        status=Recovery.Status.COMPLETED, moved=34, succeeded=34, finished_at=now()
    )
    running = services.recovery_create(kind=Recovery.Kind.SELECTION, criteria={"ids": [failed[34].id]})

    with admin_page(browser, language=language, width=1366, height=768) as page:
        log_in(page, live_server.url)
        page.goto(f"{live_server.url}/admin/webhooks/recovery/")
        finished = page.locator(f'tr:has([data-recovery-status="{done.pk}"])')
        with translation.override(language):
            assert gettext("%(sent)s of %(total)s sent") % {"sent": 34, "total": 34} in finished.inner_text()
            assert "100%" in finished.locator(".hub-pct").inner_text()
            assert gettext("%(moved)s of %(total)s queued again") % {"moved": 34, "total": 34} in finished.inner_text()
            waiting = page.locator(f'tr:has([data-recovery-status="{running.pk}"])').inner_text()
            assert gettext("Waiting") in waiting
        problems = page.evaluate(FITS)
        assert problems == [], f"wider than 1366 px: {problems}"
        stop = page.locator(f'[data-recovery-stop="{running.pk}"]').bounding_box()
        assert stop is not None
        assert stop["x"] + stop["width"] <= 1366, stop
        # The named deliveries wrap by words: the cell is wider than a few characters.
        what = page.locator(f'tr:has([data-recovery-status="{done.pk}"]) .field-what').bounding_box()
        assert what is not None
        assert what["width"] >= 130, what
        if language == "zh-hans":
            page.screenshot(path=str(SHOTS / "recoveries-list-1366.png"), full_page=True)
