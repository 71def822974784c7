"""Bulk recover in the admin: the confirmation page of every entry point, the recoveries list, stop.

Entry points: the deliveries list's action (the selection, or every delivery matching its filters),
a group send's row ("redeliver the failed and cancelled") and a webhook's page ("failed since …").
Each shows what would be sent again, and of which webhooks, before anything happens; only the
confirmation's POST creates the recovery (webhooks/services/recoveries.py), which the drain then carries out.
Who may redeliver may recover (REDELIVER_PERMISSION); the recovery is recorded as theirs.
"""

import json
from datetime import datetime, timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from webhookhub.admin_mixins import ReadOnlyAdminMixin
from webhookhub.errors import HubError
from webhookhub.roles import REDELIVER_PERMISSION
from webhooks import selectors, services
from webhooks.admin.display import time_cell, with_zone
from webhooks.models import Delivery, GroupSend, Recovery, Webhook
from webhooks.services import recoveries

VIEW_PERMISSION = "webhooks.view_delivery"
MAX_POLLED = 200
# The deliveries list's own parameters that say nothing about which deliveries it shows.
_LIST_PARAMS = {"o", "p", "e", "all", "_to_field", "q"}


def _require(request, permission: str) -> None:
    if not request.user.has_perm(permission):
        raise PermissionDenied


# --- The confirmation ------------------------------------------------------------------------------


class SinceForm(forms.Form):
    since = forms.DateTimeField(
        label=_("Failed since"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"],
        help_text=_("In your time zone (%(zone)s). Deliveries created since then that failed or were cancelled."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["since"].help_text = self.fields["since"].help_text % {"zone": timezone.get_current_timezone_name()}


def describe(recovery_or_kind, criteria: dict | None = None) -> str:
    """What a recovery names, in words: shown on its confirmation and in the recoveries list."""
    if isinstance(recovery_or_kind, Recovery):
        kind, criteria = recovery_or_kind.kind, recovery_or_kind.criteria
    else:
        kind = recovery_or_kind
    criteria = criteria or {}
    if kind == Recovery.Kind.SELECTION:
        return gettext("%(count)s selected deliveries") % {"count": len(criteria.get("ids", []))}
    if kind == Recovery.Kind.SEND:
        return gettext("Group send #%(id)s: its failed and cancelled deliveries") % {"id": criteria.get("send_id")}
    if kind == Recovery.Kind.WEBHOOK:
        webhook = Webhook.objects.filter(pk=int(criteria.get("webhook_id") or 0)).first()
        since = datetime.fromisoformat(criteria["since"]) if criteria.get("since") else None
        return gettext("Webhook “%(name)s”: failed and cancelled since %(since)s") % {
            "name": webhook or f"#{criteria.get('webhook_id')}",
            "since": selectors.local_time(since) or "?",
        }
    labels = {
        "webhook_id": gettext("webhook"),
        "status": gettext("status"),
        "event": gettext("event"),
        "send_id": gettext("group send"),
        "customer": gettext("customer"),
        "created_after": gettext("created from"),
        "created_before": gettext("created before"),
    }
    parts = []
    for key, value in criteria.items():
        if key in ("created_after", "created_before"):
            value = selectors.local_time(datetime.fromisoformat(value))
        elif key == "webhook_id":
            value = Webhook.objects.filter(pk=int(value)).first() or f"#{value}"
        elif key == "status":
            value = Delivery.Status(value).label if value in Delivery.Status.values else value
        parts.append(f"{labels.get(key, key)} = {value}")
    return gettext("Deliveries matching: %(filters)s") % {"filters": "; ".join(parts)}


def confirmation(request, *, kind: str, criteria: dict, back_url: str, since_form=None) -> TemplateResponse:
    """The page that says what will be sent again, and asks; its form posts to recovery_confirm."""
    context = {
        **admin.site.each_context(request),
        "title": gettext("Send failed deliveries again"),
        "opts": Recovery._meta,
        "back_url": back_url,
        "since_form": since_form,
    }
    if since_form is None:
        try:
            criteria = recoveries.criteria_clean(kind=kind, criteria=criteria)
        except HubError as exc:
            context["error"] = " ".join(exc.messages)
        else:
            context.update(
                kind=kind,
                criteria_json=json.dumps(criteria, ensure_ascii=False),
                what=describe(kind, criteria),
                preview=recoveries.recovery_preview(kind=kind, criteria=criteria),
            )
    return TemplateResponse(request, "admin/webhooks/recovery/confirm.html", context)


def recovery_confirm(request):
    """GET ?send=… or ?webhook=…[&since=…]: the confirmation. POST (its form): the recovery is created."""
    _require(request, REDELIVER_PERMISSION)
    if request.method == "POST":
        try:
            criteria = json.loads(request.POST.get("criteria") or "{}")
            if not isinstance(criteria, dict):
                raise ValueError
        except ValueError:
            messages.error(request, gettext("The request was not understood; nothing was sent again."))
            return redirect(reverse("admin:webhooks_delivery_changelist"))
        try:
            recovery = services.recovery_create(kind=request.POST.get("kind", ""), criteria=criteria, user=request.user)
        except HubError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect(reverse("admin:webhooks_delivery_changelist"))
        messages.success(
            request,
            gettext("Bulk recover #%(id)s started: %(total)s deliveries will be sent again.")
            % {"id": recovery.pk, "total": recovery.total},
        )
        return redirect(reverse("admin:webhooks_recovery_changelist"))
    if request.GET.get("send", "").isdigit():
        send = get_object_or_404(GroupSend, pk=int(request.GET["send"]))
        return confirmation(
            request,
            kind=Recovery.Kind.SEND,
            criteria={"send_id": send.pk},
            back_url=reverse("admin:webhooks_groupsend_changelist"),
        )
    if request.GET.get("webhook", "").isdigit():
        webhook = get_object_or_404(Webhook, pk=int(request.GET["webhook"]))
        back = reverse("admin:webhooks_webhook_change", args=[webhook.pk])
        yesterday = timezone.localtime(timezone.now() - timedelta(days=1)).replace(second=0, microsecond=0)
        form = SinceForm(request.GET if "since" in request.GET else None, initial={"since": yesterday})
        if not form.is_valid():
            return confirmation(request, kind=Recovery.Kind.WEBHOOK, criteria={}, back_url=back, since_form=form)
        criteria = {"webhook_id": webhook.pk, "since": form.cleaned_data["since"].isoformat()}
        return confirmation(request, kind=Recovery.Kind.WEBHOOK, criteria=criteria, back_url=back)
    return redirect(reverse("admin:webhooks_delivery_changelist"))


def _list_filters(params) -> dict | None:
    """The deliveries list's filters as a recovery's criteria; None when one cannot be carried over."""
    mapping = {
        "webhook__id__exact": "webhook_id",
        "status__exact": "status",
        "event__exact": "event",
        "send": "send_id",
        "customer": "customer",
        "created_at__gte": "created_after",
        "created_at__lt": "created_before",
    }
    criteria: dict = {}
    for key, value in params.items():
        if key in _LIST_PARAMS and (key != "q" or not value):
            continue
        if key not in mapping:
            return None
        if key in ("created_at__gte", "created_at__lt"):
            day = parse_date(value[:10])
            if day is None:
                return None
            value = timezone.make_aware(datetime.combine(day, datetime.min.time())).isoformat()
        if key == "send":
            value = value.strip().lstrip("#")
            if not value.isdigit():
                return None
        criteria[mapping[key]] = int(value) if key in ("webhook__id__exact", "send") else value
    return criteria


def action_confirmation(model_admin, request, queryset):
    """The deliveries list's action: the selection, or with "select all" every delivery matching the filters."""
    back = reverse("admin:webhooks_delivery_changelist") + (f"?{request.GET.urlencode()}" if request.GET else "")
    ids = list(queryset.values_list("pk", flat=True)[: recoveries.MAX_IDS + 1])
    if len(ids) <= recoveries.MAX_IDS:
        return confirmation(request, kind=Recovery.Kind.SELECTION, criteria={"ids": ids}, back_url=back)
    criteria = _list_filters(request.GET)
    if criteria is not None:
        try:
            named = recoveries.deliveries_named(
                kind=Recovery.Kind.FILTER,
                criteria=recoveries.criteria_clean(kind=Recovery.Kind.FILTER, criteria=criteria),
            )
        except HubError:
            criteria = None
        else:
            # The recovery re-reads its filters later: they must name exactly what the list shows.
            if named.count() != queryset.count():
                criteria = None
    if criteria is None:
        model_admin.message_user(
            request,
            gettext(
                "More than %(max)s deliveries, and these filters cannot be carried over to a bulk recover: "
                "filter by webhook, status, event, group send, customer or date."
            )
            % {"max": recoveries.MAX_IDS},
            messages.ERROR,
        )
        return None
    return confirmation(request, kind=Recovery.Kind.FILTER, criteria=criteria, back_url=back)


def send_recover_link(send: GroupSend) -> str:
    """On a finished send's row: its failed and cancelled deliveries, sent again (with a confirmation first)."""
    progress = getattr(send, "progress", None) or {}
    if not (progress.get("failed") or progress.get("cancelled")):
        return ""
    return format_html(
        '<a class="button" data-send-recover="{}" href="{}?send={}">{}</a>',
        send.pk,
        reverse("admin:webhooks_recovery_confirm"),
        send.pk,
        gettext("Redeliver failed and cancelled"),
    )


def webhook_recover_url(webhook: Webhook, user) -> str:
    if not user.has_perm(REDELIVER_PERMISSION):
        return ""
    return f"{reverse('admin:webhooks_recovery_confirm')}?webhook={webhook.pk}"


# --- The recoveries list ---------------------------------------------------------------------------


class RecoveryChangeList(ChangeList):
    def get_results(self, request):
        super().get_results(request)
        recoveries.recoveries_with_progress(self.result_list)


@admin.register(Recovery)
class RecoveryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    deletable = False
    list_display = (
        "what",
        "created_by",
        "status_label",
        "progress_bar",
        "counts",
        "times",
        "actions_column",
    )
    list_display_links = ("what",)
    list_filter = ("status", "kind")
    list_select_related = ("created_by",)
    fields = (
        "what",
        "status_label",
        "created_by",
        "created_at",
        "finished_at",
        "stopped_by",
        "total",
        "skipped",
        "moved",
        "progress_bar",
    )
    readonly_fields = fields
    show_full_result_count = False
    live_columns = ("status_label", "progress_bar", "counts", "times", "actions_column")

    class Media:
        js = ("webhooks/recoveries.js",)
        css = {"all": ("webhooks/admin.css", "webhooks/recoveries.css")}

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm(VIEW_PERMISSION)

    def has_module_permission(self, request):
        return request.user.has_perm(VIEW_PERMISSION)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("confirm/", wrap(recovery_confirm), name="webhooks_recovery_confirm"),
            path("status/", wrap(self.status_view), name="webhooks_recovery_status"),
            path("<int:pk>/stop/", wrap(self.stop_view), name="webhooks_recovery_stop"),
            *super().get_urls(),
        ]

    def get_changelist(self, request, **kwargs):
        return RecoveryChangeList

    def get_list_display(self, request):
        if request.user.has_perm(REDELIVER_PERMISSION):
            return self.list_display
        return [name for name in self.list_display if name != "actions_column"]

    @admin.display(description=_("what"), ordering="id")
    def what(self, obj):
        # Its number first: the messages and the Open API name a bulk recover by it.
        return f"#{obj.pk} {describe(obj)}"

    @admin.display(description=_("status"), ordering="status")
    def status_label(self, obj):
        return format_html(
            '<span data-recovery-status="{}" data-status="{}">{}</span>',
            obj.pk,
            obj.status,
            render_to_string("webhooks/status_badge.html", {"value": obj.status, "label": obj.get_status_display()}),
        )

    @admin.display(description=_("progress"))
    def progress_bar(self, obj):
        if getattr(obj, "progress", None) is None:
            recoveries.recoveries_with_progress([obj])
        # The group sends' bar: the same shape of progress.
        return render_to_string("admin/webhooks/groupsend/progress.html", {"send": obj, "progress": obj.progress})

    @admin.display(description=_("sent again"))
    def counts(self, obj):
        return format_html(
            '<span class="hub-recover-moved" title="{}">{}</span><br>'
            '<span class="hub-recover-skipped" title="{}">{}</span>',
            gettext("moved back to due / to send again"),
            gettext("%(moved)s of %(total)s queued again") % {"moved": obj.moved, "total": obj.total},
            gettext("skipped: already pending or being sent, succeeded, test sends, bodies no longer kept"),
            gettext("%(skipped)s skipped") % {"skipped": obj.skipped},
        )

    @admin.display(description=with_zone(_("time")), ordering="created_at")
    def times(self, obj):
        # Started and finished in one column, as the group sends list shows them (fits 1366 px).
        rows = [time_cell(obj.created_at, label=gettext("Started"))]
        if obj.finished_at:
            rows.append(time_cell(obj.finished_at, label=gettext("Finished")))
        return format_html(
            '<div class="hub-times">{}</div>',
            format_html_join("", '<div class="hub-time-row">{}</div>', ((t,) for t in rows)),
        )

    @admin.display(description=_("actions"))
    def actions_column(self, obj):
        if obj.status != Recovery.Status.RUNNING:
            return ""
        # A button of the changelist's own form (with its CSRF token): forms cannot nest.
        return format_html(
            '<button type="submit" class="button hub-cancel-button" data-recovery-stop="{}" formaction="{}"'
            ' data-confirm="{}">{}</button>',
            obj.pk,
            reverse("admin:webhooks_recovery_stop", args=[obj.pk]),
            gettext("Stop this bulk recover? Its deliveries not yet sent are cancelled."),
            gettext("Stop"),
        )

    def status_view(self, request):
        """Each polled recovery's live cells, rendered by the list's own column methods."""
        _require(request, VIEW_PERMISSION)
        ids = [part for part in request.GET.get("ids", "").split(",") if part.strip().isdigit()][:MAX_POLLED]
        columns = [name for name in self.get_list_display(request) if name in self.live_columns]
        rows = recoveries.recoveries_with_progress(Recovery.objects.filter(pk__in=ids))
        return JsonResponse(
            {
                "recoveries": [
                    {
                        "id": r.pk,
                        "status": r.status,
                        "cells": {name: str(getattr(self, name)(r)) for name in columns},
                    }
                    for r in rows
                ]
            }
        )

    def stop_view(self, request, pk):
        if request.method != "POST":
            raise PermissionDenied
        _require(request, REDELIVER_PERMISSION)
        recovery = get_object_or_404(Recovery, pk=pk)
        try:
            services.recovery_stop(recovery=recovery, user=request.user)
        except HubError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(
                request,
                gettext("Bulk recover #%(id)s is stopped; its deliveries not yet sent are cancelled.") % {"id": pk},
            )
        return redirect(reverse("admin:webhooks_recovery_changelist"))
