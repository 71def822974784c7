"""The customer picker's answer: the first 20 matches, how many match in all, whether there are more."""

import pytest
from django.urls import reverse

from customers.models import Customer
from customers.selectors import customer_search_page

from ..factories import make_customers

pytestmark = pytest.mark.django_db


def test_the_answer_says_how_many_match_beyond_the_first_20(admin_client):
    make_customers(25, prefix="会员")
    Customer.objects.create(name="李雷", wechat_nickname="会员之友", mobile="13800000001")
    url = reverse("admin:webhooks_customer_search")
    data = admin_client.get(url, {"q": "会员"}).json()
    assert data["query"] == "会员"
    assert len(data["results"]) == 20
    assert data["total"] == 26  # 25 by name, one by WeChat nickname
    assert data["more"] is True
    assert data["total_capped"] is False
    data = admin_client.get(url, {"q": "李"}).json()
    assert [r["name"] for r in data["results"]] == ["李雷"]
    assert (data["total"], data["more"]) == (1, False)
    assert admin_client.get(url, {"q": ""}).json() == {
        "query": "",
        "results": [],
        "total": 0,
        "more": False,
        "total_capped": False,
    }


def test_counting_stops_at_the_cap():
    make_customers(30, prefix="会员")
    page = customer_search_page(query="会员", limit=5, count_cap=12)
    assert len(page["results"]) == 5
    assert (page["total"], page["more"], page["total_capped"]) == (12, True, True)
    page = customer_search_page(query="会员", limit=5, count_cap=1000)
    assert (page["total"], page["total_capped"]) == (30, False)
