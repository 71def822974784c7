"""Client certificates (mutual TLS) and private CAs per webhook, against TLS receivers on 127.0.0.1 whose
certificates a CA made in the test signed; the certificate's expiry announced through the alerts."""

import asyncio
import ssl
import uuid
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from alerts import services as alert_services
from alerts.messages import alert_message
from alerts.models import Alert, Channel
from webhooks.content.failures import Code, failure_text
from webhooks.engine.http import Endpoint, Outgoing, attempt, new_session
from webhooks.models import PrivateCA, Webhook

from ..factories import make_webhook
from ..support.receivers import ScriptedServer
from ..support.tls import LocalCA, server_context

pytestmark = pytest.mark.django_db(transaction=True)


def send(webhook: Webhook):
    endpoint = Endpoint.from_webhook(Webhook.objects.select_related("private_ca").get(pk=webhook.pk))

    async def one():
        async with new_session(limit=2) as session:
            return await attempt(session, endpoint, Outgoing(uuid.uuid4().hex, "form/submit", '{"a":1}'))

    return asyncio.run(one())


def validated(webhook: Webhook) -> Webhook:
    webhook.full_clean()
    webhook.save()
    return webhook


@pytest.fixture
def ca():
    return LocalCA()


def test_a_receiver_requiring_a_client_certificate_accepts_the_webhooks_and_refuses_without(ca, tmp_path):
    private = PrivateCA.objects.create(name="公司 CA", bundle=ca.pem)
    client = ca.issue("webhookhub-client", server=False)
    with ScriptedServer(ssl_context=server_context(ca, tmp_path, client_ca=ca)) as server:
        with_cert = validated(
            make_webhook(server.url(), private_ca=private, client_certificate=client.certificate, client_key=client.key)
        )
        without = make_webhook(server.url(), private_ca=private)
        accepted = send(with_cert)
        refused = send(without)
        hits = server.posts()
    assert accepted.succeeded, (accepted.error_class, accepted.error_message)
    assert len(hits) == 1
    assert hits[0].delivery_id == accepted.delivery_id
    assert not refused.succeeded
    # TLS 1.3: the receiver refuses after the handshake, by closing; the reason names the client certificate.
    assert refused.error_code == Code.DISCONNECTED
    assert "client certificate" in refused.error_message
    assert "client certificate" in failure_text(refused.error_code, refused.error_params)
    # The key is encrypted at rest and never in what is recorded.
    with connection.cursor() as cursor:
        cursor.execute("SELECT client_key FROM webhooks_webhook WHERE id = %s", [with_cert.pk])
        (raw,) = cursor.fetchone()
    assert raw.startswith("enc:")
    assert "PRIVATE KEY" not in raw
    assert client.key.splitlines()[1] not in refused.error_message + accepted.response_body


def test_a_private_ca_verifies_the_receiver_and_without_it_verification_fails(ca, tmp_path):
    private = PrivateCA.objects.create(name="内部 CA", bundle=ca.pem)
    with ScriptedServer(ssl_context=server_context(ca, tmp_path)) as server:
        verified = send(make_webhook(server.url(), private_ca=private))
        unverified = send(make_webhook(server.url()))
        other_ca = PrivateCA.objects.create(name="另一个 CA", bundle=LocalCA("Other").pem)
        wrong = send(make_webhook(server.url(), private_ca=other_ca))
    assert verified.succeeded, verified.error_message
    assert unverified.error_code == Code.TLS_VERIFY
    assert wrong.error_code == Code.TLS_VERIFY


def test_a_certificate_and_key_are_validated_and_the_expiry_recorded(ca):
    client = ca.issue("client", server=False, days=40)
    webhook = make_webhook("https://receiver.example.com/hook")
    webhook.client_certificate, webhook.client_key = client.certificate, client.key
    webhook.full_clean()
    assert webhook.client_certificate_expires_at is not None
    assert timedelta(days=39) < webhook.client_certificate_expires_at - timezone.now() < timedelta(days=41)

    webhook.client_key = ca.issue("other", server=False).key
    with pytest.raises(ValidationError) as mismatch:
        webhook.full_clean()
    assert "does not belong" in str(mismatch.value)
    webhook.client_key = ""
    with pytest.raises(ValidationError) as missing:
        webhook.full_clean()
    assert "both the certificate and its key" in str(missing.value)
    bad = PrivateCA(name="bad", bundle="not a certificate")
    with pytest.raises(ValidationError):
        bad.full_clean()
    with pytest.raises(ssl.SSLError):
        ssl.create_default_context(cadata="-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")


def test_a_certificate_ending_within_30_days_is_announced_once_per_certificate(ca, settings):
    settings.CLIENT_CERTIFICATE_WARNING_DAYS = 30
    channel = Channel.objects.create(name="运维邮件", kind=Channel.Kind.EMAIL, recipients="ops@example.com")
    soon = ca.issue("client", server=False, days=10)
    later = ca.issue("client", server=False, days=90)
    ending = validated(
        make_webhook("https://a.example.com/hook", client_certificate=soon.certificate, client_key=soon.key)
    )
    validated(make_webhook("https://b.example.com/hook", client_certificate=later.certificate, client_key=later.key))

    assert alert_services.certificates_announce() == 1
    assert alert_services.certificates_announce() == 0
    alert = Alert.objects.get(kind=Alert.Kind.CERTIFICATE)
    assert (alert.channel, alert.webhook) == (channel, ending)
    message = alert_message(alert)
    expected_day = timezone.localtime(ending.client_certificate_expires_at).strftime("%Y-%m-%d")
    assert expected_day in message.text()

    renewed = ca.issue("client", server=False, days=20)
    ending.client_certificate, ending.client_key = renewed.certificate, renewed.key
    validated(ending)
    assert alert_services.certificates_announce() == 1
    assert Alert.objects.filter(kind=Alert.Kind.CERTIFICATE, webhook=ending).count() == 2
