"""Customers and groups: list and read; create; add customers to a group and remove them.

Customers and groups are checked by model forms of their models, as the admin's forms are (the models'
validators and unique constraints); group entries change through customers.groups, which tells the
automation flows who joined.
"""

import json
from datetime import datetime
from typing import Annotated, Any

from django import forms
from django.db.models import Count
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from ninja import Query, Router, Schema, Status
from pydantic import Field

from customers.groups import group_customers_add, group_customers_remove
from customers.models import Customer, Group
from customers.services import customer_save

from ..errors import ApiError, missing
from ..hub import ScopedKey
from ..models import Scope
from ..pagination import DEFAULT_LIMIT, MAX_LIMIT, page
from ..schemas import BODY, FILLED, INT64_MAX, id_query, pk_path, responses, text_query

router = Router(tags=["Customers and groups"])
READ, WRITE = ScopedKey(Scope.CUSTOMERS_READ), ScopedKey(Scope.CUSTOMERS_WRITE)
MAX_IDS = 1000
ID = Field(ge=1, le=2**63 - 1)


def _max(model, name: str) -> int:
    return model._meta.get_field(name).max_length


class CustomerForm(forms.ModelForm):
    class Meta:
        model = Customer
        fields = ("name", "wechat_nickname", "mobile", "email", "activity_score", "attributes")


class GroupForm(forms.ModelForm):
    class Meta:
        model = Group
        fields = ("name", "description")


class CustomerIn(Schema):
    model_config = BODY

    name: str = Field(min_length=1, max_length=_max(Customer, "name"), pattern=FILLED)
    wechat_nickname: str = Field("", max_length=_max(Customer, "wechat_nickname"))
    mobile: str = Field("", max_length=_max(Customer, "mobile"))
    email: str = Field("", max_length=_max(Customer, "email"))
    activity_score: int = Field(0, ge=-(2**31), le=2**31 - 1)
    attributes: dict[str, Any] = Field(default_factory=dict, description="Custom attributes: key → value.")


class CustomerOut(Schema):
    id: int
    name: str
    wechat_nickname: str
    mobile: str
    email: str
    activity_score: int
    attributes: dict[str, Any]
    membership_id: str
    level: str | None
    points: int
    created_at: datetime


class CustomerPage(Schema):
    items: list[CustomerOut]
    next_cursor: str | None


class GroupIn(Schema):
    model_config = BODY

    name: str = Field(min_length=1, max_length=_max(Group, "name"), pattern=FILLED)
    description: str = ""


class GroupOut(Schema):
    id: int
    name: str
    description: str
    customer_count: int
    created_at: datetime


class GroupPage(Schema):
    items: list[GroupOut]
    next_cursor: str | None


class CustomerIds(Schema):
    model_config = BODY

    customer_ids: list[Annotated[int, Field(ge=1, le=INT64_MAX)]] = Field(min_length=1, max_length=MAX_IDS)


class Changed(Schema):
    count: int = Field(description="How many customers joined (or left): those already in (or out) are not counted.")


def customer_as_dict(customer: Customer) -> dict:
    return {
        "id": customer.pk,
        "name": customer.name,
        "wechat_nickname": customer.wechat_nickname,
        "mobile": customer.mobile,
        "email": customer.email,
        "activity_score": customer.activity_score,
        "attributes": customer.attributes or {},
        "membership_id": customer.membership_id,
        "level": customer.level.name if customer.level else None,
        "points": customer.points,
        "created_at": customer.created_at,
    }


def group_as_dict(group: Group) -> dict:
    count = getattr(group, "customer_count", None)
    return {
        "id": group.pk,
        "name": group.name,
        "description": group.description,
        "customer_count": group.entries.count() if count is None else count,
        "created_at": group.created_at,
    }


def _invalid(form) -> ApiError:
    fields = {name: [str(m) for m in messages] for name, messages in form.errors.items()}
    codes = {error.code for errors in form.errors.as_data().values() for error in errors}
    if codes <= {"unique", "unique_together"}:  # well formed, but one by that name is there already
        return ApiError(409, "already_exists", _("One of these already exists; nothing was changed."), fields=fields)
    return ApiError(400, "invalid_fields", _("Some fields are invalid; nothing was changed."), fields=fields)


def _customers(ids: list[int]) -> list[Customer]:
    ids = [pk for pk in dict.fromkeys(ids) if 0 < pk < 2**63]
    found: list[Customer] = []
    for start in range(0, len(ids), 900):
        found.extend(Customer.objects.filter(pk__in=ids[start : start + 900]).only("pk"))
    absent = sorted(set(ids) - {c.pk for c in found})
    if absent or not ids:
        raise missing({"customer_ids": [_("No customer with the id %(id)s.") % {"id": pk} for pk in absent[:20]]})
    return found


@router.get("/customers", response=responses({200: CustomerPage}), auth=READ, operation_id="listCustomers")
def list_customers(
    request,
    cursor: str | None = text_query(1000),
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    group_id: int | None = id_query("Customers in this group."),
    mobile: str | None = text_query(20),
    membership_id: str | None = text_query(64),
):
    """Customers, newest first."""
    queryset = Customer.objects.select_related("level")
    if group_id is not None:
        queryset = queryset.filter(group_entries__group_id=group_id)
    if mobile:
        queryset = queryset.filter(mobile=mobile)
    if membership_id:
        queryset = queryset.filter(membership_id=membership_id)
    return page(queryset, cursor=cursor, limit=limit, serialize=customer_as_dict)


@router.post(
    "/customers",
    response=responses({201: CustomerOut}, post=True, refused=True),
    auth=WRITE,
    operation_id="createCustomer",
)
def create_customer(request, payload: CustomerIn):
    data = payload.model_dump()
    data["attributes"] = json.dumps(data["attributes"], ensure_ascii=False)
    form = CustomerForm(data=data)
    if not form.is_valid():
        raise _invalid(form)
    return Status(201, customer_as_dict(customer_save(customer=form.save(commit=False))))


@router.get("/customers/{customer_id}", response=responses({200: CustomerOut}), auth=READ, operation_id="getCustomer")
def get_customer(request, customer_id: int = pk_path()):
    return customer_as_dict(get_object_or_404(Customer.objects.select_related("level"), pk=customer_id))


@router.get("/groups", response=responses({200: GroupPage}), auth=READ, operation_id="listGroups")
def list_groups(request, cursor: str | None = text_query(1000), limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)):
    """Groups, newest first, with how many customers each holds."""
    return page(
        Group.objects.annotate(customer_count=Count("entries")), cursor=cursor, limit=limit, serialize=group_as_dict
    )


@router.post(
    "/groups", response=responses({201: GroupOut}, post=True, refused=True), auth=WRITE, operation_id="createGroup"
)
def create_group(request, payload: GroupIn):
    form = GroupForm(data=payload.model_dump())
    if not form.is_valid():
        raise _invalid(form)
    return Status(201, group_as_dict(form.save()))


@router.get("/groups/{group_id}", response=responses({200: GroupOut}), auth=READ, operation_id="getGroup")
def get_group(request, group_id: int = pk_path()):
    return group_as_dict(get_object_or_404(Group.objects.annotate(customer_count=Count("entries")), pk=group_id))


@router.post(
    "/groups/{group_id}/customers", response=responses({200: Changed}, post=True), auth=WRITE, operation_id="addToGroup"
)
def add_to_group(request, payload: CustomerIds, group_id: int = pk_path()):
    """Add customers to the group (up to 1,000 per request); those already in stay as they are."""
    group = get_object_or_404(Group, pk=group_id)
    return {"count": group_customers_add(group=group, customers=_customers(payload.customer_ids))}


@router.post(
    "/groups/{group_id}/customers/remove",
    response=responses({200: Changed}, post=True),
    auth=WRITE,
    operation_id="removeFromGroup",
)
def remove_from_group(request, payload: CustomerIds, group_id: int = pk_path()):
    """Remove customers from the group (up to 1,000 per request)."""
    group = get_object_or_404(Group, pk=group_id)
    return {"count": group_customers_remove(group=group, customers=_customers(payload.customer_ids))}
