# ruff: noqa: RUF001 - the Chinese sentences use full-width punctuation on purpose
"""The admin's first screen starts the day: what is failing, paused or overdue, the sends running, the
first steps of a new installation and what each role may do; never Django's empty "recent actions"."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group as AuthGroup
from django.contrib.auth.models import User
from django.utils import timezone

from webhookhub.roles import MARKETER
from webhooks import services
from webhooks.models import Delivery, GroupSend
from webhooks.models.health import WebhookHealth

from ..factories import make_customers, make_group, make_webhook

pytestmark = pytest.mark.django_db


def _index(client) -> str:
    return client.get("/admin/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()


def test_a_new_installation_gets_its_first_steps_and_each_role_what_it_may_do(client):
    marketer = User.objects.create_user("xiaomei", password="pw-marketer-1", is_staff=True)
    marketer.groups.add(AuthGroup.objects.get(name=MARKETER))
    client.force_login(marketer)
    html = _index(client)
    assert "最近动作" not in html
    assert "recent-actions-module" not in html
    steps = html.split('id="hub-first-steps"', 1)[1].split("</ol>", 1)[0]
    assert steps.index("新建 Webhook") < steps.index("发送消息") < steps.index("群发记录")
    assert 'href="/admin/webhooks/webhook/add/"' in steps
    roles = html.split('id="hub-roles"', 1)[1]
    assert "您的角色：营销人员。" in roles
    assert "新建、编辑、测试和发送 Webhook" in roles
    assert "暂停和恢复 Webhook" in roles
    assert "一切正常" in html


def test_what_is_failing_paused_overdue_and_running_is_on_the_first_screen(admin_client, settings):
    customers = make_customers(3)
    failing = make_webhook("https://crm.example.com/a", name="会员中心")
    WebhookHealth.objects.update_or_create(
        webhook=failing,
        defaults={"consecutive_failures": 4, "failing_since": timezone.now(), "last_error": "HTTP 503"},
    )
    paused = make_webhook("https://crm.example.com/b", name="旧 CRM")
    services.webhook_pause(webhook=paused, reason="迁移中", user="laowang")
    running = make_webhook("https://crm.example.com/c", name="双十二群发")
    GroupSend.objects.create(
        webhook=running,
        group=make_group(customers, name="双十二"),
        status=GroupSend.Status.SENDING,
        scheduled_at=timezone.now(),
        total=3,
    )
    services.message_publish(event="form/submit", webhooks=[running], customer=customers[0])
    Delivery.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=settings.WEBHOOK_OVERDUE_WARNING + 5))
    html = _index(admin_client)
    today = html.split('id="hub-today"', 1)[1]
    assert "会员中心" in today.split('id="today-failing"', 1)[1].split("</ul>", 1)[0]
    assert "连续失败 4 次" in today
    assert "旧 CRM" in today.split('id="today-paused"', 1)[1].split("</ul>", 1)[0]
    assert "迁移中" in today
    assert "1 条推送已逾期" in today
    assert "双十二群发" in today.split('id="today-running"', 1)[1].split("</ul>", 1)[0]
    assert "一切正常" not in html
    # Webhooks and sends exist: the first steps are done and make room.
    assert 'id="hub-first-steps"' not in html
    assert "您的角色：管理员。" in html
