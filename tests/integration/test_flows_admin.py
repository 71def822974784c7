"""Flows and micro-pages in the admin: validation of triggers and steps, runs per customer, pages and fields."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from automation import services
from automation.models import Flow, FlowRun, FlowStep, FormField, MicroPage
from customers.models import Customer, Group
from webhooks.content.events import FixedEvent
from webhooks.models import Webhook

from ..factories import make_webhook

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("trigger", "field"),
    [
        (Flow.Trigger.SCORE_REACHED, "score_threshold"),
        (Flow.Trigger.GROUP_JOINED, "group"),
        (Flow.Trigger.FORM_SUBMITTED, "page"),
        (Flow.Trigger.LOYALTY_EVENT, "event"),
    ],
)
def test_each_trigger_requires_its_parameter(trigger, field):
    with pytest.raises(ValidationError) as caught:
        Flow(name="x", trigger=trigger).full_clean()
    assert field in caught.value.message_dict


def test_steps_are_validated():
    flow = Flow.objects.create(name="x", trigger=Flow.Trigger.SCORE_REACHED, score_threshold=1)
    fixed = make_webhook(
        "http://127.0.0.1:9/", trigger_type=Webhook.TriggerType.FIXED, event=FixedEvent.MEMBERSHIP_LEVEL_UP
    )
    bad = [
        (FlowStep(flow=flow, kind=FlowStep.Kind.WAIT), "wait"),
        (FlowStep(flow=flow, kind=FlowStep.Kind.WAIT, wait=timedelta(0)), "wait"),
        (FlowStep(flow=flow, kind=FlowStep.Kind.WAIT, wait=timedelta(days=400)), "wait"),
        (FlowStep(flow=flow, kind=FlowStep.Kind.WEBHOOK), "webhook"),
        (FlowStep(flow=flow, kind=FlowStep.Kind.WEBHOOK, webhook=fixed), "webhook"),
    ]
    for step, field in bad:
        with pytest.raises(ValidationError) as caught:
            step.full_clean()
        assert field in caught.value.message_dict


def test_form_field_keys_and_select_options_are_validated():
    page = MicroPage.objects.create(title="p", slug="p")
    with pytest.raises(ValidationError) as caught:
        FormField(page=page, label="x", key="has space").full_clean()
    assert "key" in caught.value.message_dict
    with pytest.raises(ValidationError) as caught:
        FormField(page=page, label="x", key="city", field_type=FormField.Type.SELECT, options=" \n").full_clean()
    assert "options" in caught.value.message_dict


def test_admin_creates_a_flow_with_steps(admin_client, settings):
    hook = make_webhook("http://127.0.0.1:9/crm")
    fixed = make_webhook(
        "http://127.0.0.1:9/fixed", trigger_type=Webhook.TriggerType.FIXED, event=FixedEvent.MEMBERSHIP_LEVEL_UP
    )
    url = reverse("admin:automation_flow_add")
    page = admin_client.get(url).content.decode()
    # Only non-fixed webhooks can be chosen for a webhook node.
    assert f'<option value="{hook.pk}">' in page
    assert f'<option value="{fixed.pk}">' not in page
    data = {
        "name": "高质量线索",
        "is_active": "on",
        "trigger": "score_reached",
        "score_threshold": "500",
        "steps-TOTAL_FORMS": "2",
        "steps-INITIAL_FORMS": "0",
        "steps-MIN_NUM_FORMS": "0",
        "steps-MAX_NUM_FORMS": "1000",
        "steps-0-order": "1",
        "steps-0-kind": "wait",
        "steps-0-wait": "00:30:00",
        "steps-1-order": "2",
        "steps-1-kind": "webhook",
        "steps-1-webhook": str(hook.pk),
    }
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    flow = Flow.objects.get(name="高质量线索")
    assert [(s.kind, s.wait, s.webhook_id) for s in flow.steps.all()] == [
        ("wait", timedelta(minutes=30), None),
        ("webhook", None, hook.pk),
    ]


def test_admin_refuses_a_flow_without_its_trigger_parameter(admin_client):
    response = admin_client.post(
        reverse("admin:automation_flow_add"),
        {
            "name": "缺阈值",
            "is_active": "on",
            "trigger": "score_reached",
            "score_threshold": "",
            "steps-TOTAL_FORMS": "0",
            "steps-INITIAL_FORMS": "0",
            "steps-MIN_NUM_FORMS": "0",
            "steps-MAX_NUM_FORMS": "1000",
        },
    )
    assert response.status_code == 200
    assert "score_threshold" in response.context["adminform"].form.errors
    assert not Flow.objects.exists()


def test_admin_shows_each_flows_runs_per_customer_and_where_they_stand(admin_client, redis_conn):
    hook = make_webhook("http://127.0.0.1:9/crm", name="CRM")
    flow = Flow.objects.create(name="高质量线索", trigger=Flow.Trigger.SCORE_REACHED, score_threshold=500)
    FlowStep.objects.create(flow=flow, order=1, kind=FlowStep.Kind.WAIT, wait=timedelta(hours=2))
    FlowStep.objects.create(flow=flow, order=2, kind=FlowStep.Kind.WEBHOOK, webhook=hook)
    waiting = Customer.objects.create(name="等待中的客户", mobile="13800000021")
    done = Customer.objects.create(name="已完成的客户", mobile="13800000022")
    services.flow_runs_start(flow=flow, customer_ids=[waiting.pk])
    services.flow_run_advance(run_id=FlowRun.objects.get(customer=waiting).pk)
    FlowRun.objects.create(flow=flow, customer=done, status=FlowRun.Status.COMPLETED, step_index=2)

    change = admin_client.get(reverse("admin:automation_flow_change", args=[flow.pk])).content.decode()
    assert "等待中的客户" in change
    assert "已完成的客户" in change
    assert "1/2" in change  # the waiting run stands at its wait step, the first of two
    listing = admin_client.get(reverse("admin:automation_flowrun_changelist") + f"?flow__id__exact={flow.pk}")
    html = listing.content.decode()
    assert listing.status_code == 200
    assert "等待中的客户" in html
    assert "已完成的客户" in html
    assert "waiting" in html
    assert "completed" in html
    flows = admin_client.get(reverse("admin:automation_flow_changelist")).content.decode()
    assert f"?flow__id__exact={flow.pk}" in flows


def test_admin_creates_a_micro_page_with_fields_inline(admin_client):
    hook = make_webhook("http://127.0.0.1:9/form")
    group = Group.objects.create(name="报名")
    response = admin_client.post(
        reverse("admin:automation_micropage_add"),
        {
            "title": "报名",
            "slug": "signup",
            "is_active": "on",
            "description": "",
            "success_text": "",
            "webhooks": [str(hook.pk)],
            "group": str(group.pk),
            "fields-TOTAL_FORMS": "2",
            "fields-INITIAL_FORMS": "0",
            "fields-MIN_NUM_FORMS": "0",
            "fields-MAX_NUM_FORMS": "1000",
            "fields-0-order": "1",
            "fields-0-label": "手机号",
            "fields-0-key": "mobile",
            "fields-0-field_type": "mobile",
            "fields-0-required": "on",
            "fields-0-options": "",
            "fields-1-order": "2",
            "fields-1-label": "城市",
            "fields-1-key": "city",
            "fields-1-field_type": "select",
            "fields-1-options": "上海\n北京",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    page = MicroPage.objects.get(slug="signup")
    assert [(f.key, f.field_type, f.option_list) for f in page.fields.all()] == [
        ("mobile", "mobile", []),
        ("city", "select", ["上海", "北京"]),
    ]
    assert list(page.webhooks.all()) == [hook]
    assert page.group == group
    listing = admin_client.get(reverse("admin:automation_micropage_changelist")).content.decode()
    assert "/p/signup/" in listing
