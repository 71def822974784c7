"""In a real browser: an Administrator sends a webhook through a proxy, verifies its receiver against a
private CA and gives it a client certificate on the webhook's page; the key is never shown again and the
certificate's end is. Takes docs/screenshots/webhook-network.png."""

import pytest
from django.utils import timezone

from tests.factories import make_webhook
from tests.support.browser import SHOTS, admin_page, log_in
from tests.support.tls import LocalCA
from webhooks.models import OutboundProxy, PrivateCA, Webhook

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_an_administrator_sets_proxy_private_ca_and_client_certificate(live_server, browser):
    ca = LocalCA()
    pair = ca.issue("crm-client", server=False, days=20)
    proxy = OutboundProxy.objects.create(name="固定出口 203.0.113.7", url="http://proxy.internal:3128")
    private_ca = PrivateCA.objects.create(name="集团内部 CA", bundle=ca.pem)
    webhook = make_webhook("https://crm.example.com/hook")
    with admin_page(browser, width=1400, height=1400) as page:
        log_in(page, live_server.url)
        page.goto(f"{live_server.url}/admin/webhooks/webhook/{webhook.pk}/change/")
        page.select_option("#id_egress", "proxy")
        page.select_option("#id_proxy", str(proxy.pk))
        page.select_option("#id_private_ca", str(private_ca.pk))
        page.fill("#id_client_certificate", pair.certificate)
        page.fill("#id_client_key", pair.key)
        page.check("#id_send_traceparent")
        page.click("input[name=_continue]")
        page.wait_for_selector(".messagelist .success")
        expiry = page.inner_text(".field-client_certificate_expiry")
        key_box = page.inner_html(".field-client_key")
        page.locator(".field-egress").scroll_into_view_if_needed()
        page.screenshot(path=str(SHOTS / "webhook-network.png"), full_page=True)
    saved = Webhook.objects.get(pk=webhook.pk)
    assert (saved.egress, saved.proxy_id, saved.private_ca_id) == ("proxy", proxy.pk, private_ca.pk)
    assert saved.send_traceparent
    assert saved.client_key.reveal() == pair.key
    assert saved.client_certificate_expires_at is not None
    assert timezone.localtime(saved.client_certificate_expires_at).strftime("%Y-%m-%d") in expiry
    assert "19 天后到期" in expiry
    assert "PRIVATE KEY" not in key_box
