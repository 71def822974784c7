"""The marketer's screens, items 7-9 (navigation): the demo data follows the demo receiver's port, a URL
without its scheme is refused with a clear error (admin form and Open API), the favicon, the admin's
sections, roles and language files. The browser side is tests/browser/test_navigation_browser.py."""

import io
import json
import socket

import pytest
from django.contrib.auth import get_user_model
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.utils import translation

from api.models import Scope
from api.services import api_key_create
from customers.models import Customer
from demo.receiver import DEMO_BASIC, DEMO_OAUTH, DEMO_SECRET, ReceiverConfig, ThreadedReceiver
from webhooks.forms import WebhookForm
from webhooks.models import Attempt, Delivery, Webhook, WebhookHistory
from webhooks.services.publishing import message_test_send

from ..factories import make_key_owner

ZH_SCHEME_ERROR = "请填写完整地址，包括 https://（例如 https://crm.example.com/hook）。"  # noqa: RUF001 - Chinese punctuation


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- Demo data and DEMO_RECEIVER_PORT -----------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_demo_data_follows_the_receiver_port_and_a_rerun_repoints_the_demo_webhooks(
    monkeypatch, redis_conn, run_worker
):
    monkeypatch.delenv("DEMO_RECEIVER_URL", raising=False)
    dead = _free_port()  # nothing listens there: where the receiver used to be
    monkeypatch.setenv("DEMO_RECEIVER_PORT", str(dead))
    call_command("demo_data", customers=6, stdout=io.StringIO())
    assert Webhook.objects.count() == 9
    assert all(w.url.startswith(f"http://127.0.0.1:{dead}/") for w in Webhook.objects.all())
    shop = Webhook.objects.get(auth_type="oauth2")
    assert shop.oauth_token_url == f"http://127.0.0.1:{dead}/oauth/token"
    elsewhere = Webhook.objects.get(auth_type="none")
    elsewhere.url = "https://crm.example.com/notify"  # a demo webhook someone pointed at a real system
    elsewhere.save()

    # The real demo receiver (its secret, Basic login and OAuth app) on another port; bin/run re-run.
    config = ReceiverConfig(
        secret=DEMO_SECRET,
        basic_username=DEMO_BASIC[0],
        basic_password=DEMO_BASIC[1],
        oauth_app_id=DEMO_OAUTH[0],
        oauth_app_secret=DEMO_OAUTH[1],
    )
    with ThreadedReceiver(config) as receiver:
        monkeypatch.setenv("DEMO_RECEIVER_PORT", str(receiver.port))
        call_command("demo_data", customers=6, stdout=io.StringIO())
        assert Customer.objects.count() == 6  # nothing loaded twice
        moved = Webhook.objects.exclude(pk=elsewhere.pk)
        assert all(w.url.startswith(f"http://127.0.0.1:{receiver.port}/") for w in moved), [w.url for w in moved]
        shop.refresh_from_db()
        assert shop.oauth_token_url == f"http://127.0.0.1:{receiver.port}/oauth/token"
        assert Webhook.objects.get(pk=elsewhere.pk).url == "https://crm.example.com/notify"
        assert WebhookHistory.objects.filter(webhook=shop, action=WebhookHistory.Action.CHANGED).exists()

        # Every kind of demo send now reaches the receiver and verifies there.
        customer = Customer.objects.first()
        for webhook in Webhook.objects.filter(trigger_type="non_fixed").exclude(pk=elsewhere.pk):
            message_test_send(webhook=webhook, customer=customer)
        run_worker(timeout=60)
        deliveries = Delivery.objects.exclude(webhook=elsewhere)
        assert deliveries.count() == 3
        assert set(deliveries.values_list("status", flat=True)) == {Delivery.Status.SUCCEEDED}, list(
            Attempt.objects.values_list("response_status", "error_message")
        )
        paths = sorted(hit.path for hit in receiver.received if hit.path != "/oauth/token")
        assert paths == ["/crm", "/shop", "/tickets"]
        assert all(hit.signature_ok is not False and hit.basic_ok is not False for hit in receiver.received)


# --- A URL without its scheme -------------------------------------------------------------------------


def _webhook_data(**fields):
    data = {
        "name": "CRM",
        "url": "https://crm.example.com/hook",
        "auth_type": "none",
        "trigger_type": "non_fixed",
        "message_type": "json",
        "body_template": '{"id": "${customerId}"}',
        "connect_timeout": 5,
        "read_timeout": 15,
        "max_concurrency": 10,
    }
    data.update(fields)
    return data


@pytest.mark.django_db
def test_a_url_without_its_scheme_is_refused_not_saved_as_http():
    with translation.override("zh-hans"):
        form = WebhookForm(data=_webhook_data(url="crm.example.com/hook"))
        assert not form.is_valid()
        assert form.errors["url"] == [ZH_SCHEME_ERROR]
    with translation.override("en"):
        form = WebhookForm(
            data=_webhook_data(auth_type="oauth2", oauth_token_url="auth.example.com/token", oauth_app_id="a")
        )
        assert not form.is_valid()
        assert form.errors["oauth_token_url"][0] == (
            "Enter the full address, including https:// (for example https://auth.example.com/token)."
        )
    form = WebhookForm(data=_webhook_data(url="  https://crm.example.com/hook  "))
    assert form.is_valid(), form.errors
    assert form.cleaned_data["url"] == "https://crm.example.com/hook"
    assert not Webhook.objects.exists()


@pytest.mark.django_db
def test_the_open_api_refuses_a_url_without_its_scheme_with_the_same_words(client):
    owner = make_key_owner("integrator")
    _key, raw = api_key_create(name="all", scopes=Scope.values, user=owner)
    body = {"name": "CRM", "url": "crm.example.com/hook", "auth_type": "none"}
    answer = client.post(
        "/api/v1/webhooks",
        json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["fields"]["url"] == [ZH_SCHEME_ERROR]
    assert not Webhook.objects.exists()


# --- Favicon ------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_favicon_is_served_and_linked_from_the_admin_and_the_micro_pages(client, admin_client):
    assert finders.find("webhookhub/favicon.svg")
    redirect = client.get("/favicon.ico")
    assert redirect.status_code == 302
    svg = client.get(redirect["Location"])
    assert svg.status_code == 200
    assert b"<svg" in b"".join(svg.streaming_content) if svg.streaming else svg.content
    assert redirect["Location"] in client.get("/admin/login/").content.decode()
    from automation.models import MicroPage

    page = MicroPage.objects.create(title="报名", slug="signup")
    public = client.get(page.get_absolute_url())
    assert f'<link rel="icon" type="image/svg+xml" href="{redirect["Location"]}">' in public.content.decode()
    assert "img-src 'self'" in public["Content-Security-Policy"]


# --- Sections, roles, language files ------------------------------------------------------------------


@pytest.mark.django_db
def test_the_admin_index_in_a_marketers_order_with_roles_not_groups(admin_client):
    response = admin_client.get("/admin/", HTTP_ACCEPT_LANGUAGE="en")
    apps = response.context["app_list"]
    assert [app["name"] for app in apps] == [
        "Webhook settings",
        "Sending records",
        "Customers and loyalty",
        "Micro-pages and automation",
        "Open API",
        "Alerts",
        "System",
    ]
    assert [model["object_name"] for model in apps[1]["models"]] == ["GroupSend", "Delivery", "Recovery"]
    assert [model["name"] for model in apps[1]["models"]] == ["Group sends", "Deliveries", "Bulk recovers"]
    assert [model["name"] for model in apps[-1]["models"]] == [
        "Users",
        "Roles",
        "Access attempts",
        "Access failures",
        "Access logs",
        "Queues, workers and jobs (rq)",
    ]
    chinese = admin_client.get("/admin/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    names = [model["name"] for app in chinese.context["app_list"] for model in app["models"]]
    assert names.count("群组") == 1
    assert "角色" in names
    assert "群发记录" in names
    assert "推送记录" in names


@pytest.mark.django_db
def test_a_customer_list_has_no_bulk_delete_and_an_action_page_names_who_is_selected(admin_client):
    from tests.factories import make_customers

    customers = make_customers(13, prefix="王")
    for customer in customers:
        Customer.objects.filter(pk=customer.pk).update(membership_id=f"M{customer.pk}")
    for url in ("/admin/customers/customer/", "/admin/customers/member/"):
        page = admin_client.get(url).content.decode()
        assert 'value="delete_selected"' not in page, url
        assert 'value="add_to_group"' in page or 'value="change_level"' in page, url
    response = admin_client.post(
        "/admin/customers/customer/",
        {"action": "add_to_group", "_selected_action": [c.pk for c in customers]},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    text = response.content.decode()
    assert text.count("<li>王") == 10
    assert "and 3 more" in text


def test_only_the_chinese_catalogue_is_kept_english_is_the_msgids():
    from django.conf import settings

    # The catalogues (compiled .mo files are build output, left behind in an older checkout).
    catalogues = sorted(
        str(path.relative_to(settings.LOCALE_PATHS[0])) for path in settings.LOCALE_PATHS[0].glob("*/LC_MESSAGES/*.po")
    )
    assert catalogues == ["zh_Hans/LC_MESSAGES/django.po", "zh_Hans/LC_MESSAGES/djangojs.po"]


@pytest.mark.django_db
def test_a_users_roles_are_called_roles_in_both_languages(admin_client):
    from django.contrib.auth.models import Group

    from webhookhub.roles import MARKETER

    assert Group.objects.filter(name=MARKETER).exists()  # roles_sync after migrate
    user = get_user_model().objects.create_user("li", password="pw-123456!")
    url = f"/admin/auth/user/{user.pk}/change/"
    chinese = admin_client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans")
    form = chinese.context["adminform"].form
    assert str(form.fields["groups"].label) == "角色"
    assert "营销人员" in [label for _value, label in form.fields["groups"].choices]
    english = admin_client.get(url, HTTP_ACCEPT_LANGUAGE="en")
    form = english.context["adminform"].form
    assert str(form.fields["groups"].label) == "Roles"
    assert "Marketer" in [label for _value, label in form.fields["groups"].choices]
    roles = admin_client.get("/admin/auth/group/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "角色" in roles
