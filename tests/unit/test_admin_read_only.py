"""Rows the hub writes are read in the admin, never added or edited there; deliveries and sends are not deleted."""

import pytest
from django.contrib import admin

from automation.models import FlowRun, Submission
from webhooks.models import Delivery, GroupSend

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("model", "deletable"), [(Submission, True), (FlowRun, True), (GroupSend, False), (Delivery, False)]
)
def test_rows_the_hub_writes_are_read_only_in_the_admin(rf, admin_user, model, deletable):
    model_admin = admin.site._registry[model]
    request = rf.get("/")
    request.user = admin_user
    assert model_admin.has_view_permission(request)
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert model_admin.has_delete_permission(request) is deletable
