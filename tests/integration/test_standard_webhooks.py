"""Standard Webhooks (docs/contract.md section 2) verified by the public `standardwebhooks` library on real
deliveries through a real worker: before, during and after a rotation of the secret, a retry's fresh
timestamp, a replay outside the 5-minute window refused; and the DM Hub key's rotation helper."""

import json
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
import standardwebhooks
import standardwebhooks.webhooks
from django.utils import timezone

from webhooks import services
from webhooks.content.signing import (
    standard_secret_generate,
    standard_secret_key,
    standard_sign,
    standard_verify,
    verify,
)
from webhooks.engine.http import Endpoint, Outgoing, request_headers
from webhooks.models import Delivery, Webhook, WebhookHistory
from webhooks.secrets import Secret
from webhooks.services.webhook_config import webhook_rotation_end, webhook_rotations_expire

from ..factories import make_customers
from ..support.receivers import ScriptedServer
from ..support.waiting import wait_until
from ..support.workers import running_worker

CONTRACT_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
CONTRACT_BODY = '{"flowId":"42","flowStep":"3","customerId":"1024"}'


def library_verifies(secret: str, body: str, headers: dict, *, clock_offset: float = 0) -> bool:
    """What a receiver using the public library decides, its clock `clock_offset` seconds ahead."""
    real_datetime = standardwebhooks.webhooks.datetime

    class Clock(real_datetime):
        @classmethod
        def now(cls, tz=None):
            return real_datetime.now(tz) + timedelta(seconds=clock_offset)

    with mock.patch.object(standardwebhooks.webhooks, "datetime", Clock):
        try:
            standardwebhooks.Webhook(secret).verify(body.encode("utf-8"), headers)
        except standardwebhooks.webhooks.WebhookVerificationError:
            return False
    return True


# --- The signature itself -----------------------------------------------------------------------------


def test_contract_example_signature():
    assert (
        standard_sign(CONTRACT_SECRET, "3f2b8c1e9d7a4e6f8a0b1c2d3e4f5a6b", 1795771800, CONTRACT_BODY)
        == "v1,bh1kGppdi9Yhu/pYPwRt1IbFY5uxNA7AKxV30PN8k28="
    )
    headers = {
        "webhook-id": "3f2b8c1e9d7a4e6f8a0b1c2d3e4f5a6b",
        "webhook-timestamp": "1795771800",
        "webhook-signature": "v1,bh1kGppdi9Yhu/pYPwRt1IbFY5uxNA7AKxV30PN8k28=",
    }
    assert standard_verify(CONTRACT_BODY, headers, CONTRACT_SECRET, now=1795771800 + 299)
    assert not standard_verify(CONTRACT_BODY, headers, CONTRACT_SECRET, now=1795771800 + 301)
    assert not standard_verify(CONTRACT_BODY + " ", headers, CONTRACT_SECRET, now=1795771800)


def test_generated_secrets_are_whsec_with_24_to_64_random_bytes_and_the_library_reads_them():
    secrets = {standard_secret_generate() for _ in range(20)}
    assert len(secrets) == 20
    for secret in secrets:
        assert secret.startswith("whsec_")
        assert len(standard_secret_key(secret)) == 32
        standardwebhooks.Webhook(secret)
    assert len(standard_secret_key(standard_secret_generate(24))) == 24
    assert len(standard_secret_key(standard_secret_generate(64))) == 64
    for bad in ("s3cr3t", "whsec_", "whsec_" + "A" * 8, "whsec_not base64!"):
        with pytest.raises(ValueError, match="Standard Webhooks secret"):
            standard_secret_key(bad)
    with pytest.raises(ValueError, match="24 to 64 bytes"):
        standard_secret_generate(16)


def _endpoint(**fields) -> Endpoint:
    values = {
        "id": 1,
        "url": "http://127.0.0.1/hook",
        "auth_type": Webhook.AuthType.SECRET,
        "is_json": True,
        "verify_ssl": True,
        "connect_timeout": 5,
        "read_timeout": 15,
        "secret_key": "s3cr3t",
    }
    values.update(fields)
    return Endpoint(**values)


def test_headers_sign_the_exact_bytes_with_the_attempts_time_and_both_secrets_while_rotating():
    old, new = standard_secret_generate(), standard_secret_generate()
    at = datetime.now(UTC)
    body = '{"name":"王 小明","note":"two  spaces"}'
    outgoing = Outgoing("ab" * 16, "form/submit", body)
    endpoint = _endpoint(
        standard=True, standard_secret=new, standard_secret_previous=old, standard_secret_previous_until=at
    )
    headers = request_headers(endpoint, outgoing, at - timedelta(seconds=1))
    assert headers["webhook-id"] == headers["X-Clab-Delivery-Id"] == "ab" * 16
    assert headers["webhook-timestamp"] == str(int((at - timedelta(seconds=1)).timestamp()))
    assert len(headers["webhook-signature"].split(" ")) == 2
    # Spaces inside strings are signed: changing one breaks the Standard signature (not the DM Hub one).
    assert library_verifies(new, body, headers)
    assert library_verifies(old, body, headers)
    assert not library_verifies(new, body.replace("two  spaces", "two spaces"), headers)
    assert verify(body.replace("two  spaces", "two spaces"), headers["X-Clab-Hmac-Signature"], "s3cr3t")
    # At the end of the overlap only the new secret signs, from the same (cached) endpoint.
    after = request_headers(endpoint, outgoing, at)
    assert len(after["webhook-signature"].split(" ")) == 1
    assert library_verifies(new, body, after)
    assert not library_verifies(old, body, after)
    # Off: none of the three headers.
    assert "webhook-signature" not in request_headers(_endpoint(standard_secret=new), outgoing, at)


# --- Through a real worker ----------------------------------------------------------------------------


class Receiver:
    """Verifies each request with the public library, as a receiver's code would; 401 when it does not verify."""

    def __init__(self, secret: str):
        self.secret = secret
        self.fail_first = False
        self.seen = []

    def __call__(self, hit):
        headers = {k.lower(): v for k, v in hit.headers.items()}
        ok = library_verifies(self.secret, hit.body, headers)
        self.seen.append((headers, hit.body, ok))
        if self.fail_first:
            self.fail_first = False
            return 500, {}, b"try again"
        return (200, {}, b"ok") if ok else (401, {}, b"bad signature")


def _publish(webhook, customer):
    message = services.message_publish(event="form/submit", webhooks=[webhook], customer=customer)
    return Delivery.objects.get(message=message)


def _final(delivery, timeout=20):
    return wait_until(
        lambda: Delivery.objects.filter(pk=delivery.pk, status__in=Delivery.FINAL_STATUSES).first(),
        timeout=timeout,
        message=f"delivery {delivery.pk} final",
    )


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_real_deliveries_verify_with_the_library_before_during_and_after_a_rotation(redis_conn):
    customer = make_customers(1)[0]
    receiver = Receiver("")
    with ScriptedServer(receiver) as server:
        webhook = Webhook(name="标准 webhook", url=server.url(), auth_type="secret", secret_key="s3cr3t")
        webhook.standard_webhooks = True
        webhook, first_secret = services.webhook_save(webhook=webhook, actor="test")
        assert first_secret.startswith("whsec_")
        receiver.secret = first_secret
        with running_worker(WEBHOOK_RETRY_DELAYS="1") as worker:
            # Before: one signature, verified; the DM Hub signature still there and valid.
            before = _final(_publish(webhook, customer))
            assert before.status == Delivery.Status.SUCCEEDED, worker.log[-2000:]
            headers, body, ok = receiver.seen[-1]
            assert ok
            assert len(headers["webhook-signature"].split(" ")) == 1
            assert headers["webhook-id"] == headers["x-clab-delivery-id"] == before.pk
            assert verify(body, headers["x-clab-hmac-signature"], "s3cr3t")
            assert abs(int(headers["webhook-timestamp"]) - datetime.now(UTC).timestamp()) < 30
            # A captured request replayed later than the window allows is refused by the library. The
            # receiver's clock is set relative to the attempt's timestamp (time passed since: a loaded host).
            age = datetime.now(UTC).timestamp() - int(headers["webhook-timestamp"])
            assert library_verifies(first_secret, body, headers, clock_offset=290 - age)
            assert not library_verifies(first_secret, body, headers, clock_offset=310 - age)
            assert not library_verifies(first_secret, body, headers, clock_offset=-310 - age)

            # During: the receiver still has the old secret, then switches; both verify.
            webhook, second_secret = services.webhook_standard_secret_rotate(
                webhook=webhook, overlap=timedelta(hours=24), actor="test"
            )
            during = _final(_publish(webhook, customer))
            headers, body, ok = receiver.seen[-1]
            assert during.status == Delivery.Status.SUCCEEDED
            assert ok
            assert len(headers["webhook-signature"].split(" ")) == 2
            assert library_verifies(second_secret, body, headers)
            receiver.secret = second_secret
            assert _final(_publish(webhook, customer)).status == Delivery.Status.SUCCEEDED

            # After the overlap: only the new secret; a receiver left on the old one refuses.
            webhook_rotation_end(webhook=webhook, actor="test")
            after = _final(_publish(webhook, customer))
            headers, body, ok = receiver.seen[-1]
            assert after.status == Delivery.Status.SUCCEEDED
            assert ok
            assert len(headers["webhook-signature"].split(" ")) == 1
            assert not library_verifies(first_secret, body, headers)

            # A retry carries the same webhook-id and a fresh timestamp of its own attempt.
            Webhook.objects.filter(pk=webhook.pk).update(auto_retry=True)
            receiver.fail_first = True
            retried = wait_until(
                lambda: Delivery.objects.filter(pk=_publish_once(webhook, customer), attempt_count=2).first(),
                timeout=30,
                message="the retry",
            )
            assert retried.status == Delivery.Status.SUCCEEDED, worker.log[-2000:]
    (first_headers, _b1, _ok1), (second_headers, _b2, ok2) = receiver.seen[-2:]
    assert first_headers["webhook-id"] == second_headers["webhook-id"] == retried.pk
    assert ok2
    attempts = list(retried.attempts.order_by("number"))
    stamps = [int(a.request_headers["webhook-timestamp"]) for a in attempts]
    assert stamps == [int(a.started_at.timestamp()) for a in attempts]
    assert second_headers["webhook-signature"] != first_headers["webhook-signature"]
    # The secrets are never in what is recorded; the history tells the story.
    recorded = json.dumps([a.request_headers for a in attempts]) + "".join(a.response_body for a in attempts)
    assert first_secret not in recorded
    assert second_secret not in recorded
    actions = list(WebhookHistory.objects.filter(webhook=webhook).order_by("at", "id").values_list("action", flat=True))
    assert actions == ["created", "standard_enabled", "rotation_started", "rotation_ended"]


_published: dict = {}


def _publish_once(webhook, customer) -> str:
    # wait_until calls its predicate repeatedly: publish on the first call only.
    if webhook.pk not in _published:
        _published[webhook.pk] = _publish(webhook, customer).pk
    return _published[webhook.pk]


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_dm_hub_key_rotation_helper_sends_the_old_keys_signature_until_the_overlap_ends(redis_conn):
    customer = make_customers(1)[0]
    with ScriptedServer() as server:
        webhook, _secret = services.webhook_save(
            webhook=Webhook(name="DM Hub", url=server.url(), auth_type="secret", secret_key="old-key"), actor="test"
        )
        webhook.secret_key = "new-key"
        services.webhook_save(webhook=webhook, actor="test", previous_signature_overlap=timedelta(hours=1))
        webhook.refresh_from_db()
        assert webhook.secret_key_previous.reveal() == "old-key"
        with running_worker(WEBHOOK_TICK_INTERVAL="1"):
            _final(_publish(webhook, customer))
            hit = server.posts()[-1]
            assert verify(hit.body, hit.headers["X-Clab-Hmac-Signature"], "new-key")
            assert verify(hit.body, hit.headers["X-Clab-Hmac-Signature-Previous"], "old-key")
            assert "webhook-signature" not in hit.headers
            # The overlap runs out (its end moved to now, as an hour passing would) and nobody acts: the
            # drain's due work (webhooks/apps.py), woken by the tick, records the end in the history.
            Webhook.objects.filter(pk=webhook.pk).update(secret_key_previous_until=timezone.now())
            wait_until(
                lambda: WebhookHistory.objects.filter(webhook=webhook, action="rotation_ended").exists(),
                timeout=20,
                message="the end of the overlap recorded",
            )
            _final(_publish(webhook, customer))
            hit = server.posts()[-1]
            assert "X-Clab-Hmac-Signature-Previous" not in hit.headers
            assert verify(hit.body, hit.headers["X-Clab-Hmac-Signature"], "new-key")
    webhook.refresh_from_db()
    assert not webhook.secret_key_previous
    assert webhook.secret_key_previous_until is None
    ended = WebhookHistory.objects.get(webhook=webhook, action="rotation_ended")
    assert ended.actor == ""
    assert ended.data == {"ended": ["secret_key"], "early": False}
    assert ended.details == "Overlap over: the old secret key (X-Clab-Hmac-Signature-Previous) no longer signs."
    replaced = WebhookHistory.objects.get(webhook=webhook, action="secret_replaced")
    assert "old-key" not in str(replaced.data)
    assert "new-key" not in str(replaced.data)
    assert "X-Clab-Hmac-Signature-Previous" in replaced.details


@pytest.mark.django_db
def test_replacing_the_key_without_the_helper_sends_no_previous_header_and_expiry_keeps_a_running_overlap():
    webhook, _ = services.webhook_save(
        webhook=Webhook(
            name="a", url="https://x.example.com", auth_type="secret", secret_key="k1", standard_webhooks=True
        )
    )
    webhook.secret_key = "k2"
    services.webhook_save(webhook=webhook)
    webhook.refresh_from_db()
    assert not webhook.secret_key_previous
    assert webhook.secret_key_previous_until is None
    services.webhook_standard_secret_rotate(webhook=webhook, overlap=timedelta(hours=1))
    webhook.refresh_from_db()
    Webhook.objects.filter(pk=webhook.pk).update(
        secret_key_previous=Secret("k1"), secret_key_previous_until=timezone.now() - timedelta(minutes=1)
    )
    # Only the DM Hub overlap is over: the Standard one keeps running.
    assert webhook_rotations_expire() == 1
    webhook.refresh_from_db()
    assert webhook.standard_secret_previous
    assert webhook.standard_secret_previous_until > timezone.now()
    assert not webhook.secret_key_previous


@pytest.mark.django_db
def test_an_undecryptable_old_key_is_replaced_without_an_overlap(settings):
    # Encrypted with a key no longer configured: it cannot sign, so the helper keeps nothing of it.
    configured = settings.SECRETS_ENCRYPTION_KEYS
    settings.SECRETS_ENCRYPTION_KEYS = ["b3JwaGFuZWQta2V5LW9ycGhhbmVkLWtleS0wMDAwMDA="]
    webhook = Webhook.objects.create(name="a", url="https://x.example.com", auth_type="secret", secret_key="lost")
    settings.SECRETS_ENCRYPTION_KEYS = configured
    webhook = Webhook.objects.get(pk=webhook.pk)
    assert webhook.secret_key.is_undecryptable
    webhook.secret_key = "fresh"
    services.webhook_save(webhook=webhook, previous_signature_overlap=timedelta(hours=1))
    webhook.refresh_from_db()
    assert webhook.secret_key.reveal() == "fresh"
    assert not webhook.secret_key_previous
    assert webhook.secret_key_previous_until is None
    assert webhook.history.get().action == "secret_replaced"
