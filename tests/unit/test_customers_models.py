import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from customers.models import Customer, MembershipLevel
from customers.services import customer_save
from customers.validators import normalize_mobile

pytestmark = pytest.mark.django_db


def test_mobile_must_be_a_mainland_mobile_number():
    customer = Customer(name="王伟", mobile="12345")
    with pytest.raises(ValidationError) as error:
        customer.full_clean()
    assert "mobile" in error.value.message_dict


def test_mobile_is_unique_when_present_but_many_customers_may_have_none():
    Customer.objects.create(name="甲", mobile="13800000001")
    Customer.objects.create(name="乙", mobile="")
    Customer.objects.create(name="丙", mobile="")
    duplicate = Customer(name="丁", mobile="13800000001")
    with pytest.raises(ValidationError) as error:
        duplicate.full_clean()
    assert "A customer with this mobile already exists." in str(error.value)


def test_mobile_is_normalized_from_common_notations():
    assert normalize_mobile("+86 138-0000-0001") == "13800000001"


def test_custom_attribute_keys_and_values_are_validated():
    bad_key = Customer(name="甲", attributes={"1city": "上海"})
    with pytest.raises(ValidationError):
        bad_key.full_clean()
    nested = Customer(name="甲", attributes={"city": {"name": "上海"}})
    with pytest.raises(ValidationError):
        nested.full_clean()
    Customer(name="甲", attributes={"city": "上海", "vip": True, "visits": 3}).full_clean()


def test_membership_levels_are_ordered_by_rank():
    MembershipLevel.objects.create(name="金卡", rank=3)
    MembershipLevel.objects.create(name="普通", rank=1)
    assert [level.name for level in MembershipLevel.objects.all()] == ["普通", "金卡"]


def test_saving_a_customer_reads_the_old_score_only_when_the_score_changes():
    customer = Customer.objects.create(name="甲", mobile="13800000001", activity_score=5)

    def selects(**kwargs) -> int:
        with CaptureQueriesContext(connection) as queries:
            customer_save(customer=customer, **kwargs)
        return sum(query["sql"].lstrip().upper().startswith("SELECT") for query in queries)

    customer.name = "甲乙"
    assert selects(changed=["name"]) == 0
    with CaptureQueriesContext(connection) as queries:
        customer.save()  # no model signal reads the row first
    assert [query["sql"].split()[0] for query in queries] == ["UPDATE"]
    customer.activity_score = 50
    assert selects(changed=["activity_score"]) == 1
