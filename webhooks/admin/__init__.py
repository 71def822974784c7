from collections.abc import Sequence
from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import Http404, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.functional import Promise, cached_property
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.i18n import JavaScriptCatalog

from webhookhub.admin_mixins import ReadOnlyAdminMixin
from webhookhub.errors import HubError
from webhookhub.roles import (
    CANCEL_PERMISSION,
    REDELIVER_PERMISSION,
    SEND_PERMISSION,
    can_manage_secrets,
    is_administrator,
)
from webhookhub.zones import zone_title
from webhooks import selectors
from webhooks.admin import connection_views as check_views
from webhooks.admin import recovery as recovery_admin
from webhooks.admin import views
from webhooks.admin.display import clip, send_links, time_cell, with_zone
from webhooks.content.body_fields import picker_catalogue, starter_for_use
from webhooks.content.failures import failure_text
from webhooks.forms import (
    ADMINISTRATOR_FIELDS,
    ROTATION_FIELDS,
    SECRET_FIELDS,
    OutboundProxyForm,
    SecretRotateForm,
    WebhookForm,
)
from webhooks.health import selectors as health_selectors
from webhooks.health import views as health_views
from webhooks.models import Delivery, GroupSend, OutboundProxy, PrivateCA, Webhook
from webhooks.services import retention
from webhooks.services.webhook_config import webhook_rotation_end, webhook_save, webhook_standard_secret_rotate

ADMIN_CSS: dict[str, Sequence[str]] = {"all": ("webhooks/admin.css",)}


def status_badge(value: str, label: str | Promise):
    return render_to_string("webhooks/status_badge.html", {"value": value, "label": label})


class CappedPaginator(Paginator):
    """Counts at most CAP rows of a filtered list; beyond, the list says "more than CAP".

    Counting a million deliveries by HTTP status (and webhook) read every matching index entry: seconds
    (bench/lists.py). Counting up to CAP + 1 without an ORDER BY stops early; a filter narrows the rest.
    """

    CAP = 10_000

    @cached_property
    def count(self) -> int:
        queryset: QuerySet = self.object_list  # type: ignore[assignment]  # the admin pages a queryset
        counted = queryset.order_by()[: self.CAP + 1].count()
        self.capped = counted > self.CAP
        return min(counted, self.CAP)


class InputFilter(admin.SimpleListFilter):
    """A filter typed into a box: for choices too many to list (100,000 customers, every send)."""

    template = "admin/webhooks/input_filter.html"

    def lookups(self, request, model_admin):
        # One dummy choice, so that the admin shows the filter at all.
        return ((None, None),)

    def choices(self, changelist):
        yield {
            "value": self.value() or "",
            "parameter_name": self.parameter_name,
            "other_params": [
                (key, value) for key, value in changelist.get_filters_params().items() if key != self.parameter_name
            ],
        }


class GroupSendFilter(InputFilter):
    title = _("group send")
    parameter_name = "send"

    def queryset(self, request, queryset):
        value = (self.value() or "").strip().lstrip("#")
        return selectors.deliveries_of_send(queryset, int(value)) if value.isdigit() else queryset


class CustomerFilter(InputFilter):
    title = _("customer (ID or mobile)")
    parameter_name = "customer"

    def queryset(self, request, queryset):
        return selectors.deliveries_of_customer(queryset, self.value() or "")


# --- Webhooks -------------------------------------------------------------------------------------


class WebhookChangeList(ChangeList):
    def get_results(self, request):
        super().get_results(request)
        notes = health_selectors.paused_notes(webhooks=self.result_list, user=request.user)
        for webhook in self.result_list:
            webhook.paused_note = notes.get(webhook.pk)


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    form = WebhookForm
    list_display = ("name", "url", "trigger", "is_active", "health_column", "last_delivery_status", "send_action")
    list_filter = ("is_active", "trigger_type", "event", "auth_type")
    search_fields = ("name", "url")
    change_form_template = "admin/webhooks/webhook/change_form.html"
    fieldsets = (
        (None, {"fields": ("name", "url", "is_active", "auto_retry")}),
        (_("Authentication"), {"fields": ("auth_type",)}),
        (
            _("Secret key"),
            {
                "fields": ("secret_key", "keep_previous_signature", "previous_signature_hours"),
                "classes": ("auth-secret",),
            },
        ),
        (_("Basic authentication"), {"fields": ("basic_username", "basic_password"), "classes": ("auth-basic",)}),
        (_("OAuth2"), {"fields": ("oauth_token_url", "oauth_app_id", "oauth_app_secret"), "classes": ("auth-oauth2",)}),
        (_("Trigger"), {"fields": ("trigger_type",)}),
        (_("Message"), {"fields": ("message_type", "body_template", "empty_text"), "classes": ("trigger-non_fixed",)}),
        (_("Fixed event"), {"fields": ("event",), "classes": ("trigger-fixed",)}),
        (_("Standard Webhooks"), {"fields": ("standard_webhooks",)}),
        (
            _("Retries and pausing"),
            {
                "fields": (
                    "retry_policy",
                    "retry_delays",
                    "autopause",
                    "autopause_hours",
                    "autopause_failures",
                    "alert_after_failures",
                ),
                "classes": ("hub-retry-fields",),
            },
        ),
        (
            _("Connection"),
            {
                "fields": ("verify_ssl", "connect_timeout", "read_timeout", "max_concurrency", "rate_limit"),
                "classes": ("collapse",),
            },
        ),
        (
            _("Network, certificates and traces"),
            {
                "fields": (
                    "egress",
                    "proxy",
                    "private_ca",
                    "client_certificate_expiry",
                    "client_certificate",
                    "client_key",
                    "send_traceparent",
                ),
            },
        ),
    )
    readonly_fields = ("client_certificate_expiry",)

    @property
    def media(self):
        # Django's JavaScript catalog (djangojs) before the dialog's script, which reads its words from it.
        # The list page loads forms.css for the dialog in its template (change_list.html): loaded here
        # again, on the change page it would come after responsive.css and undo its rules.
        return super().media + forms.Media(
            js=[
                reverse("admin:webhooks_jsi18n"),
                "webhooks/webhook_form.js",
                "webhooks/send_dialog.js",
                "webhooks/connection_test.js",
            ],
            css=ADMIN_CSS,
        )

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path(
                "jsi18n/",
                wrap(JavaScriptCatalog.as_view(packages=["webhooks"]), cacheable=True),
                name="webhooks_jsi18n",
            ),
            path("<int:pk>/send/", wrap(views.send_dialog), {"model_admin": self}, name="webhooks_webhook_send"),
            path("<int:pk>/send/test/", wrap(views.test_send), name="webhooks_webhook_test_send"),
            path("<int:pk>/send/group/", wrap(views.group_send), name="webhooks_webhook_group_send"),
            path("<int:pk>/send/sample/", wrap(check_views.sample_event), name="webhooks_webhook_sample_event"),
            path(
                "<int:pk>/test-connection/",
                wrap(check_views.connection_test),
                name="webhooks_webhook_connection_test",
            ),
            path("preview/", wrap(views.template_preview), name="webhooks_webhook_preview"),
            path("template-check/", wrap(views.template_check_view), name="webhooks_webhook_template_check"),
            path("customer-search/", wrap(views.customer_search), name="webhooks_customer_search"),
            path("<int:pk>/standard-secret/rotate/", wrap(self.rotate_view), name="webhooks_webhook_secret_rotate"),
            path("<int:pk>/rotation/end/", wrap(self.rotation_end_view), name="webhooks_webhook_rotation_end"),
            path("<int:pk>/pause/", wrap(health_views.webhook_pause), name="webhooks_webhook_pause"),
            path("<int:pk>/resume/", wrap(health_views.webhook_resume), name="webhooks_webhook_resume"),
            path("retry-schedule/", wrap(health_views.retry_schedule), name="webhooks_webhook_retry_schedule"),
            *super().get_urls(),
        ]

    def get_queryset(self, request):
        last = Delivery.objects.filter(webhook=OuterRef("pk")).order_by("-created_at")
        return (
            super()
            .get_queryset(request)
            .select_related("health")
            .annotate(last_status=Subquery(last.values("status")[:1]))
        )

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        initial.setdefault("body_template", starter_for_use(request.GET.get("use")))
        return initial

    def get_fieldsets(self, request, obj=None):
        if not self.has_change_permission(request, obj):
            # Read-only: the retry delays are said in words by the retry schedule, not as raw seconds.
            return [
                (
                    name,
                    {
                        **options,
                        "fields": [
                            f for f in options["fields"] if f not in (*SECRET_FIELDS, *ROTATION_FIELDS, "retry_delays")
                        ],
                    },
                )
                for name, options in self.fieldsets
            ]
        if can_manage_secrets(request.user) and obj is not None:
            return self.fieldsets
        # A new webhook has no key to rotate; without the right to change webhooks a secret is neither
        # shown nor sent to the browser; a client certificate and its key are an Administrator's alone.
        hidden: tuple[str, ...] = (*SECRET_FIELDS, *ROTATION_FIELDS)
        if can_manage_secrets(request.user):
            hidden = () if obj is not None else ROTATION_FIELDS
        if not is_administrator(request.user):
            hidden = (*hidden, *ADMINISTRATOR_FIELDS)
        if not hidden:
            return self.fieldsets
        fieldsets = []
        for name, options in self.fieldsets:
            fields = [field for field in options["fields"] if field not in hidden]
            if fields:
                fieldsets.append((name, {**options, "fields": fields}))
        return fieldsets

    def get_list_display(self, request):
        if request.user.has_perm(SEND_PERMISSION):
            return self.list_display
        return [name for name in self.list_display if name != "send_action"]

    @admin.display(description=_("client certificate expires"))
    def client_certificate_expiry(self, obj):
        expires_at = obj.client_certificate_expires_at if obj else None
        if expires_at is None:
            return gettext("No client certificate.")
        left = expires_at - timezone.now()
        text = time_cell(expires_at)
        if left <= timedelta(days=settings.CLIENT_CERTIFICATE_WARNING_DAYS):
            warning = gettext("Ends in %(days)s days: upload the renewed certificate.") % {"days": max(0, left.days)}
            return format_html('{} <strong class="errornote hub-cert-expiring">{}</strong>', text, warning)
        return text

    @admin.display(description=_("trigger"), ordering="trigger_type")
    def trigger(self, obj):
        return obj.trigger_label

    def get_changelist(self, request, **kwargs):
        return WebhookChangeList

    @admin.display(description=_("health"))
    def health_column(self, obj):
        return render_to_string(
            "admin/webhooks/webhook/health_badge.html",
            {**health_selectors.health_state(obj), "note": getattr(obj, "paused_note", None)},
        )

    @admin.display(description=_("last delivery"))
    def last_delivery_status(self, obj):
        return status_badge(obj.last_status, Delivery.Status(obj.last_status).label) if obj.last_status else "—"

    @admin.display(description=_("send"))
    def send_action(self, obj):
        return send_button(obj)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        webhook = self.get_object(request, object_id)
        if webhook is not None:
            extra_context.update(
                webhook=webhook,
                send_button=send_button(webhook) if request.user.has_perm(SEND_PERMISSION) else "",
                stats=selectors.webhook_stats(webhook=webhook),
                recent_deliveries=selectors.webhook_recent_deliveries(webhook=webhook),
                retention=retention.policy(),
                can_preview=request.user.has_perm("customers.view_customer"),
                preview_search_url=reverse("admin:webhooks_customer_search"),
                security_warnings=selectors.webhook_security_warnings(webhook=webhook),
                history=webhook.history.all()[:20],
                can_manage_secrets=can_manage_secrets(request.user),
                connection_test_url=reverse("admin:webhooks_webhook_connection_test", args=[webhook.pk])
                if request.user.has_perm(check_views.CONNECTION_TEST_PERMISSION)
                else "",
                # The editor's helpers only where the body can be edited: none on a read-only page.
                body_help=picker_catalogue(webhook=webhook) if self.has_change_permission(request, webhook) else None,
                recover_url=recovery_admin.webhook_recover_url(webhook, request.user),
                health=health_selectors.webhook_health(webhook=webhook),
                can_pause=health_views.can_pause(request.user),
                pause_form=health_views.PauseForm(),
            )
        extra_context["retry_schedule"] = self._retry_schedule(webhook)
        return super().change_view(request, object_id, form_url, extra_context)

    @staticmethod
    def _retry_schedule(webhook):
        if webhook is None:
            return health_views.schedule_lines(kind="", delays=[], auto_retry=False)
        return health_views.schedule_lines(
            kind=webhook.retry_policy, delays=webhook.retry_delays, auto_retry=webhook.auto_retry
        )

    def save_model(self, request, obj, form, change):
        # Through the service: it generates the Standard Webhooks secret and records the history.
        overlap = form.previous_signature_overlap() if can_manage_secrets(request.user) else None
        _webhook, request._new_standard_secret = webhook_save(
            webhook=obj, actor=request.user, previous_signature_overlap=overlap
        )
        # Allowed, but not silently: the person saving it reads why it is risky.
        for warning in selectors.webhook_security_warnings(webhook=obj):
            self.message_user(request, warning, messages.WARNING)
        # A misspelt attribute renders as the empty text for ever: said at once, the save kept (the
        # attribute may be imported later, and the API saves through the same form without a dialog).
        for warning in form.body_template_warnings():
            self.message_user(request, warning, messages.WARNING)

    def _secret_page(self, request, webhook, secret: str, *, title: str):
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.opts,
            "original": webhook,
            "secret": secret,
        }
        response = TemplateResponse(request, "admin/webhooks/webhook/secret_created.html", context)
        add_never_cache_headers(response)
        return response

    def response_add(self, request, obj, post_url_continue=None):
        if getattr(request, "_new_standard_secret", ""):
            return self._secret_page(
                request, obj, request._new_standard_secret, title=gettext("Standard Webhooks secret")
            )
        return super().response_add(request, obj, post_url_continue)

    def response_change(self, request, obj):
        if getattr(request, "_new_standard_secret", ""):
            return self._secret_page(
                request, obj, request._new_standard_secret, title=gettext("Standard Webhooks secret")
            )
        return super().response_change(request, obj)

    def rotate_view(self, request, pk):
        webhook = get_object_or_404(Webhook, pk=pk)
        if not can_manage_secrets(request.user):
            raise PermissionDenied
        form = SecretRotateForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                webhook, secret = webhook_standard_secret_rotate(
                    webhook=webhook, overlap=timedelta(hours=form.cleaned_data["overlap_hours"]), actor=request.user
                )
            except HubError as exc:
                form.add_error(None, exc)
            else:
                return self._secret_page(request, webhook, secret, title=gettext("New Standard Webhooks secret"))
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Rotate the Standard Webhooks secret of “%(name)s”") % {"name": webhook},
            "opts": self.opts,
            "original": webhook,
            "form": form,
        }
        return TemplateResponse(request, "admin/webhooks/webhook/secret_rotate.html", context)

    def rotation_end_view(self, request, pk):
        webhook = get_object_or_404(Webhook, pk=pk)
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not can_manage_secrets(request.user):
            raise PermissionDenied
        try:
            webhook_rotation_end(webhook=webhook, actor=request.user)
        except HubError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, gettext("The overlap has ended: only the new secrets sign."))
        return redirect(reverse("admin:webhooks_webhook_change", args=[webhook.pk]))

    def add_view(self, request, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        extra_context["can_preview"] = request.user.has_perm("customers.view_customer")
        extra_context["preview_search_url"] = reverse("admin:webhooks_customer_search")
        extra_context["body_help"] = picker_catalogue()
        extra_context["retry_schedule"] = self._retry_schedule(None)
        return super().add_view(request, form_url, extra_context)


def send_button(webhook: Webhook):
    url = reverse("admin:webhooks_webhook_send", args=[webhook.pk])
    if webhook.is_fixed:
        # Sent on its event; the dialog sends a sample of that event for one member (webhooks/services/samples.py).
        return format_html(
            '<a class="button hub-send-button" href="{}" data-send-dialog="{}?fragment=1" data-webhook="{}"'
            ' data-fixed-event="1" title="{}">{}</a>',
            url,
            url,
            webhook.pk,
            gettext("A fixed-event webhook sends only when its loyalty event happens."),
            gettext("Send sample event"),
        )
    return format_html(
        '<a class="button hub-send-button" href="{}" data-send-dialog="{}?fragment=1" data-webhook="{}">{}</a>',
        url,
        url,
        webhook.pk,
        gettext("Send message"),
    )


# --- Group sends ----------------------------------------------------------------------------------


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


@admin.register(OutboundProxy)
class OutboundProxyAdmin(admin.ModelAdmin):
    """Proxies an Administrator sets up; Marketers see them (to choose one on a webhook), never the password."""

    form = OutboundProxyForm
    list_display = ("name", "url", "username", "webhook_count")
    fields = ("name", "url", "username", "password")

    @admin.display(description=_("webhooks"))
    def webhook_count(self, obj):
        return obj.webhooks.count()


@admin.register(PrivateCA)
class PrivateCAAdmin(admin.ModelAdmin):
    list_display = ("name", "webhook_count", "updated_at")
    fields = ("name", "bundle")

    @admin.display(description=_("webhooks"))
    def webhook_count(self, obj):
        return obj.webhooks.count()


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


# --- Deliveries -----------------------------------------------------------------------------------


class StatusClassFilter(admin.SimpleListFilter):
    title = _("HTTP status")
    parameter_name = "http"

    def lookups(self, request, model_admin):
        return (
            ("2xx", "2xx"),
            ("3xx", "3xx"),
            ("4xx", "4xx"),
            ("5xx", "5xx"),
            ("none", _("no answer")),
        )

    def queryset(self, request, queryset):
        return selectors.deliveries_of_status_class(queryset, self.value() or "")


class DeliveryChangeList(ChangeList):
    def get_results(self, request):
        super().get_results(request)
        notes = health_selectors.paused_notes(webhooks={d.webhook for d in self.result_list}, user=request.user)
        for delivery in self.result_list:
            delivery.paused_note = notes.get(delivery.webhook_id)


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    # Nothing of a delivery is edited by hand; the detail page is read-only (redeliver is a button).
    # The list fits a 1366-pixel screen (admin_display.py): long text cut with a title, times wrapping.
    deletable = False
    list_display = (
        "short_id",
        "webhook_cell",
        "event_cell",
        "customer_cell",
        "status_label",
        "attempts_cell",
        "http_cell",
        "created_cell",
    )
    list_display_links = ("short_id",)
    list_filter = (
        "webhook",
        "status",
        StatusClassFilter,
        "event",
        GroupSendFilter,
        CustomerFilter,
        ("created_at", admin.DateFieldListFilter),
    )
    search_fields = ("=id",)  # the search box; get_search_results does the searching
    search_help_text = _("Delivery ID (its first characters), customer name, WeChat nickname or mobile.")
    # message: its context says whether the delivery is a sample event.
    list_select_related = ("webhook", "customer", "message")
    show_full_result_count = False
    paginator = CappedPaginator
    list_per_page = 50
    time_zone_in_headers = True  # the time column's header names the zone (templatetags/hub_time.py)
    actions = ["recover_selected"]

    class Media:
        css = ADMIN_CSS

    def get_changelist(self, request, **kwargs):
        return DeliveryChangeList

    def get_search_results(self, request, queryset, search_term):
        queryset, cut = selectors.deliveries_search(queryset, search_term)
        if cut:
            self.message_user(
                request,
                gettext(
                    "More than %(count)s customers start with “%(text)s”: the deliveries of the first %(count)s "
                    "are shown. Type more of the name or mobile to narrow the search."
                )
                % {"count": selectors.SEARCH_CUSTOMERS, "text": search_term.strip()},
                messages.WARNING,
            )
        return queryset, False

    def get_queryset(self, request):
        # The list sorts rows it has not found by index: keep the bodies out of that sort.
        return super().get_queryset(request).defer("body", "last_error")

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<str:delivery_id>/result/", wrap(views.delivery_result), name="webhooks_delivery_result"),
            path("<str:delivery_id>/state/", wrap(views.delivery_state), name="webhooks_delivery_state"),
            path("<str:delivery_id>/redeliver/", wrap(views.delivery_redeliver), name="webhooks_delivery_redeliver"),
            *super().get_urls(),
        ]

    def has_redeliver_permission(self, request):
        return request.user.has_perm(REDELIVER_PERMISSION)

    @admin.action(description=_("Send again (bulk recover)…"), permissions=["redeliver"])
    def recover_selected(self, request, queryset):
        # Nothing happens here: the confirmation page says how many, of which webhooks, and asks.
        return recovery_admin.action_confirmation(self, request, queryset)

    @admin.display(description=_("ID"), ordering="id")
    def short_id(self, obj):
        return format_html('<code class="hub-id" title="{}">{}</code>', obj.pk, obj.pk[:8])

    @admin.display(description=_("webhook"), ordering="webhook_id")
    def webhook_cell(self, obj):
        return clip(obj.webhook, css="hub-clip-wide")

    @admin.display(description=_("event"), ordering="event")
    def event_cell(self, obj):
        cell = clip(obj.get_event_display(), title=f"{obj.get_event_display()} ({obj.event})")
        if selectors.delivery_is_sample(obj):
            return format_html('{} <span class="hub-sample-mark" data-sample="1">{}</span>', cell, gettext("sample"))
        return cell

    @admin.display(description=_("customer"), ordering="customer_id")
    def customer_cell(self, obj):
        customer = obj.customer
        if customer is None:
            return "—"
        return format_html(
            '{}<span class="hub-clip hub-muted hub-small">{}</span>', clip(customer.name), customer.mobile or ""
        )

    @admin.display(description=_("status"), ordering="status")
    def status_label(self, obj):
        note = getattr(obj, "paused_note", None)
        if obj.status in Delivery.WAITING_STATUSES and note:
            return render_to_string("webhooks/paused_cell.html", {"note": note})
        badge = status_badge(obj.status, obj.get_status_display())
        if obj.status in Delivery.WAITING_STATUSES and obj.next_attempt_at:
            return format_html(
                '{}<div class="hub-next">{}</div>', badge, time_cell(obj.next_attempt_at, label=gettext("next"))
            )
        return badge

    @admin.display(description=_("attempts"), ordering="attempt_count")
    def attempts_cell(self, obj):
        if not obj.retry_count:
            return str(obj.attempt_count)
        return format_html(
            '{} <span class="hub-muted hub-small" title="{}">↻{}</span>',
            obj.attempt_count,
            gettext("automatic retries"),
            obj.retry_count,
        )

    @admin.display(description=_("HTTP"), ordering="last_status_code")
    def http_cell(self, obj):
        code = str(obj.last_status_code) if obj.last_status_code else "—"
        if not obj.last_error_code:
            return code
        # Coded rows only: last_error is deferred (not read for the whole page); the delivery page shows it all.
        reason = failure_text(obj.last_error_code, obj.last_error_params)
        return format_html(
            '{}<span class="hub-clip hub-small hub-error-text" data-error-code="{}" title="{}">{}</span>',
            code,
            obj.last_error_code,
            reason,
            reason,
        )

    @admin.display(description=with_zone(_("created at")), ordering="created_at")
    def created_cell(self, obj):
        return time_cell(obj.created_at)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        delivery = (
            Delivery.objects.select_related("webhook", "customer", "message__group_send", "redeliver_requested_by")
            .filter(pk=object_id)
            .first()
        )
        if delivery is None:
            raise Http404
        if not self.has_view_permission(request, delivery):
            raise PermissionDenied
        result = selectors.delivery_result(delivery_id=delivery.pk)
        if result is None:  # deleted since the line above
            raise Http404
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Delivery %(id)s") % {"id": delivery.pk},
            "subtitle": None,
            "delivery": delivery,
            "send": delivery.message.group_send,
            "is_sample": selectors.delivery_is_sample(delivery),
            "attempts": result["attempts"],
            "status_badge": status_badge(delivery.status, delivery.get_status_display()),
            "paused_note": health_selectors.paused_notes(webhooks=[delivery.webhook], user=request.user).get(
                delivery.webhook_id
            )
            if delivery.status in Delivery.WAITING_STATUSES
            else None,
            "can_redeliver": request.user.has_perm(REDELIVER_PERMISSION),
            "bodies_days": settings.RETENTION_BODIES_DAYS,
            # The page follows a delivery about to be attempted (a redelivery waiting, or due now) and
            # reloads when its attempt is recorded.
            "watch": delivery.redeliver_requested_by_id is not None
            or delivery.status in (Delivery.Status.PENDING, Delivery.Status.SENDING),
            "zone_title": zone_title(),
            "has_view_permission": True,
            "media": self.media,
        }
        return TemplateResponse(request, "admin/webhooks/delivery/detail.html", context)
