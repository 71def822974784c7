"""Automation flows through real parts: Redis, rq worker processes, a receiver on 127.0.0.1.

Each trigger starts a run, from the service that made the change (one customer or many alike);
webhook nodes push flow/webhook-notification; waits are rq scheduled jobs backed by the database, so
the worker's tick brings back a wait whose doorbell Redis lost.
"""

import json
import time
from datetime import timedelta

import django_rq
import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rq.registry import ScheduledJobRegistry

from automation.models import Flow, FlowRun, FlowStep, FormField, MicroPage
from customers.groups import group_customers_add, group_import_csv
from customers.loyalty import member_level_change
from customers.models import Customer, Group, GroupEntry, MembershipLevel
from customers.services import customer_activity_score_set, customer_activity_scores_set, customer_save
from webhooks.content.events import FixedEvent
from webhooks.content.signing import verify
from webhooks.engine import doorbell, worker
from webhooks.models import Attempt, Delivery, Message

from ..examples import save_example
from ..factories import make_webhook

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

CRM_TEMPLATE = (
    '{"flowId":"${flowId}","flowStep":"${flowStep}","customerId":"${customerId}",'
    '"name":"${customer.name}","mobile":"${customer.mobile}","score":${customer.activityScore},'
    '"city":"${customer.city}","level":"${member.level}","membershipId":"${member.membershipId}"}'
)


def make_flow(name, *, steps, **trigger) -> Flow:
    flow = Flow.objects.create(name=name, **trigger)
    for order, step in enumerate(steps, start=1):
        if isinstance(step, timedelta):
            FlowStep.objects.create(flow=flow, order=order, kind=FlowStep.Kind.WAIT, wait=step)
        else:
            FlowStep.objects.create(flow=flow, order=order, kind=FlowStep.Kind.WEBHOOK, webhook=step)
    return flow


def bodies(receiver, path=None):
    return [json.loads(r.body) for r in receiver.received if path is None or r.path == path]


def set_score(customer: Customer, score: int) -> None:
    customer_activity_score_set(customer=customer, score=score)


def join(group: Group, *customers: Customer) -> None:
    group_customers_add(group=group, customers=customers)


# --- The seed's example ----------------------------------------------------------------------------


def test_seed_example_score_reaching_500_pushes_the_customer_to_crm_once(receiver, redis_conn, run_worker):
    crm = make_webhook(receiver.url("/crm/leads"), name="CRM", body_template=CRM_TEMPLATE, empty_text="")
    flow = make_flow("高质量线索", trigger=Flow.Trigger.SCORE_REACHED, score_threshold=500, steps=[crm])
    customer = Customer.objects.create(
        name="张三", mobile="13800000001", activity_score=480, attributes={"city": "上海"}
    )
    other = Customer.objects.create(name="李四", mobile="13800000002", activity_score=100)

    set_score(other, 499)  # below the threshold: nothing
    set_score(customer, 510)  # 480 → 510 crosses 500
    assert FlowRun.objects.filter(flow=flow).count() == 1
    run_worker()

    assert bodies(receiver) == [
        {
            "flowId": str(flow.pk),
            "flowStep": "1",
            "customerId": str(customer.pk),
            "name": "张三",
            "mobile": "13800000001",
            "score": 510,
            "city": "上海",
            "level": "",
            "membershipId": "",
        }
    ]
    got = receiver.received[0]
    assert got.headers["X-Clab-Event"] == "flow/webhook-notification"
    assert got.signature_ok is True
    assert verify(got.body, got.headers["X-Clab-Hmac-Signature"], "s3cr3t")
    run = FlowRun.objects.get(flow=flow, customer=customer)
    assert run.status == FlowRun.Status.COMPLETED
    assert run.step_index == 1
    assert run.finished_at
    save_example("flow-step", got, Attempt.objects.get(delivery_id=got.headers["X-Clab-Delivery-Id"]))

    # Once per customer: falling back and crossing again pushes nothing more.
    set_score(customer, 400)
    set_score(customer, 600)
    set_score(customer, 700)
    run_worker()
    assert len(receiver.received) == 1
    assert FlowRun.objects.filter(flow=flow).count() == 1


def test_score_flow_ignores_unchanged_and_falling_scores_and_writes_outside_the_services(receiver, redis_conn):
    crm = make_webhook(receiver.url("/crm"))
    flow = make_flow("高质量线索", trigger=Flow.Trigger.SCORE_REACHED, score_threshold=500, steps=[crm])
    customer = Customer.objects.create(name="王五", mobile="13800000003", activity_score=480)
    # A queryset update is no service: it announces nothing (customers/signals.py).
    Customer.objects.filter(pk=customer.pk).update(activity_score=900)
    customer.refresh_from_db()
    customer.name = "王五五"
    customer_save(customer=customer, changed=["name"])  # the score is not among the changes
    set_score(customer, 950)  # 900 → 950 is not a crossing from below
    set_score(customer, 950)  # unchanged
    assert not FlowRun.objects.filter(flow=flow).exists()
    # A new customer created at or over the threshold has reached it.
    newcomer = customer_save(customer=Customer(name="新人", mobile="13800000004", activity_score=500))
    assert list(FlowRun.objects.filter(flow=flow).values_list("customer_id", flat=True)) == [newcomer.pk]


def test_bulk_score_changes_start_each_crossing_once_with_a_job_per_batch(receiver, redis_conn, run_worker):
    hook = make_webhook(receiver.url("/score"), body_template=CRM_TEMPLATE)
    high = make_flow("高质量线索", trigger=Flow.Trigger.SCORE_REACHED, score_threshold=500, steps=[hook])
    active = make_flow("活跃客户", trigger=Flow.Trigger.SCORE_REACHED, score_threshold=200, steps=[hook])
    a, b, c, d = (
        Customer.objects.create(name=name, mobile=f"1380000015{i}", activity_score=score)
        for i, (name, score) in enumerate([("甲", 480), ("乙", 100), ("丙", 800), ("丁", 490)])
    )
    changes = customer_activity_scores_set(scores={a.pk: 510, b.pk: 250, c.pk: 900, d.pk: 490, 999_999: 600})
    assert sorted((change.customer_id, change.old, change.new) for change in changes) == sorted(
        [(a.pk, 480, 510), (b.pk, 100, 250), (c.pk, 800, 900)]
    )
    assert Customer.objects.get(pk=a.pk).activity_score == 510
    assert set(FlowRun.objects.values_list("flow_id", "customer_id")) == {(high.pk, a.pk), (active.pk, b.pk)}
    run_worker()
    assert sorted((body["flowId"], body["customerId"], body["score"]) for body in bodies(receiver)) == sorted(
        [(str(high.pk), str(a.pk), 510), (str(active.pk), str(b.pk), 250)]
    )

    # A thousand customers crossing both thresholds at once: a run in each flow for each, due now; the
    # realtime doorbell is rung (a bell or two, not one per run).
    many = Customer.objects.bulk_create(Customer(name=f"批量{i}", mobile=f"137{i:08d}") for i in range(1000))
    redis_conn.flushdb()
    customer_activity_scores_set(scores={customer.pk: 600 for customer in many})
    for flow in (high, active):
        assert FlowRun.objects.filter(flow=flow, customer__in=many).count() == 1000
    assert FlowRun.objects.filter(customer__in=many, next_run_at__lte=timezone.now()).count() == 2000
    assert 1 <= django_rq.get_queue("realtime").count <= doorbell.BELLS_PER_QUEUE


def test_inactive_flow_starts_nothing(receiver, redis_conn):
    make_flow(
        "停用",
        trigger=Flow.Trigger.SCORE_REACHED,
        score_threshold=10,
        is_active=False,
        steps=[make_webhook(receiver.url())],
    )
    customer = Customer.objects.create(name="赵六", mobile="13800000005")
    set_score(customer, 20)
    assert not FlowRun.objects.exists()


# --- The other triggers ----------------------------------------------------------------------------


def test_joining_a_group_starts_the_flow(receiver, redis_conn, run_worker):
    group = Group.objects.create(name="VIP")
    hook = make_webhook(receiver.url("/group"), body_template=CRM_TEMPLATE)
    flow = make_flow("入群欢迎", trigger=Flow.Trigger.GROUP_JOINED, group=group, steps=[hook])
    customer = Customer.objects.create(name="孙七", mobile="13800000006", activity_score=3)
    join(Group.objects.create(name="其他"), customer)
    assert not FlowRun.objects.exists()
    join(group, customer)
    join(group, customer)  # already in the group: no second join
    run_worker()
    assert [(b["flowId"], b["flowStep"], b["customerId"]) for b in bodies(receiver)] == [
        (str(flow.pk), "1", str(customer.pk))
    ]


def test_bulk_group_joins_and_csv_imports_start_the_flow_at_once(receiver, redis_conn, run_worker):
    group = Group.objects.create(name="导入")
    old_member = Customer.objects.create(name="老成员", mobile="13800000007")
    join(group, old_member)  # before the flow existed
    flow = make_flow(
        "导入欢迎", trigger=Flow.Trigger.GROUP_JOINED, group=group, steps=[make_webhook(receiver.url("/import"))]
    )
    newcomers = [Customer.objects.create(name=f"导入{i}", mobile=f"1380000010{i}") for i in range(3)]
    assert group_customers_add(group=group, customers=[old_member, *newcomers]) == 3
    assert set(FlowRun.objects.filter(flow=flow).values_list("customer_id", flat=True)) == {c.pk for c in newcomers}

    known = Customer.objects.create(name="已有客户", mobile="13800000110")
    result = group_import_csv(group=group, data="姓名,手机号\n已有客户,13800000110\n新客户,13800000111\n".encode())
    assert result.ok
    assert result.joined == 2
    imported = Customer.objects.get(mobile="13800000111")
    assert set(FlowRun.objects.filter(flow=flow).values_list("customer_id", flat=True)) == {
        *(c.pk for c in newcomers),
        known.pk,
        imported.pk,
    }
    run_worker()
    assert len(receiver.received) == 5
    assert not FlowRun.objects.filter(customer=old_member).exists()
    assert FlowRun.objects.filter(flow=flow, status=FlowRun.Status.COMPLETED).count() == 5


def test_the_admin_screens_start_flows_through_the_services(admin_client, receiver, redis_conn):
    group = Group.objects.create(name="后台")
    hook = make_webhook(receiver.url("/admin"))
    score_flow = make_flow("高分", trigger=Flow.Trigger.SCORE_REACHED, score_threshold=100, steps=[hook])
    join_flow = make_flow("入群", trigger=Flow.Trigger.GROUP_JOINED, group=group, steps=[hook])
    scored, listed, inline = (
        Customer.objects.create(name=name, mobile=f"1380000012{i}") for i, name in enumerate(["改分", "动作", "内联"])
    )

    # The customer form: the score goes from 0 to 150.
    form = {
        "name": scored.name,
        "wechat_nickname": "",
        "mobile": scored.mobile,
        "email": "",
        "activity_score": "150",
        "membership_id": "",
        "level": "",
        "points": "0",
        "attributes": "{}",
    }
    response = admin_client.post(reverse("admin:customers_customer_change", args=[scored.pk]), form)
    assert response.status_code == 302
    # The customer list's action "add to a group".
    response = admin_client.post(
        reverse("admin:customers_customer_changelist"),
        {"action": "add_to_group", "_selected_action": [listed.pk], "apply": "1", "group": group.pk},
    )
    assert response.status_code == 302
    # The group's page, one customer added inline.
    response = admin_client.post(
        reverse("admin:customers_group_change", args=[group.pk]),
        {
            "name": group.name,
            "description": "",
            "entries-TOTAL_FORMS": "2",
            "entries-INITIAL_FORMS": "1",
            "entries-MIN_NUM_FORMS": "0",
            "entries-MAX_NUM_FORMS": "200",
            "entries-0-id": GroupEntry.objects.get(customer=listed).pk,
            "entries-0-group": group.pk,
            "entries-0-customer": listed.pk,
            "entries-1-group": group.pk,
            "entries-1-customer": inline.pk,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert set(FlowRun.objects.values_list("flow_id", "customer_id")) == {
        (score_flow.pk, scored.pk),
        (join_flow.pk, listed.pk),
        (join_flow.pk, inline.pk),
    }


def test_submitting_a_micro_page_starts_the_flow(receiver, redis_conn, run_worker):
    page = MicroPage.objects.create(title="试用申请", slug="trial")
    FormField.objects.create(page=page, label="手机号", key="mobile", field_type=FormField.Type.MOBILE, required=True)
    FormField.objects.create(page=page, label="姓名", key="name", required=True, order=1)
    other_page = MicroPage.objects.create(title="别的页面", slug="other")
    FormField.objects.create(page=other_page, label="手机号", key="mobile", field_type=FormField.Type.MOBILE)
    flow = make_flow(
        "试用跟进",
        trigger=Flow.Trigger.FORM_SUBMITTED,
        page=page,
        steps=[make_webhook(receiver.url("/trial"), body_template=CRM_TEMPLATE)],
    )
    client = Client()
    client.post(reverse("automation:page", args=["other"]), {"f_mobile": "13800000099"})
    assert not FlowRun.objects.exists()
    assert (
        client.post(
            reverse("automation:page", args=["trial"]), {"f_mobile": "13800000008", "f_name": "周八"}
        ).status_code
        == 302
    )
    run_worker()
    customer = Customer.objects.get(mobile="13800000008")
    assert [(b["flowId"], b["customerId"], b["name"]) for b in bodies(receiver)] == [
        (str(flow.pk), str(customer.pk), "周八")
    ]


def test_a_loyalty_event_starts_the_flow_for_its_member(receiver, redis_conn, run_worker):
    silver = MembershipLevel.objects.create(name="银卡", rank=1)
    gold = MembershipLevel.objects.create(name="金卡", rank=2)
    member = Customer.objects.create(name="吴九", mobile="13800000009", membership_id="M-9", level=silver, points=120)
    up = make_flow(
        "升级关怀",
        trigger=Flow.Trigger.LOYALTY_EVENT,
        event=FixedEvent.MEMBERSHIP_LEVEL_UP,
        steps=[make_webhook(receiver.url("/up"), body_template=CRM_TEMPLATE)],
    )
    down = make_flow(
        "降级挽回",
        trigger=Flow.Trigger.LOYALTY_EVENT,
        event=FixedEvent.MEMBERSHIP_LEVEL_DOWN,
        steps=[make_webhook(receiver.url("/down"), body_template=CRM_TEMPLATE)],
    )
    member_level_change(customer=member, level=gold)
    run_worker()
    assert bodies(receiver, "/down") == []
    assert [(b["flowId"], b["customerId"], b["level"], b["membershipId"]) for b in bodies(receiver, "/up")] == [
        (str(up.pk), str(member.pk), "金卡", "M-9")
    ]
    assert not FlowRun.objects.filter(flow=down).exists()


# --- Waits -----------------------------------------------------------------------------------------


def _wait_until(moment, *, limit=15.0):
    deadline = time.monotonic() + limit
    while timezone.now() < moment:
        assert time.monotonic() < deadline, "waited too long"
        time.sleep(0.1)


def test_a_wait_then_a_webhook_node(receiver, redis_conn, run_worker):
    group = Group.objects.create(name="稍后跟进")
    first = make_webhook(receiver.url("/first"), body_template=CRM_TEMPLATE)
    later = make_webhook(receiver.url("/later"), body_template=CRM_TEMPLATE)
    flow = make_flow(
        "等待后推送", trigger=Flow.Trigger.GROUP_JOINED, group=group, steps=[first, timedelta(seconds=3), later]
    )
    customer = Customer.objects.create(name="郑十", mobile="13800000010")
    join(group, customer)
    run_worker()

    run = FlowRun.objects.get(flow=flow, customer=customer)
    assert run.status == FlowRun.Status.WAITING
    assert run.step_index == 1
    assert timedelta(seconds=2) < run.next_run_at - run.started_at < timedelta(seconds=30)
    # The row holds the wait; rq's scheduler holds only a doorbell for when it ends.
    registry = ScheduledJobRegistry(queue=django_rq.get_queue("bulk"))
    assert f"webhookhub-bell-{int(run.next_run_at.timestamp()) + 1}" in registry.get_job_ids()
    assert [b["flowStep"] for b in bodies(receiver)] == ["1"]

    _wait_until(run.next_run_at)
    run_worker(scheduler=True)
    run.refresh_from_db()
    assert run.status == FlowRun.Status.COMPLETED
    assert run.step_index == 3
    assert [(r.path, json.loads(r.body)["flowStep"]) for r in receiver.received] == [("/first", "1"), ("/later", "3")]
    assert Message.objects.filter(event="flow/webhook-notification").count() == 2


def test_a_wait_whose_doorbell_redis_lost_still_ends(receiver, redis_conn, run_worker):
    group = Group.objects.create(name="丢失的等待")
    hook = make_webhook(receiver.url("/after-wait"), body_template=CRM_TEMPLATE)
    flow = make_flow("等待", trigger=Flow.Trigger.GROUP_JOINED, group=group, steps=[timedelta(hours=1), hook])
    customer = Customer.objects.create(name="钱十一", mobile="13800000011")
    join(group, customer)
    run_worker()
    run = FlowRun.objects.get(flow=flow)
    assert run.status == FlowRun.Status.WAITING

    redis_conn.flushdb()  # Redis restarted empty: the scheduled doorbell is gone
    assert worker.tick() is False  # not due yet: nothing to ring for
    # The hour passes while nothing in Redis remembers the run.
    FlowRun.objects.filter(pk=run.pk).update(next_run_at=timezone.now() - timedelta(seconds=1))
    assert worker.tick() is True

    log = run_worker()
    run.refresh_from_db()
    assert run.status == FlowRun.Status.COMPLETED, log
    assert [(b["flowStep"], b["customerId"]) for b in bodies(receiver)] == [("2", str(customer.pk))]


def test_the_worker_finds_lost_waits_by_itself(receiver, redis_conn, run_worker):
    group = Group.objects.create(name="worker 自己补上")
    hook = make_webhook(receiver.url("/self-healed"))
    make_flow("等待", trigger=Flow.Trigger.GROUP_JOINED, group=group, steps=[timedelta(hours=1), hook])
    join(group, Customer.objects.create(name="钱十二", mobile="13800000014"))
    run_worker()
    redis_conn.flushdb()
    FlowRun.objects.update(next_run_at=timezone.now() - timedelta(seconds=1))
    # No bell: the worker's tick finds the due run in the database.
    run_worker()
    assert [r.path for r in receiver.received] == ["/self-healed"]
    assert FlowRun.objects.get().status == FlowRun.Status.COMPLETED


def test_a_paused_flow_holds_its_runs_and_resumes(receiver, redis_conn, run_worker):
    group = Group.objects.create(name="暂停")
    flow = make_flow(
        "可暂停", trigger=Flow.Trigger.GROUP_JOINED, group=group, steps=[make_webhook(receiver.url("/paused"))]
    )
    customer = Customer.objects.create(name="暂停者", mobile="13800000012")
    join(group, customer)
    flow.is_active = False
    flow.save()
    run_worker()
    assert receiver.received == []
    assert FlowRun.objects.get().status == FlowRun.Status.RUNNING
    flow.is_active = True
    flow.save()
    run_worker()  # its tick finds the run due again
    assert len(receiver.received) == 1
    assert FlowRun.objects.get().status == FlowRun.Status.COMPLETED


def test_an_inactive_webhook_node_is_skipped_and_the_run_goes_on(receiver, redis_conn, run_worker):
    off = make_webhook(receiver.url("/off"), is_active=False)
    on = make_webhook(receiver.url("/on"))
    make_flow("跳过", trigger=Flow.Trigger.SCORE_REACHED, score_threshold=5, steps=[off, on])
    customer = Customer.objects.create(name="跳过者", mobile="13800000013")
    set_score(customer, 5)
    run_worker()
    assert [r.path for r in receiver.received] == ["/on"]
    assert json.loads(receiver.received[0].body)["flowStep"] == "2"
    assert not Delivery.objects.filter(webhook=off).exists()
