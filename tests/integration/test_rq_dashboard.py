"""Issue 10.2: the rq dashboard is for Administrators only, has no links that answer 500, and comes last."""

import pytest
from django.contrib.auth.models import Group as AuthGroup
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.test import Client

from automation.models import MicroPage
from webhookhub.roles import ADMINISTRATOR, MARKETER

pytestmark = pytest.mark.django_db

DASHBOARD_PAGES = [
    "/admin/rq/",
    "/admin/rq/queues/0/",
    "/admin/rq/queues/0/failed/",
    "/admin/rq/queues/1/scheduled/",
    "/admin/rq/workers/0/",
    "/admin/rq/stats.json/",
]


def _client_for(role: str | None, *, superuser=False) -> Client:
    user = User.objects.create_user(f"u-{role}-{superuser}", password="pw-12345-x", is_staff=True)
    if superuser:
        user.is_superuser = True
        user.save()
    if role:
        user.groups.add(AuthGroup.objects.get(name=role))
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


@pytest.mark.parametrize("page", DASHBOARD_PAGES)
def test_marketers_and_plain_staff_are_refused(page, redis_conn):
    for client in (_client_for(MARKETER), _client_for(None)):
        assert client.get(page).status_code == 403
    anonymous = Client().get(page)
    assert anonymous.status_code == 302
    assert "/admin/login/" in anonymous["Location"]


@pytest.mark.parametrize("page", DASHBOARD_PAGES)
def test_administrators_and_superusers_see_it(page, redis_conn):
    for client in (_client_for(ADMINISTRATOR), _client_for(None, superuser=True)):
        assert client.get(page).status_code == 200, page


def test_the_pages_that_answered_500_are_gone(redis_conn):
    client = _client_for(None, superuser=True)
    dashboard_type = ContentType.objects.get(app_label="django_rq", model="dashboard")
    for page in (
        "/admin/rq/schedulers/0/",
        f"/admin/r/{dashboard_type.pk}/1/",
        "/admin/django_rq/dashboard/",  # django-rq's own entry, which checked only staff status
        "/admin/django_rq/dashboard/queues/0/",
    ):
        assert client.get(page).status_code == 404, page
    # "View on site" still works for the hub's own models.
    page = MicroPage.objects.create(title="报名", slug="signup")
    micro_type = ContentType.objects.get_for_model(MicroPage)
    response = client.get(f"/admin/r/{micro_type.pk}/{page.pk}/")
    assert response.status_code == 302
    assert response["Location"].endswith("/p/signup/")


def test_every_link_of_the_dashboard_answers(redis_conn):
    import re

    client = _client_for(ADMINISTRATOR)
    seen, todo = set(), ["/admin/rq/"]
    while todo and len(seen) < 80:
        url = todo.pop()
        if url in seen:
            continue
        seen.add(url)
        response = client.get(url)
        assert response.status_code < 500, url
        if "html" in response.get("Content-Type", ""):
            for link in re.findall(r'href="(/admin/rq/[^"#?]*)"', response.content.decode()):
                if not re.search(r"/(empty|clear|requeue|delete|stop|enqueue|actions|confirm-action)/", link):
                    todo.append(link)
    assert len(seen) > 10


def test_the_dashboard_is_last_in_the_menu_and_only_for_administrators(redis_conn):
    response = _client_for(ADMINISTRATOR).get("/admin/")
    app_list = response.context["app_list"]
    # The last entry of the last section (System), once.
    assert app_list[-1]["models"][-1]["admin_url"] == "/admin/rq/"
    urls = [model["admin_url"] for app in app_list for model in app["models"]]
    assert urls.count("/admin/rq/") == 1
    assert "django_rq" not in [app["app_label"] for app in app_list]

    response = _client_for(MARKETER).get("/admin/")
    assert "/admin/rq/" not in response.content.decode()
    assert "/admin/rq/" not in [m["admin_url"] for app in response.context["app_list"] for m in app["models"]]
