"""Admin views for sending and watching results; wired into the admin by webhooks/admin.py.

Each view is thin: it checks the admin permission, validates a form, calls a service or a selector
and answers with a page, a redirect or a small JSON document the page's script polls. What a page
shows is rendered here, on the server, once: the JSON a script polls carries the rendered fragment
and the script only puts it in place. The scripts' own words come from Django's JavaScript catalog.
"""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from customers.selectors import customer_search_page as customers_find_page
from webhookhub.errors import HubError
from webhookhub.roles import CANCEL_PERMISSION, REDELIVER_PERMISSION, SEND_PERMISSION
from webhooks import selectors, services
from webhooks.admin import exports
from webhooks.content.body_fields import template_warnings
from webhooks.content.payloads import message_context
from webhooks.content.templating import TemplateError, compile_template, template_check
from webhooks.forms import GroupSendForm, TemplateCheckForm, TemplatePreviewForm, TestSendForm
from webhooks.health import selectors as health_selectors
from webhooks.models import Delivery, GroupSend, Webhook

MAX_POLLED_SENDS = 200


def _require(request, permission: str) -> None:
    if not request.user.has_perm(permission):
        raise PermissionDenied


def _errors(form_or_error) -> JsonResponse:
    if isinstance(form_or_error, HubError):
        return JsonResponse({"errors": {"__all__": list(form_or_error.messages)}}, status=400)
    errors = {field: [str(message) for message in messages_] for field, messages_ in form_or_error.errors.items()}
    return JsonResponse({"errors": errors}, status=400)


def delivery_urls(delivery: Delivery) -> dict:
    """What the send dialog polls for a delivery it started (a test send, a sample event)."""
    return {
        "delivery_id": delivery.pk,
        "result_url": reverse("admin:webhooks_delivery_result", args=[delivery.pk]),
        "detail_url": reverse("admin:webhooks_delivery_change", args=[delivery.pk]),
    }


def _back(request, fallback: str):
    target = request.POST.get("next") or request.GET.get("next")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect(fallback)


def dialog_urls(webhook: Webhook) -> dict:
    return {
        "test_send": reverse("admin:webhooks_webhook_test_send", args=[webhook.pk]),
        "group_send": reverse("admin:webhooks_webhook_group_send", args=[webhook.pk]),
        "sample_event": reverse("admin:webhooks_webhook_sample_event", args=[webhook.pk]),
        "customer_search": reverse("admin:webhooks_customer_search"),
        "sends": reverse("admin:webhooks_groupsend_changelist"),
    }


@require_GET
def send_dialog(request, pk, *, model_admin):
    """The 'Send message' dialog: a page of its own, or only its body for the modal (?fragment=1)."""
    _require(request, SEND_PERMISSION)
    webhook = get_object_or_404(Webhook, pk=pk)
    fragment = request.GET.get("fragment") == "1"
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": Webhook._meta,
        "title": _("Send message: %(webhook)s") % {"webhook": webhook},
        "webhook": webhook,
        "group_form": GroupSendForm(),
        "urls": dialog_urls(webhook),
        "fragment": fragment,
        "paused_note": health_selectors.paused_notes(webhooks=[webhook], user=request.user).get(webhook.pk),
    }
    template = "webhooks/send_dialog.html" if fragment else "admin/webhooks/webhook/send_message.html"
    return TemplateResponse(request, template, context)


@require_POST
def test_send(request, pk):
    _require(request, SEND_PERMISSION)
    webhook = get_object_or_404(Webhook, pk=pk)
    form = TestSendForm(request.POST)
    if not form.is_valid():
        return _errors(form)
    try:
        delivery = services.message_test_send(
            webhook=webhook, customer=form.cleaned_data["customer"], user=request.user
        )
    except HubError as exc:
        return _errors(exc)
    return JsonResponse(
        delivery_urls(delivery),
        status=201,
    )


@require_POST
def group_send(request, pk):
    _require(request, SEND_PERMISSION)
    webhook = get_object_or_404(Webhook, pk=pk)
    form = GroupSendForm(request.POST)
    if not form.is_valid():
        return _errors(form)
    try:
        send = services.group_send_create(
            webhook=webhook,
            group=form.cleaned_data["group"],
            scheduled_at=form.cleaned_data["scheduled_at"],
            user=request.user,
        )
    except HubError as exc:
        return _errors(exc)
    if send.status == GroupSend.Status.SCHEDULED and form.cleaned_data["scheduled_at"]:
        text = _("The send to %(group)s is scheduled.") % {"group": send.group}
    else:
        text = _("The send to %(group)s has started.") % {"group": send.group}
    return JsonResponse(
        {
            "send_id": send.pk,
            "status": send.status,
            "message": text,
            "sends_url": reverse("admin:webhooks_groupsend_changelist") + f"?webhook__id__exact={webhook.pk}",
        },
        status=201,
    )


@require_GET
def customer_search(request):
    _require(request, "customers.view_customer")
    found = customers_find_page(query=request.GET.get("q", ""))
    results = [
        {"id": c.pk, "label": str(c), "name": c.name, "wechat_nickname": c.wechat_nickname, "mobile": c.mobile}
        for c in found["results"]
    ]
    # The query echoed: the picker shows an answer only for the query still in its box.
    return JsonResponse(
        {
            "query": request.GET.get("q", ""),
            "results": results,
            "total": found["total"],
            "more": found["more"],
            "total_capped": found["total_capped"],
        }
    )


@require_GET
def delivery_result(request, delivery_id):
    _require(request, "webhooks.view_delivery")
    result = selectors.delivery_result(delivery_id=delivery_id)
    if result is None:
        raise Http404
    html = render_to_string("webhooks/delivery_result.html", {"result": result}, request=request)
    return JsonResponse({**result, "html": html})


@require_GET
def delivery_state(request, delivery_id):
    """What the delivery page watches after a redelivery: its status and how many attempts it has."""
    _require(request, "webhooks.view_delivery")
    state = selectors.delivery_state(delivery_id=delivery_id)
    if state is None:
        raise Http404
    return JsonResponse(state)


@require_GET
def group_sends_status(request, *, model_admin):
    """Each polled send's state, and its live cells rendered by the sends list's own column methods."""
    _require(request, "webhooks.view_groupsend")
    ids = [part for part in request.GET.get("ids", "").split(",") if part.strip().isdigit()][:MAX_POLLED_SENDS]
    columns = [name for name in model_admin.get_list_display(request) if name in model_admin.live_columns]
    polled = selectors.group_sends_polled(send_ids=ids)
    can_view_deliveries = request.user.has_perm("webhooks.view_delivery")
    paused = Webhook.objects.filter(pk__in={send.webhook_id for send in polled}, paused_at__isnull=False)
    notes = health_selectors.paused_notes(webhooks=paused, user=request.user)
    for send in polled:
        send.can_view_deliveries = can_view_deliveries
        send.paused_note = notes.get(send.webhook_id)
    sends = [
        {**selectors.group_send_status(send), "cells": {name: getattr(model_admin, name)(send) for name in columns}}
        for send in polled
    ]
    return JsonResponse({"sends": sends})


@require_GET
def group_send_export(request, pk):
    """A send's results as CSV, streamed row by row (a million rows never sit in memory)."""
    _require(request, "webhooks.view_delivery")
    send = get_object_or_404(GroupSend, pk=pk)
    response = StreamingHttpResponse(exports.group_send_results_csv(send=send), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="group-send-{send.pk}-results.csv"'
    return response


@require_POST
def group_send_cancel(request, pk):
    _require(request, CANCEL_PERMISSION)
    send = get_object_or_404(GroupSend, pk=pk)
    was_running = send.status == GroupSend.Status.SENDING
    try:
        services.group_send_cancel(send=send, user=request.user)
    except HubError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        if was_running:
            messages.success(
                request, _("Send #%(id)s is stopped; its deliveries not yet sent are cancelled.") % {"id": send.pk}
            )
        else:
            messages.success(request, _("Send #%(id)s is cancelled.") % {"id": send.pk})
    return _back(request, reverse("admin:webhooks_groupsend_changelist"))


@require_POST
def delivery_redeliver(request, delivery_id):
    _require(request, REDELIVER_PERMISSION)
    delivery = get_object_or_404(Delivery, pk=delivery_id)
    try:
        services.delivery_redeliver(delivery=delivery, user=request.user)
    except HubError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Delivery %(id)s is queued to be sent again.") % {"id": delivery.pk})
    return redirect(reverse("admin:webhooks_delivery_change", args=[delivery.pk]))


@require_POST
def template_preview(request):
    """The body a template renders for one customer: the template being edited, else the saved one."""
    _require(request, "webhooks.view_webhook")
    _require(request, "customers.view_customer")
    form = TemplatePreviewForm(request.POST)
    if not form.is_valid():
        return _errors(form)
    data = form.cleaned_data
    source, message_type, empty_text = data["body_template"], data["message_type"], data["empty_text"]
    webhook_id = request.POST.get("webhook", "")
    if not source and webhook_id.isdigit():
        webhook = get_object_or_404(Webhook, pk=webhook_id)
        source, message_type, empty_text = webhook.body_template, webhook.message_type, webhook.empty_text
    try:
        template = compile_template(
            source, message_type=message_type or Webhook.MessageType.JSON, empty_text=empty_text
        )
        body = template.render(message_context(customer=data["customer"]))
    except TemplateError as exc:
        return JsonResponse({"error": str(exc)}, status=200)
    warnings = template_warnings(template.names)
    return JsonResponse({"body": body, "warnings": warnings} if warnings else {"body": body})


@require_POST
def template_check_view(request):
    """Whether the template being typed would save, and the names in it nothing can fill: the editor asks
    as the marketer types, before any customer is chosen for the preview."""
    _require(request, "webhooks.view_webhook")
    form = TemplateCheckForm(request.POST)
    if not form.is_valid():
        return _errors(form)
    data = form.cleaned_data
    try:
        template_check(
            data["body_template"],
            message_type=data["message_type"] or Webhook.MessageType.JSON,
            empty_text=data["empty_text"],
        )
        error: str | None = None
    except TemplateError as exc:
        error = str(exc)
    # The names nothing can fill are said beside a JSON error too: fixing one should not hide the other.
    try:
        names = compile_template(data["body_template"], message_type=data["message_type"] or "json").names
    except TemplateError:
        names = []
    return JsonResponse({"error": error, "warnings": template_warnings(names)})
