from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Subquery
from django.http import HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.i18n import JavaScriptCatalog

from webhookhub.errors import HubError
from webhookhub.roles import (
    SEND_PERMISSION,
    can_manage_secrets,
    is_administrator,
)
from webhooks import selectors
from webhooks.admin import connection_views as check_views
from webhooks.admin import recovery as recovery_admin
from webhooks.admin import views
from webhooks.admin.display import ADMIN_CSS, status_badge, time_cell
from webhooks.content.body_fields import picker_catalogue, starter_for_use
from webhooks.forms import (
    ADMINISTRATOR_FIELDS,
    ROTATION_FIELDS,
    SECRET_FIELDS,
    SecretRotateForm,
    WebhookForm,
)
from webhooks.health import selectors as health_selectors
from webhooks.health import views as health_views
from webhooks.models import Delivery, Webhook
from webhooks.services import retention
from webhooks.services.webhook_config import webhook_rotation_end, webhook_save, webhook_standard_secret_rotate

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


# --- Deliveries -----------------------------------------------------------------------------------
