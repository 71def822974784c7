"""Alert channels and the alerts sent: administrators only (marketers neither see nor change them)."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from webhookhub.admin_mixins import ReadOnlyAdminMixin
from webhookhub.roles import is_administrator
from webhooks.models import Webhook
from webhooks.secrets import MASK

from . import services
from .forms import ChannelForm
from .models import Alert, Channel
from .robots import masked_url


class AdministratorsOnly(admin.ModelAdmin):
    """Robot URLs and the team's addresses are an administrator's business: hidden from every other role."""

    def has_module_permission(self, request):
        return is_administrator(request.user) and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return is_administrator(request.user) and super().has_view_permission(request, obj)

    def has_add_permission(self, request):
        return is_administrator(request.user) and super().has_add_permission(request)

    def has_change_permission(self, request, obj=None):
        return is_administrator(request.user) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return is_administrator(request.user) and super().has_delete_permission(request, obj)


def _answer_summary(alert: Alert) -> str:
    status = alert.response_status if alert.response_status is not None else "—"
    body = Truncator(alert.response_body or alert.error or "").chars(400)
    return gettext("%(status)s · answer %(answer_status)s: %(body)s") % {
        "status": alert.get_status_display(),
        "answer_status": status,
        "body": body,
    }


def _tell(request, channel: Channel, alert: Alert) -> None:
    text = gettext("Test alert through “%(channel)s”: %(summary)s") % {
        "channel": channel.name,
        "summary": _answer_summary(alert),
    }
    if alert.status == Alert.Status.SENT:
        messages.success(request, text)
    else:
        messages.error(request, text + (f" — {alert.error}" if alert.error and alert.response_body else ""))


@admin.register(Channel)
class ChannelAdmin(AdministratorsOnly):
    form = ChannelForm
    change_form_template = "admin/alerts/channel/change_form.html"
    list_display = ("name", "kind", "is_active", "robot_url", "coverage", "alert_kinds", "last_alert")
    list_filter = ("kind", "is_active")
    search_fields = ("name",)
    filter_horizontal = ("webhooks",)
    actions = ["send_test_alerts"]
    readonly_fields = ("robot_url",)

    class Media:
        js = ("alerts/channel_form.js",)

    fieldsets = (
        (None, {"fields": ("name", "kind", "is_active")}),
        (_("Group robot"), {"fields": ("robot_url", "url", "secret", "message_format"), "classes": ("alerts-robot",)}),
        (_("Email"), {"fields": ("recipients",), "classes": ("alerts-email",)}),
        (_("What it covers"), {"fields": ("all_webhooks", "webhooks", "on_failing", "on_paused", "on_recovered")}),
    )

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            # A new channel has no stored URL to show masked.
            return [
                (name, {**opts, "fields": [f for f in opts["fields"] if f != "robot_url"]}) for name, opts in fieldsets
            ]
        return fieldsets

    @admin.display(description=_("stored robot URL (key hidden)"))
    def robot_url(self, obj):
        if not obj.is_robot or not obj.url:
            return "—"
        if obj.url.is_undecryptable:
            return MASK
        return masked_url(obj.url.reveal())

    @admin.display(description=_("covers"))
    def coverage(self, obj):
        if obj.all_webhooks:
            return gettext("all webhooks")
        return ", ".join(w.name for w in obj.webhooks.all()[:5]) + (" …" if obj.webhooks.count() > 5 else "")

    @admin.display(description=_("alerts on"))
    def alert_kinds(self, obj):
        names = [
            label
            for on, label in (
                (obj.on_failing, Alert.Kind.FAILING.label),
                (obj.on_paused, Alert.Kind.PAUSED.label),
                (obj.on_recovered, Alert.Kind.RECOVERED.label),
            )
            if on
        ]
        return ", ".join(str(name) for name in names)

    @admin.display(description=_("latest alert"))
    def last_alert(self, obj):
        alert = obj.alerts.order_by("-created_at", "-pk").first()
        if alert is None:
            return "—"
        url = reverse("admin:alerts_alert_changelist") + f"?channel__id__exact={obj.pk}"
        return format_html(
            '<a href="{}" data-alert-status="{}">{} · {}</a>',
            url,
            alert.status,
            alert.get_kind_display(),
            alert.get_status_display(),
        )

    def get_urls(self):
        return [
            path(
                "<path:object_id>/test-alert/",
                self.admin_site.admin_view(self.test_alert_view),
                name="alerts_channel_test_alert",
            ),
            *super().get_urls(),
        ]

    def test_alert_view(self, request, object_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        channel = get_object_or_404(Channel, pk=object_id)
        if not self.has_change_permission(request, channel):
            raise PermissionDenied
        _tell(request, channel, services.channel_test_send(channel=channel))
        return HttpResponseRedirect(reverse("admin:alerts_channel_change", args=[channel.pk]))

    @admin.action(description=_("Send a test alert"), permissions=["change"])
    def send_test_alerts(self, request, queryset):
        for channel in queryset.order_by("pk"):
            _tell(request, channel, services.channel_test_send(channel=channel))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        channel = self.get_object(request, object_id)
        if channel is not None and self.has_change_permission(request, channel):
            extra_context["test_alert_url"] = reverse("admin:alerts_channel_test_alert", args=[channel.pk])
        return super().change_view(request, object_id, form_url, extra_context)


class WebhookFilter(admin.SimpleListFilter):
    title = _("webhook")
    parameter_name = "webhook"

    def lookups(self, request, model_admin):
        ids = Alert.objects.exclude(webhook=None).values_list("webhook_id", flat=True).distinct()
        return [(str(w.pk), w.name) for w in Webhook.objects.filter(pk__in=ids).order_by("name")]

    def queryset(self, request, queryset):
        return queryset.filter(webhook_id=self.value()) if self.value() else queryset


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdminMixin, AdministratorsOnly):
    deletable = False
    list_display = (
        "created_at",
        "channel",
        "kind",
        "webhook_link",
        "incident_id",
        "status_label",
        "tries",
        "response_status",
        "answer",
        "error_short",
    )
    list_filter = ("status", "kind", "channel", WebhookFilter, "created_at")
    search_fields = ("webhook_name", "channel__name")
    list_select_related = ("channel",)
    date_hierarchy = "created_at"
    fields = (
        "created_at",
        "channel",
        "kind",
        "webhook_link",
        "incident_id",
        "facts",
        "status",
        "tries",
        "next_attempt_at",
        "sent_at",
        "response_status",
        "response_body",
        "error",
    )
    readonly_fields = fields

    def get_search_results(self, request, queryset, search_term):
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if search_term.isdigit():
            queryset |= self.model.objects.filter(Q(incident_id=int(search_term)) | Q(pk=int(search_term)))
        return queryset, may_have_duplicates

    @admin.display(description=_("webhook"), ordering="webhook_name")
    def webhook_link(self, obj):
        if obj.webhook_id is None:
            return obj.webhook_name or "—"
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:webhooks_webhook_change", args=[obj.webhook_id]), obj.webhook_name
        )

    @admin.display(description=_("status"), ordering="status")
    def status_label(self, obj):
        return format_html('<span data-alert-status="{}">{}</span>', obj.status, obj.get_status_display())

    @admin.display(description=_("answer"))
    def answer(self, obj):
        return Truncator(obj.response_body).chars(120)

    @admin.display(description=_("error"))
    def error_short(self, obj):
        return Truncator(obj.error).chars(120)
