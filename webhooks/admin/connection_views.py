"""Admin views that check a webhook: the sample event of a fixed-event webhook, and test connection.

Thin, as webhooks/admin/views.py: a permission, a form, a service, an answer the dialog's script puts in place.
"""

from django.http import JsonResponse
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from webhookhub.errors import HubError
from webhookhub.roles import SEND_PERMISSION, is_administrator
from webhooks import services
from webhooks.admin.views import _errors, _require, delivery_urls
from webhooks.forms import TestSendForm
from webhooks.models import Webhook
from webhooks.services.connection_check import webhook_connection_test

CONNECTION_TEST_PERMISSION = "webhooks.change_webhook"


def samples_note(sample) -> str:
    """Which members of the payload are sample values, and why; '' when all are the member's own."""
    if not sample.sample_members:
        return ""
    return _("Sample values (the member has none of their own): %(members)s. %(reason)s") % {
        "members": ", ".join(sample.sample_members),
        "reason": sample.reason,
    }


@require_POST
def sample_event(request, pk):
    _require(request, SEND_PERMISSION)
    webhook = get_object_or_404(Webhook, pk=pk)
    form = TestSendForm(request.POST)
    if not form.is_valid():
        return _errors(form)
    try:
        delivery, sample = services.sample_event_send(
            webhook=webhook, customer=form.cleaned_data["customer"], user=request.user
        )
    except HubError as exc:
        return _errors(exc)
    return JsonResponse(
        {
            **delivery_urls(delivery),
            "sample_members": sample.sample_members,
            "samples_note": samples_note(sample),
        },
        status=201,
    )


@require_POST
def connection_test(request, pk):
    _require(request, CONNECTION_TEST_PERMISSION)
    webhook = get_object_or_404(Webhook, pk=pk)
    # The addresses names resolve to are for Administrators: they map the internal network.
    check = webhook_connection_test(webhook=webhook, show_addresses=is_administrator(request.user))
    html = render_to_string("webhooks/connection_test_result.html", {"check": check}, request=request)
    return JsonResponse({"ok": check.ok, "outcome": check.outcome, "title": check.title, "html": html})
