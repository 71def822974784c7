"""Alerts (issue "Unattended operation", item 3): the health signal → one alert per channel, incident and kind,
sent by a real rq worker to fake WeCom, DingTalk and Feishu robots on 127.0.0.1 that check signatures as
their vendors do; email through Django's locmem backend; the admin's test-alert button; Redis losing the job."""

import json
import time
from datetime import timedelta

import django_rq
import pytest
from django.core import mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from alerts import services
from alerts.models import Alert, Channel
from webhooks import services as webhook_services
from webhooks.models import Webhook
from webhooks.signals import webhook_health_changed

from ..factories import make_customers, make_webhook
from ..support.receivers import ScriptedServer
from ..support.robots import FakeDingTalk, FakeFeishu, FakeWeCom, message_text
from ..support.waiting import wait_until
from ..support.workers import running_worker

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

DING_SECRET = "SECb7f0e5c2d9a14c5e8f3b6a1d0c9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0"
FEISHU_SECRET = "feishu-sign-secret-9f8e7d"
FAILING_FACTS = {
    "consecutive_failures": 7,
    "failing_since": "2026-12-07T01:02:03+00:00",
    "last_error": "HTTP 503",
    "last_status_code": 503,
    "reason": "",
    "by": "",
}


@pytest.fixture
def robots():
    with (
        FakeWeCom(token="wecom-key-7d3a") as wecom,
        FakeDingTalk(token="ding-token-5c1e", secret=DING_SECRET) as dingtalk,
        FakeFeishu(token="feishu-hook-2b9f", secret=FEISHU_SECRET) as feishu,
    ):
        yield {"wecom": wecom, "dingtalk": dingtalk, "feishu": feishu}


def robot_channels(robots, **fields) -> dict[str, Channel]:
    return {
        kind: Channel.objects.create(name=f"{kind} 告警群", kind=kind, url=robot.url, secret=robot.secret, **fields)
        for kind, robot in robots.items()
    }


def announce(webhook, kind="failing", incident_id=1, facts=None):
    """What the health branch does: the signal after the commit of the health change."""
    with transaction.atomic():
        transaction.on_commit(
            lambda: webhook_health_changed.send(
                sender=Webhook, webhook=webhook, kind=kind, incident_id=incident_id, facts=facts or FAILING_FACTS
            )
        )


def test_the_signal_sends_one_signed_alert_per_channel_even_when_sent_twice(robots, redis_conn, run_worker, settings):
    settings.LANGUAGE_CODE = "zh-hans"
    webhook = make_webhook("https://crm.example.com/hook?token=crm-secret-token", name="CRM 会员同步")
    channels = robot_channels(robots)
    announce(webhook)
    announce(webhook)  # the same incident and kind again: still one alert per channel
    assert Alert.objects.count() == 3
    # The rows came first; one rq job carries them (the second signal enqueued nothing).
    assert django_rq.get_queue("realtime").count == 1

    log = run_worker(LANGUAGE_CODE="zh-hans")

    for kind, robot in robots.items():
        alert = Alert.objects.get(channel=channels[kind])
        assert alert.status == Alert.Status.SENT, (kind, alert.error, log[-2000:])
        assert alert.response_status == 200
        assert alert.incident_id == 1
        assert alert.webhook == webhook
        assert len(robot.messages) == 1, kind
        assert robot.refused == []
        text = message_text(kind, robot.messages[0])
        assert "Webhook 推送失败：CRM 会员同步" in text
        assert "连续失败" in text
        assert "7" in text
        assert "HTTP 503" in text
        assert "2026-12-07 09:02:03" in text  # failing since, in the installation's time zone
        assert f"/admin/webhooks/webhook/{webhook.pk}/change/" in text
        # The webhook's URL is shown without its token.
        assert "crm-secret-token" not in json.dumps(robot.messages[0], ensure_ascii=False)
        assert "crm.example.com/hook" in text
    assert robots["dingtalk"].signature_checked == 1
    assert robots["feishu"].signature_checked == 1
    assert robots["wecom"].messages[0]["msgtype"] == "markdown"
    assert robots["dingtalk"].messages[0]["msgtype"] == "markdown"
    assert robots["feishu"].messages[0]["msg_type"] == "interactive"
    # Nothing of the robots' keys reached the worker's log.
    for secret in ("wecom-key-7d3a", "ding-token-5c1e", "feishu-hook-2b9f", DING_SECRET, FEISHU_SECRET):
        assert secret not in log

    # The same incident announced again after the sends: nothing new goes out.
    announce(webhook)
    run_worker()
    assert sum(len(robot.messages) for robot in robots.values()) == 3
    # A new kind of the same incident is a new message; a channel not covering the webhook stays silent.
    other = make_webhook("https://other.example.com/hook", name="另一个")
    channels["wecom"].all_webhooks = False
    channels["wecom"].save()
    channels["wecom"].webhooks.set([other])
    announce(webhook, kind="recovered", facts={**FAILING_FACTS, "consecutive_failures": 0})
    run_worker(LANGUAGE_CODE="zh-hans")
    assert len(robots["wecom"].messages) == 1
    assert len(robots["dingtalk"].messages) == 2
    assert "Webhook 已恢复：CRM 会员同步" in message_text("dingtalk", robots["dingtalk"].messages[1])


def test_a_robot_answering_an_error_or_too_slowly_is_recorded_and_the_others_get_theirs(robots, redis_conn, run_worker):
    channels = robot_channels(robots)
    # A wrong 加签 secret: DingTalk answers HTTP 200 with errcode 310000.
    channels["dingtalk"].secret = "SECwrong"
    channels["dingtalk"].save()
    with ScriptedServer(delay=4) as slow:
        Channel.objects.create(name="慢机器人", kind=Channel.Kind.WECOM, url=slow.url("/cgi-bin/webhook/send?key=k"))
        webhook = make_webhook("https://crm.example.com/hook", name="CRM")
        announce(webhook, incident_id=42)
        log = run_worker(ALERT_TIMEOUT="1", ALERT_RETRY_DELAYS="")

    failed = Alert.objects.get(channel=channels["dingtalk"])
    assert failed.status == Alert.Status.FAILED, log[-2000:]
    assert failed.response_status == 200
    assert json.loads(failed.response_body)["errcode"] == 310000
    assert "310000" in failed.error
    assert robots["dingtalk"].refused == [310000]
    timed_out = Alert.objects.get(channel__name="慢机器人")
    assert timed_out.status == Alert.Status.FAILED
    assert timed_out.error  # a timeout, in words
    assert timed_out.response_status is None
    for kind in ("wecom", "feishu"):
        assert Alert.objects.get(channel=channels[kind]).status == Alert.Status.SENT
        assert len(robots[kind].messages) == 1


def test_a_failed_alert_is_tried_again_by_the_due_work(robots, redis_conn, run_worker):
    channels = robot_channels({"dingtalk": robots["dingtalk"]})
    channels["dingtalk"].secret = "SECwrong"
    channels["dingtalk"].save()
    announce(make_webhook("https://crm.example.com/hook"), incident_id=5)
    run_worker(ALERT_RETRY_DELAYS="1")
    alert = Alert.objects.get()
    assert alert.status == Alert.Status.PENDING
    assert alert.tries == 1
    assert alert.next_attempt_at is not None
    # The secret is put right; the retry's time comes, and the drain's due work sends it.
    Channel.objects.filter(pk=channels["dingtalk"].pk).update(secret=channels["dingtalk"].secret)
    channel = Channel.objects.get(pk=channels["dingtalk"].pk)
    channel.secret = DING_SECRET
    channel.save()
    Alert.objects.filter(pk=alert.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    log = run_worker(ALERT_RETRY_DELAYS="1")
    alert.refresh_from_db()
    assert alert.status == Alert.Status.SENT, log[-2000:]
    assert alert.tries == 2
    assert len(robots["dingtalk"].messages) == 1


def test_redis_losing_the_job_still_sends_through_the_due_work(robots, redis_conn, run_worker, settings):
    channels = robot_channels(robots)
    announce(make_webhook("https://crm.example.com/hook", name="CRM"), incident_id=9)
    assert Alert.objects.filter(status=Alert.Status.PENDING).count() == 3
    redis_conn.flushall()  # Redis restarted empty: the send job is gone
    assert django_rq.get_queue("realtime").count == 0
    # The grace a job has passes while nothing in Redis remembers the alerts.
    Alert.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))

    log = run_worker()  # its tick finds the due alerts; the drain's due work hands them to a new job

    for kind, robot in robots.items():
        assert Alert.objects.get(channel=channels[kind]).status == Alert.Status.SENT, log[-2000:]
        assert len(robot.messages) == 1


def test_email_has_the_facts_in_the_installations_language(settings):
    settings.LANGUAGE_CODE = "zh-hans"
    settings.HUB_BASE_URL = "https://hub.example.com"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    channel = Channel.objects.create(
        name="运营邮件", kind=Channel.Kind.EMAIL, recipients="ops@example.com, marketing@example.com"
    )
    webhook = make_webhook("https://user:pw@crm.example.com/hook?key=abc123", name="CRM 会员同步")
    paused = {
        **FAILING_FACTS,
        "reason": "410",
        "last_error": "HTTP 410 Gone",
        "last_status_code": 410,
    }
    (alert,) = services.alerts_record(webhook=webhook, kind="paused", incident_id=3, facts=paused)
    services.alerts_send(alert_ids=[alert.pk])

    alert.refresh_from_db()
    assert alert.status == Alert.Status.SENT
    assert channel.alerts.count() == 1
    (email,) = mail.outbox
    assert email.to == ["ops@example.com", "marketing@example.com"]
    assert email.subject == "[WebhookHub] Webhook 已暂停：CRM 会员同步"
    assert "接收方返回 410 Gone" in email.body
    assert "HTTP 410" in email.body
    assert f"https://hub.example.com/admin/webhooks/webhook/{webhook.pk}/change/" in email.body
    assert "abc123" not in email.body
    assert "pw@" not in email.body
    html, mimetype = email.alternatives[0]
    assert mimetype == "text/html"
    assert "CRM 会员同步" in html
    assert "接收方返回 410 Gone" in html


def test_pause_reasons_and_recovery_read_naturally_in_chinese(settings):
    settings.LANGUAGE_CODE = "zh-hans"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    Channel.objects.create(name="邮件", kind=Channel.Kind.EMAIL, recipients="ops@example.com")
    webhook = make_webhook("https://crm.example.com/hook", name="CRM")
    cases = [
        ("paused", {"reason": "policy", "consecutive_failures": 20}, "自动暂停策略"),
        ("paused", {"reason": "manual", "by": "王经理"}, "由 王经理 暂停"),
        ("recovered", {"failing_since": (timezone.now() - timedelta(hours=2)).isoformat()}, "持续失败 2 小时后恢复"),
    ]
    for incident, (kind, facts, _expected) in enumerate(cases, start=10):
        (alert,) = services.alerts_record(webhook=webhook, kind=kind, incident_id=incident, facts=facts)
        services.alerts_send(alert_ids=[alert.pk])
    bodies = [email.body.replace("\xa0", " ") for email in mail.outbox]
    assert len(bodies) == 3
    assert "自动暂停策略" in bodies[0]
    assert "由 王经理 暂停" in bodies[1]
    assert "恢复前已失败" in bodies[2]
    assert "2 小时" in bodies[2]


def test_the_real_engine_pauses_on_410_and_announces_it(robots, redis_conn, run_worker, settings):
    """Through the engine: a 410 pauses the webhook (webhooks/engine/record.py, webhooks/health/services.py),
    whose signal makes the alert; the worker sends it, in the installation's language, with the delivery's facts."""
    settings.LANGUAGE_CODE = "zh-hans"
    channels = robot_channels({"wecom": robots["wecom"]})
    with ScriptedServer(lambda hit: (410, {}, b"gone")) as receiver:
        webhook = make_webhook(receiver.url("/gone"), name="已下线的接收方")
        webhook_services.message_publish(event="form/submit", webhooks=[webhook], customer=make_customers(1)[0])
        run_worker(LANGUAGE_CODE="zh-hans")
    webhook.refresh_from_db()
    assert webhook.is_paused
    assert "410" in webhook.pause_text
    log = run_worker(LANGUAGE_CODE="zh-hans")  # the alert's job, if the first run ended before it
    alert = Alert.objects.get(channel=channels["wecom"])
    assert alert.kind == Alert.Kind.PAUSED
    assert alert.status == Alert.Status.SENT, log[-2000:]
    assert alert.facts["cause"] == "gone"
    assert alert.facts["last_status_code"] == 410
    assert len(robots["wecom"].messages) == 1
    text = message_text("wecom", robots["wecom"].messages[0])
    assert "Webhook 已暂停：已下线的接收方" in text
    assert "410" in text


def _admin_client(client, django_user_model):
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw-123456")
    client.force_login(admin)
    return client


def test_the_test_alert_button_sends_a_marked_message_and_shows_the_answer(robots, client, django_user_model):
    channels = robot_channels(robots)
    client = _admin_client(client, django_user_model)
    page = client.get(reverse("admin:alerts_channel_change", args=[channels["feishu"].pk]))
    assert page.status_code == 200
    content = page.content.decode()
    assert 'id="test-alert-button"' in content
    # The robot's key and secret are never sent to the browser; the URL shows masked.
    assert "feishu-hook-2b9f" not in content
    assert FEISHU_SECRET not in content
    assert "/open-apis/bot/v2/hook/••••••" in content

    answer = client.post(reverse("admin:alerts_channel_test_alert", args=[channels["feishu"].pk]), follow=True)
    shown = answer.content.decode()
    assert len(robots["feishu"].messages) == 1
    assert "[TEST]" in message_text("feishu", robots["feishu"].messages[0])
    assert robots["feishu"].signature_checked == 1
    assert "200" in shown
    assert "success" in shown
    test_alert = Alert.objects.get(kind=Alert.Kind.TEST, channel=channels["feishu"])
    assert test_alert.status == Alert.Status.SENT

    # The list action: every selected channel, one failing (a wrong 加签) without stopping the others.
    channels["dingtalk"].secret = "SECwrong"
    channels["dingtalk"].save()
    answer = client.post(
        reverse("admin:alerts_channel_changelist"),
        {"action": "send_test_alerts", "_selected_action": [c.pk for c in channels.values()]},
        follow=True,
    )
    shown = answer.content.decode()
    assert "310000" in shown
    assert len(robots["wecom"].messages) == 1
    assert len(robots["feishu"].messages) == 2
    assert robots["dingtalk"].refused == [310000]
    records = client.get(reverse("admin:alerts_alert_changelist") + "?status__exact=failed").content.decode()
    assert "310000" in records
    assert 'data-alert-status="failed"' in records


def test_marketers_neither_see_nor_change_channels(client, django_user_model):
    from django.contrib.auth.models import Group

    marketer = django_user_model.objects.create_user("marketer", password="pw-123456", is_staff=True)
    marketer.groups.add(Group.objects.get(name="Marketer"))
    channel = Channel.objects.create(name="邮件", kind=Channel.Kind.EMAIL, recipients="ops@example.com")
    client.force_login(marketer)
    assert client.get(reverse("admin:alerts_channel_changelist")).status_code == 403
    assert client.get(reverse("admin:alerts_channel_change", args=[channel.pk])).status_code in (302, 403)
    assert client.post(reverse("admin:alerts_channel_test_alert", args=[channel.pk])).status_code == 403
    index = client.get(reverse("admin:index")).content.decode()
    assert reverse("admin:alerts_channel_changelist") not in index
    assert reverse("admin:alerts_alert_changelist") not in index


def test_the_channel_form_keeps_secrets_write_only(client, django_user_model):
    client = _admin_client(client, django_user_model)
    url = reverse("admin:alerts_channel_add")
    data = {
        "name": "钉钉告警群",
        "kind": "dingtalk",
        "is_active": "on",
        "url": "https://oapi.dingtalk.com/robot/send?access_token=tok-abc-123",
        "secret": "SECsecret-xyz",
        "message_format": "markdown",
        "recipients": "",
        "all_webhooks": "on",
        "on_failing": "on",
        "on_paused": "on",
    }
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[-3000:]
    channel = Channel.objects.get()
    assert channel.url.reveal().endswith("tok-abc-123")
    assert channel.secret.reveal() == "SECsecret-xyz"
    # Stored encrypted.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT url, secret FROM alerts_channel")
        raw_url, raw_secret = cursor.fetchone()
    assert raw_url.startswith("enc:")
    assert "tok-abc-123" not in raw_url
    assert "SECsecret" not in raw_secret
    # Saving again without touching the secrets keeps them.
    change = reverse("admin:alerts_channel_change", args=[channel.pk])
    page = client.get(change).content.decode()
    assert "tok-abc-123" not in page
    assert "SECsecret-xyz" not in page
    assert "access_token=••••••" in page
    response = client.post(change, {**data, "name": "钉钉告警群 2", "url": "", "secret": ""})
    assert response.status_code == 302
    channel.refresh_from_db()
    assert channel.name == "钉钉告警群 2"
    assert channel.secret.reveal() == "SECsecret-xyz"
    listing = client.get(reverse("admin:alerts_channel_changelist")).content.decode()
    assert "tok-abc-123" not in listing
    assert "access_token=••••••" in listing
    # A robot channel without its URL is refused with a clear error.
    response = client.post(url, {**data, "url": ""})
    assert response.status_code == 200
    assert Channel.objects.count() == 1


def test_plain_text_messages_are_taken_by_every_robot(robots, settings):
    settings.LANGUAGE_CODE = "zh-hans"
    robot_channels(robots, message_format=Channel.Format.TEXT)
    webhook = make_webhook("https://crm.example.com/hook", name="CRM")
    alerts = services.alerts_record(webhook=webhook, kind="failing", incident_id=8, facts=FAILING_FACTS)
    counts = services.alerts_send(alert_ids=[alert.pk for alert in alerts])
    assert counts == {"sent": 3, "failed": 0, "retry": 0}
    assert robots["wecom"].messages[0]["msgtype"] == "text"
    assert robots["dingtalk"].messages[0]["msgtype"] == "text"
    assert robots["feishu"].messages[0]["msg_type"] == "text"
    for kind, robot in robots.items():
        text = message_text(kind, robot.messages[0])
        assert text.startswith("[WebhookHub] Webhook 推送失败：CRM")
        assert "**" not in text


def test_robot_urls_are_masked_and_their_keys_known_as_secrets():
    from alerts.robots import masked_url, url_secrets

    cases = {
        "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx": (
            "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=••••••",
            ["693a91f6-7xxx"],
        ),
        "https://oapi.dingtalk.com/robot/send?access_token=abc%2Fdef": (
            "https://oapi.dingtalk.com/robot/send?access_token=••••••",
            ["abc/def"],
        ),
        "https://open.feishu.cn/open-apis/bot/v2/hook/0d2f-77aa": (
            "https://open.feishu.cn/open-apis/bot/v2/hook/••••••",
            ["0d2f-77aa"],
        ),
        "https://u:pw@crm.example.com:8443/in?x=1&token=t9": (
            "https://crm.example.com:8443/in?x=1&token=••••••",
            ["t9", "pw"],
        ),
    }
    for url, (masked, secrets) in cases.items():
        assert masked_url(url) == masked
        assert url_secrets(url) == secrets


def test_a_sender_killed_during_its_request_sends_the_failing_alert_once(redis_conn):
    """kill -9 of the worker while the robot takes its time: the next worker does not send it again."""
    with FakeWeCom(token="wecom-kill-9", delay=3.0) as wecom:
        Channel.objects.create(name="值班群", kind="wecom", url=wecom.url)
        announce(make_webhook("https://crm.example.com/hook", name="CRM"), incident_id=11)
        alert = Alert.objects.get()
        env = {"ALERT_TIMEOUT": "5"}
        with running_worker(**env) as first:
            wait_until(
                lambda: sum(wecom.server.in_flight.values()) > 0, timeout=30, message="the robot has the request"
            )
            first.kill9()
        wait_until(lambda: len(wecom.messages) == 1, timeout=10, message="the robot took the message")
        # The claim of the dead sender expires (2 × ALERT_TIMEOUT + 2 s); the next worker finds the alert then.
        with running_worker(**env) as second:
            wait_until(
                lambda: Alert.objects.get(pk=alert.pk).status != Alert.Status.PENDING,
                timeout=90,
                message="the dead sender's alert settled",
            )
            time.sleep(4)  # a second copy would arrive now
        alert.refresh_from_db()
        assert len(wecom.messages) == 1, second.log[-2000:]
        assert alert.status == Alert.Status.UNCONFIRMED
        assert "probably" in alert.error


def test_a_sender_killed_before_its_request_leaves_the_alert_to_the_next_one():
    """Claimed, but the sender died before writing sending_since: the alert is sent, once."""
    with FakeWeCom(token="wecom-before") as wecom:
        Channel.objects.create(name="值班群", kind="wecom", url=wecom.url)
        announce(make_webhook("https://crm.example.com/hook", name="CRM"), incident_id=12)
        (alert_id,) = services.alerts_claim(alert_ids=list(Alert.objects.values_list("pk", flat=True)))
        assert services.alerts_send(alert_ids=[alert_id]) == {"sent": 0, "failed": 0, "retry": 0}  # held
        Alert.objects.filter(pk=alert_id).update(claimed_until=timezone.now() - timedelta(seconds=1))
        assert services.alerts_send(alert_ids=[alert_id])["sent"] == 1
        assert len(wecom.messages) == 1
        assert Alert.objects.get(pk=alert_id).sending_since is None
