"""群发记录: the group sends list and page, read-only, with their progress, stop and results."""

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from webhookhub.admin_mixins import ReadOnlyAdminMixin
from webhookhub.roles import (
    CANCEL_PERMISSION,
)
from webhookhub.zones import zone_title
from webhooks import selectors
from webhooks.admin import recovery as recovery_admin
from webhooks.admin import views
from webhooks.admin.display import ADMIN_CSS, clip, send_links, status_badge, time_cell, with_zone
from webhooks.health import selectors as health_selectors
from webhooks.models import GroupSend


class GroupSendChangeList(ChangeList):
    def get_results(self, request):
        super().get_results(request)
        # One aggregate query for the whole page, not one per row.
        selectors.group_sends_with_progress(self.result_list)
        can_view = request.user.has_perm("webhooks.view_delivery")
        notes = health_selectors.paused_notes(webhooks={s.webhook for s in self.result_list}, user=request.user)
        for send in self.result_list:
            send.can_view_deliveries = can_view
            send.paused_note = notes.get(send.webhook_id)


@admin.register(GroupSend)
class GroupSendAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    # A send is created from a webhook's "Send message" dialog, never from a blank form; cancelling and
    # stopping are buttons gated by their own permission. The list fits a 1366-pixel screen with its
    # actions in view (admin_display.py): webhook and group share a cell, times wrap at their space.
    deletable = False
    list_display = (
        "id",
        "send_label",
        "sent_by",
        "status_label",
        "progress_bar",
        "run_times",
        "actions_column",
    )
    list_display_links = ("id",)
    list_filter = ("webhook", "status", ("scheduled_at", admin.DateFieldListFilter))
    list_select_related = ("webhook", "group", "created_by")
    readonly_fields = (
        "webhook",
        "group",
        "status",
        "scheduled_at",
        "total",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
        "cancelled_by",
        "time_zone",
        "progress_bar",
        "recover_link",
    )
    fields = readonly_fields
    show_full_result_count = False
    # The cells of a row that change while a send runs: the list's script polls them, rendered by the
    # methods below (views.group_sends_status), and puts them in place.
    live_columns = ("status_label", "progress_bar", "run_times", "actions_column")
    time_zone_in_headers = True  # the time column's header names the zone (templatetags/hub_time.py)

    class Media:
        js = ("webhooks/sends.js",)
        css = ADMIN_CSS

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("status/", wrap(views.group_sends_status), {"model_admin": self}, name="webhooks_groupsend_status"),
            path("<int:pk>/cancel/", wrap(views.group_send_cancel), name="webhooks_groupsend_cancel"),
            path("<int:pk>/results.csv", wrap(views.group_send_export), name="webhooks_groupsend_export"),
            *super().get_urls(),
        ]

    def get_changelist(self, request, **kwargs):
        return GroupSendChangeList

    def get_object(self, request, object_id, from_field=None):
        send = super().get_object(request, object_id, from_field)
        if send is not None:
            send.can_view_deliveries = request.user.has_perm("webhooks.view_delivery")
            send.paused_note = health_selectors.paused_notes(webhooks=[send.webhook], user=request.user).get(
                send.webhook_id
            )
        return send

    def changelist_view(self, request, extra_context=None):
        extra_context = dict(extra_context or {})
        extra_context["can_cancel"] = request.user.has_perm(CANCEL_PERMISSION)
        return super().changelist_view(request, extra_context)

    @admin.display(description=_("webhook → group"), ordering="webhook__name")
    def send_label(self, obj):
        return format_html(
            '{}<span class="hub-to">→ {}</span>',
            clip(obj.webhook, css="hub-clip-wide"),
            clip(obj.group, css="hub-clip-wide"),
        )

    @admin.display(description=_("sent by"), ordering="created_by__username")
    def sent_by(self, obj):
        return clip(obj.created_by, css="hub-clip-narrow") if obj.created_by_id else "—"

    @admin.display(description=_("time zone"))
    def time_zone(self, obj):
        return zone_title()

    @admin.display(description=_("status"), ordering="status")
    def status_label(self, obj):
        return format_html(
            '<span data-send-status="{}">{}</span>', obj.pk, status_badge(obj.status, obj.get_status_display())
        )

    @admin.display(description=_("progress"))
    def progress_bar(self, obj):
        if getattr(obj, "progress", None) is None:
            selectors.group_sends_with_progress([obj])
        links = send_links(obj) if getattr(obj, "can_view_deliveries", False) else None
        # A send that waits on a paused webhook says so, and why, where its progress stands still.
        note = (
            getattr(obj, "paused_note", None)
            if obj.status in (GroupSend.Status.SCHEDULED, GroupSend.Status.SENDING)
            else None
        )
        return render_to_string(
            "admin/webhooks/groupsend/progress.html",
            {"send": obj, "progress": obj.progress, "links": links, "paused_note": note},
        )

    @admin.display(description=_("send again"))
    def recover_link(self, obj):
        if getattr(obj, "progress", None) is None:
            selectors.group_sends_with_progress([obj])
        return recovery_admin.send_recover_link(obj) or "—"

    @admin.display(description=with_zone(_("time")), ordering="scheduled_at")
    def run_times(self, obj):
        times = [
            time_cell(obj.started_at, label=gettext("Started"))
            if obj.started_at
            else time_cell(obj.scheduled_at, label=gettext("Scheduled")),
            time_cell(obj.finished_at, label=gettext("Finished")) if obj.finished_at else "",
        ]
        return format_html(
            '<div class="hub-times" data-send-times="{}">{}</div>',
            obj.pk,
            format_html_join("", '<div class="hub-time-row">{}</div>', ((t,) for t in times if t)),
        )

    @admin.display(description=_("actions"))
    def actions_column(self, obj):
        if obj.status not in (GroupSend.Status.SCHEDULED, GroupSend.Status.SENDING):
            return recovery_admin.send_recover_link(obj)
        label = gettext("Cancel") if obj.status == GroupSend.Status.SCHEDULED else gettext("Stop")
        question = (
            gettext("Cancel this scheduled send?")
            if obj.status == GroupSend.Status.SCHEDULED
            else gettext("Stop this send? Its deliveries not yet sent are cancelled.")
        )
        # A button of the changelist's own form (with its CSRF token): forms cannot nest.
        return format_html(
            '<button type="submit" class="button hub-cancel-button" data-send-cancel="{}" formaction="{}"'
            ' data-confirm="{}" data-requires-perm="cancel">{}</button>',
            obj.pk,
            reverse("admin:webhooks_groupsend_cancel", args=[obj.pk]),
            question,
            label,
        )

    def get_list_display(self, request):
        if request.user.has_perm(CANCEL_PERMISSION):
            return self.list_display
        return [name for name in self.list_display if name != "actions_column"]
