"""One Chinese throughout: the project's catalogue overrides Django's own words where they clash (你/您,
half-width punctuation), and a webhook page says the same thing after adding and after changing."""

import pytest
from django.urls import reverse

from .test_webhook_secret_storage import form_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def chinese_admin(admin_client):
    admin_client.defaults["HTTP_ACCEPT_LANGUAGE"] = "zh-hans"
    return admin_client


def _messages(html: str) -> str:
    # The page's messages, after the engine banner (its own list, id="engine-health").
    return html.split('<ul class="messagelist">', 1)[1].split("</ul>", 1)[0]


def test_after_add_and_after_change_the_same_words_with_full_width_punctuation(chinese_admin):
    added = chinese_admin.post(reverse("admin:webhooks_webhook_add"), form_data(_continue="1"), follow=True)
    text = _messages(added.content.decode())
    assert "您可以在下面再次编辑它。" in text
    assert "再次编辑它." not in text
    webhook_url = added.redirect_chain[-1][0]
    changed = chinese_admin.post(webhook_url, form_data(secret_key="", _continue="1"), follow=True)
    text = _messages(changed.content.decode())
    assert "您可以在下面再次编辑它。" in text
    assert "你" not in text


def test_filter_titles_are_the_field_names_alone(chinese_admin):
    html = chinese_admin.get(reverse("admin:webhooks_webhook_changelist")).content.decode()
    assert "以 是否激活" not in html
    assert " 以 " not in html
    assert "是否激活" in html


def test_the_seeds_words_for_basic_authentication(chinese_admin):
    html = chinese_admin.get("/admin/webhooks/webhook/add/").content.decode()
    assert "基本身份认证" in html
    assert "Basic 身份认证" not in html
