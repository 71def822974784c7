"""No secret in clear in what the engine writes: worker logs, attempt records, delivery errors."""

import base64
import json

import pytest
from django.core import serializers
from django.db import connection

from demo.receiver import ReceiverConfig, ThreadedReceiver
from webhooks import services
from webhooks.models import Attempt, Delivery

from ..factories import make_customers, make_webhook
from ..support.ports import free_port
from ..support.receivers import ScriptedServer

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

HMAC_KEY = "hmac-Key-NeverLogged-1"
BASIC_PASSWORD = "basic-Pw-NeverLogged-2"
APP_SECRET = "app-Secret-NeverLogged-3"


def test_worker_logs_and_records_hold_no_secret(redis_conn, run_worker):
    config = ReceiverConfig(
        secret=HMAC_KEY,
        basic_username="hub",
        basic_password=BASIC_PASSWORD,
        oauth_app_id="app",
        oauth_app_secret=APP_SECRET,
    )

    def echo(hit):  # a receiver that answers with everything it was sent, query string included
        return 500, {"X-Echo": json.dumps(hit.headers)}, json.dumps([hit.query, hit.headers]).encode()

    with ThreadedReceiver(config) as receiver, ScriptedServer(echo) as echoing:
        customers = make_customers(1)
        dead_port = free_port()
        webhooks = [
            make_webhook(receiver.url(), secret_key=HMAC_KEY),
            make_webhook(receiver.url(), auth_type="basic", basic_username="hub", basic_password=BASIC_PASSWORD),
            make_webhook(
                receiver.url(),
                auth_type="oauth2",
                oauth_token_url=receiver.url("/oauth/token"),
                oauth_app_id="app",
                oauth_app_secret=APP_SECRET,
            ),
            # Failures whose messages could carry the token URL (and so the app secret).
            make_webhook(
                receiver.url(),
                auth_type="oauth2",
                oauth_token_url=f"http://127.0.0.1:{dead_port}/t",
                oauth_app_id="app",
                oauth_app_secret=APP_SECRET,
            ),
            make_webhook(
                receiver.url(),
                auth_type="oauth2",
                oauth_token_url=receiver.url("/status/500"),
                oauth_app_id="app",
                oauth_app_secret=APP_SECRET,
            ),
            make_webhook(echoing.url(), auth_type="basic", basic_username="hub", basic_password=BASIC_PASSWORD),
            make_webhook(
                echoing.url(),
                auth_type="oauth2",
                oauth_token_url=receiver.url("/oauth/token"),
                oauth_app_id="app",
                oauth_app_secret=APP_SECRET,
            ),
        ]
        for webhook in webhooks:
            services.message_test_send(webhook=webhook, customer=customers[0])
        log = run_worker(timeout=60, LOG_LEVEL="DEBUG")
        tokens = set(config.tokens)

    statuses = list(Delivery.objects.order_by("webhook_id").values_list("status", flat=True))
    assert statuses.count(Delivery.Status.SUCCEEDED) == 3
    assert statuses.count(Delivery.Status.FAILED) == 4
    # The token requests that failed (refused, HTTP 500) were recorded, with a reason.
    token_failures = Attempt.objects.filter(delivery__webhook__in=webhooks[3:5])
    assert [a.error_class for a in token_failures] == ["OAuthError", "OAuthError"]
    assert all(a.error_message for a in token_failures)
    assert tokens, "the OAuth2 receiver issued tokens"
    records = serializers.serialize("json", [*Attempt.objects.all(), *Delivery.objects.all()])
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret_key, basic_password, oauth_app_secret FROM webhooks_webhook")
        columns = json.dumps(cursor.fetchall())
    basic_token = base64.b64encode(f"hub:{BASIC_PASSWORD}".encode()).decode()
    for secret in [HMAC_KEY, BASIC_PASSWORD, APP_SECRET, basic_token, *tokens]:
        assert secret not in log, f"a secret in the worker log: {secret[:4]}…"
        assert secret not in records, f"a secret in the records: {secret[:4]}…"
        assert secret not in columns
    assert "DEBUG" in log  # the most talkative level was on
