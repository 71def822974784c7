import pytest

from webhooks import services
from webhooks.content.signing import verify
from webhooks.models import Delivery, GroupSend

from ..factories import make_customers, make_group, make_webhook

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_group_send_reaches_every_member_signed(receiver, redis_conn, run_worker):
    customers = make_customers(30)
    group = make_group(customers)
    webhook = make_webhook(receiver.url(), body_template='{"name":"${customer.name}","id":${customerId}}')

    send = services.group_send_create(webhook=webhook, group=group)
    run_worker()

    send.refresh_from_db()
    assert send.status == GroupSend.Status.COMPLETED
    assert len(receiver.received) == 30
    assert all(r.signature_ok for r in receiver.received)
    assert all(verify(r.body, r.headers["X-Clab-Hmac-Signature"], "s3cr3t") for r in receiver.received)
    ids = {r.headers["X-Clab-Delivery-Id"] for r in receiver.received}
    assert ids == set(Delivery.objects.values_list("id", flat=True))
    assert Delivery.objects.filter(status=Delivery.Status.SUCCEEDED).count() == 30
