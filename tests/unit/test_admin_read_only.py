"""Rows the hub writes are read in the admin, never added or edited there; deliveries and sends are not deleted."""

import pytest
from django.contrib import admin

from automation.models import FlowRun, Submission
from webhooks.models import Delivery, GroupSend

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("model", "deletable"), [(Submission, True), (FlowRun, True), (GroupSend, False), (Delivery, False)]
)
def test_rows_the_hub_writes_are_read_only_in_the_admin(rf, admin_user, model, deletable):
    model_admin = admin.site._registry[model]
    request = rf.get("/")
    request.user = admin_user
    assert model_admin.has_view_permission(request)
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert model_admin.has_delete_permission(request) is deletable


def test_a_read_only_webhook_page_agrees_with_the_webhooks_policy_and_has_no_editing_controls(client):
    from django.contrib.auth.models import Permission, User
    from django.urls import reverse

    from tests.factories import make_webhook

    webhook = make_webhook(
        "https://crm.example.com/hook", auto_retry=True, retry_policy="custom", retry_delays=[600, 1200]
    )
    reader = User.objects.create_user("reader", password="pw-reader-1", is_staff=True)
    reader.user_permissions.add(Permission.objects.get(codename="view_webhook"))
    client.force_login(reader)
    html = client.get(
        reverse("admin:webhooks_webhook_change", args=[webhook.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans"
    ).content.decode()
    schedule = html.split('id="retry-schedule"', 1)[1].split("</ul>", 1)[0]
    assert "第 1 次重试：失败后 10 分钟" in schedule  # noqa: RUF001
    assert "第 2 次重试：失败后 20 分钟" in schedule  # noqa: RUF001
    assert "自动重试已关闭" not in html
    assert "[600, 1200]" not in html
    assert "30、60、90" not in html
    assert 'id="insert-attribute"' not in html
    assert 'id="starters"' not in html
