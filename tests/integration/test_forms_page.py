"""The public micro-page form: rendering, validation per field, honeypot, CSRF, rate limit, customers, groups."""

import json

import pytest
from django.test import Client
from django.urls import reverse

from automation import services
from automation.models import FormField, MicroPage, Submission
from customers.models import Customer, Group, GroupEntry
from webhooks.content.signing import verify
from webhooks.models import Attempt, Delivery, Message

from ..examples import save_example
from ..factories import make_webhook

FORM_TEMPLATE = (
    '{"event":"form","name":"${form.name}","mobile":"${form.mobile}","email":"${form.email!"none"}",'
    '"city":"${form.city}","interests":"${form.interests}","agree":${form.agree},"customerId":${customerId}}'
)


def make_page(*, slug="spring", webhooks=(), group=None, **fields) -> MicroPage:
    page = MicroPage.objects.create(
        title="春季活动报名", slug=slug, description="填写信息领取礼品", group=group, **fields
    )
    specs = [
        ("姓名", "name", FormField.Type.TEXT, True, ""),
        ("手机号", "mobile", FormField.Type.MOBILE, True, ""),
        ("邮箱", "email", FormField.Type.EMAIL, False, ""),
        ("城市", "city", FormField.Type.SELECT, True, "上海\n北京\n广州"),
        ("兴趣", "interests", FormField.Type.CHECKBOX, False, "美妆\n运动\n旅行"),
        ("同意条款", "agree", FormField.Type.CHECKBOX, True, ""),
    ]
    for order, (label, key, kind, required, options) in enumerate(specs):
        FormField.objects.create(
            page=page, label=label, key=key, field_type=kind, required=required, options=options, order=order
        )
    page.webhooks.set(webhooks)
    return page


def valid_post(**overrides) -> dict:
    data = {
        "f_name": "李雷",
        "f_mobile": "13800138000",
        "f_email": "lilei@example.com",
        "f_city": "上海",
        "f_interests": ["美妆", "旅行"],
        "f_agree": "on",
        "website": "",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def page_url(page) -> str:
    return reverse("automation:page", args=[page.slug])


@pytest.fixture
def client_ip():
    return Client(REMOTE_ADDR="10.0.0.1")


# --- The page --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_page_is_mobile_friendly_with_csrf_and_no_cdn(client, redis_conn):
    page = make_page()
    response = client.get(page_url(page))
    html = response.content.decode()
    assert response.status_code == 200
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert "csrfmiddlewaretoken" in html
    assert "春季活动报名" in html
    assert "填写信息领取礼品" in html
    assert 'type="tel"' in html
    assert 'name="f_mobile"' in html
    assert html.count('type="checkbox"') == 4  # three interests and the single consent box
    assert 'name="website"' in html  # the honeypot, hidden by CSS
    # Nothing fetched from elsewhere: no scripts, no style sheets or fonts from a CDN.
    assert "<script" not in html
    assert 'src="http' not in html
    assert 'href="http' not in html
    assert "//" not in html


@pytest.mark.django_db
def test_page_speaks_the_installations_language(client, redis_conn, settings):
    settings.LANGUAGE_CODE = "zh-hans"
    page = make_page()
    html = client.get(page_url(page), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<html lang="zh-hans">' in html
    response = client.post(page_url(page), valid_post(f_name="", f_mobile="12345"))
    html = response.content.decode()
    assert "这个字段是必填项。" in html
    assert "请输入有效的手机号" in html


@pytest.mark.django_db
def test_inactive_or_unknown_page_is_404(client, redis_conn):
    page = make_page(is_active=False)
    assert client.get(page_url(page)).status_code == 404
    assert client.get("/p/nothing-here/").status_code == 404
    assert client.post(page_url(page), valid_post()).status_code == 404
    assert not Submission.objects.exists()


# --- Validation ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_each_bad_field_gets_its_own_message_and_nothing_is_stored(client, redis_conn):
    page = make_page()
    response = client.post(
        page_url(page),
        valid_post(
            f_name="",
            f_mobile="12345",
            f_email="not-an-email",
            f_city="深圳",
            f_interests=["赌博"],
            f_agree=None,
        ),
    )
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert set(errors) == {"f_name", "f_mobile", "f_email", "f_city", "f_interests", "f_agree"}
    assert errors["f_name"] == ["This field is required."]
    assert "valid mobile number" in errors["f_mobile"][0]
    assert errors["f_email"] == ["Enter a valid email address."]
    assert "深圳" in errors["f_city"][0]
    assert "赌博" in errors["f_interests"][0]
    html = response.content.decode()
    # Each message stands beside its own field, and what was typed is kept.
    assert html.count('class="errorlist"') == 6
    assert 'value="12345"' in html
    assert 'value="not-an-email"' in html
    assert not Submission.objects.exists()
    assert not Customer.objects.exists()
    assert not Message.objects.exists()


@pytest.mark.django_db
def test_over_long_text_is_refused(client, redis_conn):
    page = make_page()
    response = client.post(page_url(page), valid_post(f_name="长" * 501))
    assert response.status_code == 400
    assert "f_name" in response.context["form"].errors
    assert not Submission.objects.exists()


@pytest.mark.django_db
def test_honeypot_filled_looks_accepted_but_stores_and_sends_nothing(client, redis_conn):
    page = make_page(webhooks=[make_webhook("http://127.0.0.1:9/hook")])
    response = client.post(page_url(page), valid_post(website="http://spam.example"))
    assert response.status_code == 302
    assert response["Location"] == reverse("automation:thanks", args=[page.slug])
    assert not Submission.objects.exists()
    assert not Customer.objects.exists()
    assert not Delivery.objects.exists()


@pytest.mark.django_db
def test_csrf_is_required(redis_conn):
    page = make_page()
    client = Client(enforce_csrf_checks=True)
    assert client.post(page_url(page), valid_post()).status_code == 403
    assert not Submission.objects.exists()
    # With the token the page gave, it goes through.
    client.get(page_url(page))
    token = client.cookies["csrftoken"].value
    assert client.post(page_url(page), valid_post(csrfmiddlewaretoken=token)).status_code == 302
    assert Submission.objects.count() == 1


# --- Rate limit ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_rate_limit_per_address_answers_a_friendly_429(redis_conn, settings):
    settings.FORM_RATE_LIMIT_PER_MINUTE = 3
    page = make_page()
    flooder, neighbour = Client(REMOTE_ADDR="10.0.0.7"), Client(REMOTE_ADDR="10.0.0.8")
    statuses = [flooder.post(page_url(page), valid_post(f_mobile=f"1380013800{i}")).status_code for i in range(3)]
    assert statuses == [302, 302, 302]
    blocked = flooder.post(page_url(page), valid_post(f_mobile="13800138009"))
    assert blocked.status_code == 429
    assert "Too many submissions" in blocked.content.decode()
    assert "wait a minute" in blocked.content.decode()
    assert Submission.objects.count() == 3
    # Another address is not held up by the first one's flood.
    assert neighbour.post(page_url(page), valid_post(f_mobile="13800138010")).status_code == 302
    assert Submission.objects.count() == 4
    # The counter lives in Redis with an expiry: nothing outlives its window for long.
    keys = redis_conn.keys("webhookhub:form-rate:*")
    assert len(keys) == 2
    assert all(0 < redis_conn.ttl(key) <= 120 for key in keys)


@pytest.mark.django_db
def test_invalid_posts_count_towards_the_limit_too(redis_conn, settings):
    settings.FORM_RATE_LIMIT_PER_MINUTE = 2
    page = make_page()
    client = Client(REMOTE_ADDR="10.0.0.9")
    assert [client.post(page_url(page), {}).status_code for _ in range(3)] == [400, 400, 429]


# --- Customers, groups, messages -------------------------------------------------------------------


@pytest.mark.django_db
def test_submission_is_matched_to_the_customer_with_that_mobile(client_ip, redis_conn):
    existing = Customer.objects.create(name="老客户", mobile="13800138000", email="old@example.com")
    page = make_page()
    response = client_ip.post(page_url(page), valid_post(f_mobile="+86 138-0013-8000", f_name="新名字"))
    assert response.status_code == 302
    submission = Submission.objects.get()
    assert submission.customer == existing
    assert submission.ip == "10.0.0.1"
    assert submission.data == {
        "name": "新名字",
        "mobile": "13800138000",
        "email": "lilei@example.com",
        "city": "上海",
        "interests": ["美妆", "旅行"],
        "agree": True,
    }
    assert Customer.objects.count() == 1
    existing.refresh_from_db()
    assert existing.name == "老客户"  # a form does not overwrite what the hub knows


@pytest.mark.django_db
def test_unknown_mobile_creates_a_customer_named_from_the_form(client, redis_conn):
    page = make_page()
    client.post(page_url(page), valid_post(f_mobile="13900001111", f_name="韩梅梅", f_email="han@example.com"))
    customer = Customer.objects.get(mobile="13900001111")
    assert (customer.name, customer.email) == ("韩梅梅", "han@example.com")
    assert Submission.objects.get().customer == customer


@pytest.mark.django_db
def test_submission_adds_the_customer_to_the_pages_group_once(client, redis_conn):
    group = Group.objects.create(name="春季报名")
    page = make_page(group=group)
    client.post(page_url(page), valid_post())
    # Other answers: a second submission (the same answers again would be the first one).
    client.post(page_url(page), valid_post(f_name="又一次"))
    customer = Customer.objects.get(mobile="13800138000")
    assert GroupEntry.objects.filter(group=group, customer=customer).count() == 1
    assert Submission.objects.count() == 2


@pytest.mark.django_db
def test_a_failure_half_way_leaves_nothing_behind(client, redis_conn, monkeypatch):
    group = Group.objects.create(name="春季报名")
    page = make_page(group=group, webhooks=[make_webhook("http://127.0.0.1:9/hook")])

    def broken(**kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(services, "message_publish", broken)
    client.raise_request_exception = False
    response = client.post(page_url(page), valid_post())
    assert response.status_code == 500
    assert not Customer.objects.exists()
    assert not GroupEntry.objects.exists()
    assert not Submission.objects.exists()
    assert not Message.objects.exists()


@pytest.mark.django_db
def test_only_the_pages_active_webhooks_are_called(client, redis_conn):
    on = make_webhook("http://127.0.0.1:9/on", body_template=FORM_TEMPLATE)
    off = make_webhook("http://127.0.0.1:9/off", is_active=False)
    page = make_page(webhooks=[on, off])
    client.post(page_url(page), valid_post())
    message = Message.objects.get()
    assert message.event == "form/submit"
    assert list(Delivery.objects.values_list("webhook_id", flat=True)) == [on.pk]
    assert Submission.objects.get().message == message


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_form_submit_reaches_the_receiver_with_form_values(client, receiver, redis_conn, run_worker):
    webhook = make_webhook(receiver.url("/crm/form"), body_template=FORM_TEMPLATE, empty_text="-")
    page = make_page(webhooks=[webhook])
    response = client.post(page_url(page), valid_post(f_email="", f_name='李 "雷" <3'))
    assert response.status_code == 302
    run_worker()

    assert len(receiver.received) == 1
    got = receiver.received[0]
    customer = Customer.objects.get(mobile="13800138000")
    assert got.headers["X-Clab-Event"] == "form/submit"
    assert got.signature_ok is True
    assert verify(got.body, got.headers["X-Clab-Hmac-Signature"], "s3cr3t")
    assert json.loads(got.body) == {
        "event": "form",
        "name": '李 "雷" <3',
        "mobile": "13800138000",
        "email": "none",
        "city": "上海",
        "interests": "美妆, 旅行",
        "agree": True,
        "customerId": customer.pk,
    }
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.Status.SUCCEEDED
    assert delivery.id == got.headers["X-Clab-Delivery-Id"]
    save_example("form-submit", got, Attempt.objects.get(delivery=delivery))


def test_a_page_without_a_webhook_is_warned_about_on_save_in_the_list_and_in_its_submissions(
    admin_client, client, redis_conn
):
    admin_client.defaults["HTTP_ACCEPT_LANGUAGE"] = "zh-hans"
    data = {
        "title": "双十二报名",
        "slug": "double12",
        "is_active": "on",
        "description": "",
        "success_text": "",
        "group": "",
        "fields-TOTAL_FORMS": "0",
        "fields-INITIAL_FORMS": "0",
        "fields-MIN_NUM_FORMS": "0",
        "fields-MAX_NUM_FORMS": "1000",
    }
    saved = admin_client.post(reverse("admin:automation_micropage_add"), data, follow=True)
    assert saved.status_code == 200
    html = saved.content.decode()
    assert "此微页面没有调用任何已激活的 Webhook：访客的提交会被保存，但不会推送到任何地方。" in html  # noqa: RUF001
    listing = admin_client.get(reverse("admin:automation_micropage_changelist")).content.decode()
    assert "无：提交不会被推送" in listing  # noqa: RUF001

    page = make_page(slug="lonely")
    assert client.post(page_url(page), valid_post()).status_code in (200, 302)
    submission = Submission.objects.get(page=page)
    assert submission.message_id is None
    record = admin_client.get(reverse("admin:automation_submission_change", args=[submission.pk])).content.decode()
    assert "未推送：提交时该微页面没有调用任何已激活的 Webhook。" in record  # noqa: RUF001

    # With a webhook: no warning, and the list names it.
    pushed = make_page(slug="pushed", webhooks=[make_webhook("https://crm.example.com/hook", name="CRM")])
    listing = admin_client.get(reverse("admin:automation_micropage_changelist")).content.decode()
    row = listing.split(f"/p/{pushed.slug}/", 1)[1].split("</tr>", 1)[0]
    assert "CRM" in row
    assert "无：提交不会被推送" not in row  # noqa: RUF001
