# ruff: noqa: RUF001 - the Chinese sentences use full-width punctuation on purpose
"""Failure reasons through the real engine: a real rq worker sends to receivers on 127.0.0.1 that answer
401, refuse the connection, never answer in time and redirect; each attempt is recorded with its code
and parameters, and the delivery's page words it in the viewer's language (zh-hans and English), with
the technical detail beside it."""

import socket

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from webhooks import services
from webhooks.content.failures import Code
from webhooks.models import Attempt, Delivery

from ..factories import make_customers, make_webhook
from ..support.receivers import ScriptedServer

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def page_text(client, delivery, language: str) -> str:
    response = client.get(reverse("admin:webhooks_delivery_change", args=[delivery.pk]), HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    return response.content.decode()


def test_failures_are_recorded_with_codes_and_shown_in_the_viewers_language(client, redis_conn, run_worker):
    (customer,) = make_customers(1)
    refused_port = closed_port()
    with (
        ScriptedServer(lambda hit: (401, {}, b'{"error":"bad signature"}')) as unauthorized,
        ScriptedServer(lambda hit: (302, {"Location": "https://new.example.com/hook"}, b"")) as moved,
        ScriptedServer(lambda hit: (200, {}, b"late"), delay=4.0) as slow,
    ):
        hooks = {
            "401": make_webhook(unauthorized.url(), name="401"),
            "refused": make_webhook(f"http://127.0.0.1:{refused_port}/hook", name="refused"),
            "timeout": make_webhook(slow.url(), name="timeout", connect_timeout=1, read_timeout=1),
            "302": make_webhook(moved.url(), name="302"),
        }
        deliveries = {
            key: services.message_test_send(webhook=webhook, customer=customer) for key, webhook in hooks.items()
        }
        run_worker(timeout=120)

    attempts = {key: Attempt.objects.get(delivery_id=delivery.pk) for key, delivery in deliveries.items()}
    assert (attempts["401"].error_code, attempts["401"].error_params) == (Code.HTTP_STATUS, {"status": 401})
    assert attempts["401"].response_status == 401
    assert attempts["refused"].error_code == Code.CONNECT_REFUSED
    assert attempts["refused"].error_params == {"host": "127.0.0.1", "port": refused_port}
    assert attempts["timeout"].error_code == Code.TIMEOUT
    assert attempts["timeout"].error_params == {"phase": "response", "seconds": 1.0}
    assert attempts["302"].error_code == Code.REDIRECT
    assert attempts["302"].error_params == {"status": 302, "location": "https://new.example.com/hook"}
    # The technical detail is kept beside the code.
    assert attempts["401"].error_class == "HTTPError"
    assert attempts["refused"].error_class == "ConnectionError"
    for key, delivery in deliveries.items():
        delivery.refresh_from_db()
        assert delivery.status == Delivery.Status.FAILED, key
        assert delivery.last_error_code == attempts[key].error_code
        assert delivery.last_error_params == attempts[key].error_params

    client.force_login(User.objects.create_superuser("viewer", "v@example.com", "pw-viewer-1"))
    expected = {
        "401": ("接收方拒绝了请求（HTTP 401）", "The receiver refused the request (HTTP 401)"),
        "refused": (
            f"127.0.0.1 的 {refused_port} 端口拒绝连接",
            f"Nothing accepts connections at 127.0.0.1 port {refused_port}",
        ),
        "timeout": ("1 秒内没有响应（响应超时）", "No answer within 1 s (the response timeout)"),
        "302": (
            "接收方返回重定向（HTTP 302）到 https://new.example.com/hook",
            "The receiver answered a redirect (HTTP 302) to https://new.example.com/hook",
        ),
    }
    for key, (chinese, english) in expected.items():
        zh = page_text(client, deliveries[key], "zh-hans")
        en = page_text(client, deliveries[key], "en")
        assert chinese in zh, key
        assert english in en, key
        assert english not in zh, key
        assert f'data-error-code="{attempts[key].error_code}"' in zh
        assert "hub-error-detail" in zh  # the error class and raw message, smaller, beside the sentence

    # The delivery list words the last error too, from the code alone.
    listing = client.get(reverse("admin:webhooks_delivery_changelist"), HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert "接收方拒绝了请求（HTTP 401）" in listing.content.decode()
