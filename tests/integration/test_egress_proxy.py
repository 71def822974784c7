"""Egress through a real forward proxy (tinyproxy, started by the test on 127.0.0.1, with Basic credentials).

A group send relayed by the proxy (a real rq worker); the proxy down (a reason naming it, retried); a
private destination refused before anything reaches the proxy; the connection test's proxy step.
"""

import asyncio
import uuid

import pytest
from django.test import override_settings

from webhooks import services
from webhooks.content.failures import Code, failure_text
from webhooks.content.signing import verify
from webhooks.engine.http import Endpoint, Outgoing, attempt, new_session, proxy_from_url
from webhooks.models import Attempt, Delivery, OutboundProxy, Webhook
from webhooks.services.connection_check import webhook_connection_test

from ..factories import make_customers, make_group, make_webhook
from ..support.ports import free_port
from ..support.proxy import PASSWORD, USERNAME, Tinyproxy
from ..support.receivers import ScriptedServer
from ..support.waiting import wait_until
from ..support.workers import running_worker

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def proxied_webhook(url: str, proxy_url: str, **fields) -> Webhook:
    proxy = OutboundProxy.objects.create(name=f"egress-{uuid.uuid4().hex[:6]}", url=proxy_url)
    proxy.username, proxy.password = USERNAME, PASSWORD
    proxy.save()
    return make_webhook(url, egress=Webhook.Egress.PROXY, proxy=proxy, **fields)


def via_proxy(hit) -> bool:
    # tinyproxy adds its Via header to every request it relays.
    return "tinyproxy" in hit.headers.get("Via", "")


def test_a_group_send_is_relayed_by_the_proxy_signed_and_recorded(tmp_path, redis_conn, run_worker):
    with Tinyproxy(tmp_path) as proxy, ScriptedServer() as server:
        webhook = proxied_webhook(server.url(), proxy.url)
        group = make_group(make_customers(25))
        send = services.group_send_create(webhook=webhook, group=group)
        run_worker(timeout=90)
        hits = server.posts()
        relayed = proxy.requests()
    deliveries = list(Delivery.objects.filter(message__group_send=send))
    assert len(deliveries) == 25
    assert {d.status for d in deliveries} == {Delivery.Status.SUCCEEDED}
    assert len(hits) == 25
    assert all(via_proxy(hit) for hit in hits), [hit.headers for hit in hits[:2]]
    assert all(verify(hit.body, hit.headers["X-Clab-Hmac-Signature"], "s3cr3t") for hit in hits)
    assert {hit.delivery_id for hit in hits} == {d.id for d in deliveries}
    assert Attempt.objects.filter(delivery__in=deliveries, succeeded=True).count() == 25
    # The proxy's own log: one relayed POST per delivery, to the receiver's address.
    assert sum(f"POST {server.url()}" in line for line in relayed) == 25


def test_with_the_proxy_down_deliveries_fail_naming_the_proxy_and_are_retried(tmp_path, redis_conn):
    port = free_port()
    proxy = Tinyproxy(tmp_path, port=port)
    with ScriptedServer() as server:
        webhook = proxied_webhook(server.url(), proxy.url, auto_retry=True)
        (customer,) = make_customers(1)
        message = services.message_publish(event="form/submit", webhooks=[webhook], customer=customer)
        delivery = message.deliveries.get()
        with running_worker(WEBHOOK_RETRY_DELAYS="2,2,2"):
            first = wait_until(
                lambda: Attempt.objects.filter(delivery=delivery).first(), timeout=20, message="the first attempt"
            )
            assert not first.succeeded
            assert first.error_code == Code.PROXY
            assert f"127.0.0.1:{port}" in first.error_message
            assert f"127.0.0.1:{port}" in failure_text(first.error_code, first.error_params)
            assert PASSWORD not in first.error_message
            assert Delivery.objects.get(pk=delivery.pk).status == Delivery.Status.RETRYING
            with proxy:
                done = wait_until(
                    lambda: Delivery.objects.filter(pk=delivery.pk, status=Delivery.Status.SUCCEEDED).first(),
                    timeout=30,
                    message="the retry through the proxy, back up",
                )
        hits = server.posts()
    assert done.retry_count >= 1
    assert [hit.delivery_id for hit in hits] == [delivery.id]
    assert via_proxy(hits[0])


@override_settings(WEBHOOK_ALLOWED_HOSTS=[])
def test_a_private_destination_is_refused_before_anything_reaches_the_proxy(tmp_path):
    with Tinyproxy(tmp_path) as proxy, ScriptedServer() as server:
        before = proxy.connections()
        outcomes = {}
        for url in (f"http://localhost:{server.port}/hook", "http://10.20.30.40/hook", "https://localhost/hook"):
            webhook = proxied_webhook(url, proxy.url)
            endpoint = Endpoint.from_webhook(Webhook.objects.get(pk=webhook.pk))

            async def send(endpoint=endpoint):
                async with new_session(limit=2) as session:
                    return await attempt(session, endpoint, Outgoing(uuid.uuid4().hex, "form/submit", "{}"))

            outcomes[url] = asyncio.run(send())
        after = proxy.connections()
    assert {url: r.error_code for url, r in outcomes.items()} == dict.fromkeys(outcomes, Code.SSRF_BLOCKED)
    assert after == before, "a refused destination must not open a connection to the proxy"
    assert server.posts() == []


def test_the_installation_proxy_carries_credentials_and_the_connection_test_shows_the_proxy_step(tmp_path):
    with Tinyproxy(tmp_path) as proxy, ScriptedServer() as server:
        installation = f"http://{USERNAME}:{PASSWORD}@127.0.0.1:{proxy.port}"
        assert proxy_from_url(installation).password == PASSWORD
        webhook = make_webhook(server.url())
        with override_settings(WEBHOOK_PROXY_URL=installation):
            check = webhook_connection_test(webhook=Webhook.objects.get(pk=webhook.pk))
        with override_settings(WEBHOOK_PROXY_URL=f"http://127.0.0.1:{proxy.port}"):
            refused = webhook_connection_test(webhook=Webhook.objects.get(pk=webhook.pk))
        direct = Webhook.objects.get(pk=webhook.pk)
        direct.egress = Webhook.Egress.DIRECT
        with override_settings(WEBHOOK_PROXY_URL=installation):
            unproxied = webhook_connection_test(webhook=direct)
        hits = server.posts()
    steps = {step.step: step for step in check.steps}
    assert check.ok, check
    assert steps["proxy"].state == "ok"
    assert f"127.0.0.1:{proxy.port}" in steps["proxy"].detail
    assert PASSWORD not in str(check.as_dict())
    # Without the credentials tinyproxy answers 407: the proxy step fails, and says so.
    assert not refused.ok
    assert refused.outcome == "proxy_failed"
    assert any(step.step == "proxy" and step.state == "failed" for step in refused.steps)
    assert unproxied.ok
    assert "proxy" not in {step.step for step in unproxied.steps}
    assert [via_proxy(hit) for hit in hits] == [True, False]


def test_oauth2_token_requests_and_alert_robots_go_through_the_proxy_too(tmp_path):
    from alerts.robots import RobotRequest
    from alerts.sending import Outbound, send_all

    def answer(hit):
        if hit.path == "/token":
            return 200, {}, b'{"access_token": "tok-1", "expires_in": 600}'
        return 200, {}, b'{"errcode": 0}'

    with Tinyproxy(tmp_path) as proxy, ScriptedServer(answer) as server:
        webhook = proxied_webhook(
            server.url(),
            proxy.url,
            auth_type=Webhook.AuthType.OAUTH2,
            oauth_token_url=server.url("/token"),
            oauth_app_id="app",
            oauth_app_secret="app-secret",
        )
        check = webhook_connection_test(webhook=Webhook.objects.get(pk=webhook.pk))
        installation = f"http://{USERNAME}:{PASSWORD}@127.0.0.1:{proxy.port}"
        with override_settings(WEBHOOK_PROXY_URL=installation):
            (robot,) = send_all(
                [
                    Outbound(
                        kind="wecom", robot=RobotRequest(url=server.url("/robot"), body={"msgtype": "text"}, secrets=[])
                    )
                ]
            )
        hits = server.hits
    assert check.ok, check
    assert robot.ok, robot
    assert {hit.path for hit in hits} == {"/token", "/hook", "/robot"}
    assert all(via_proxy(hit) for hit in hits), [(hit.path, hit.headers.get("Via")) for hit in hits]


def test_https_goes_through_the_proxys_connect_tunnel_with_the_client_certificate_end_to_end(tmp_path):
    from webhooks.models import PrivateCA

    from ..support.tls import LocalCA, server_context

    ca = LocalCA()
    client = ca.issue("webhookhub-client", server=False)
    with Tinyproxy(tmp_path) as proxy, ScriptedServer(ssl_context=server_context(ca, tmp_path, client_ca=ca)) as server:
        webhook = proxied_webhook(
            server.url(),
            proxy.url,
            private_ca=PrivateCA.objects.create(name="CA", bundle=ca.pem),
            client_certificate=client.certificate,
            client_key=client.key,
        )
        check = webhook_connection_test(webhook=Webhook.objects.get(pk=webhook.pk))
        relayed = proxy.requests()
    assert check.ok, check
    assert [step.step for step in check.steps] == ["resolve", "allowed", "proxy", "connect", "tls", "auth", "answer"]
    assert "Client certificate presented." in next(step.detail for step in check.steps if step.step == "tls")
    assert any(f"CONNECT 127.0.0.1:{server.port}" in line for line in relayed), relayed
