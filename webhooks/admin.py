from django.contrib import admin
from django.db.models import OuterRef, Subquery
from django.utils.translation import gettext_lazy as _

from .forms import WebhookForm
from .models import Attempt, Delivery, Send, Webhook


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    form = WebhookForm
    list_display = ("name", "url", "trigger", "is_active", "last_delivery_status")
    list_filter = ("is_active", "trigger_type", "event", "auth_type")
    search_fields = ("name", "url")
    fieldsets = (
        (None, {"fields": ("name", "url", "is_active", "auto_retry")}),
        (_("Authentication"), {"fields": ("auth_type",)}),
        (_("Secret key"), {"fields": ("secret_key",), "classes": ("auth-secret",)}),
        (_("Basic authentication"), {"fields": ("basic_username", "basic_password"), "classes": ("auth-basic",)}),
        (_("OAuth2"), {"fields": ("oauth_token_url", "oauth_app_id", "oauth_app_secret"), "classes": ("auth-oauth2",)}),
        (_("Trigger"), {"fields": ("trigger_type",)}),
        (_("Message"), {"fields": ("message_type", "body_template", "empty_text"), "classes": ("trigger-non_fixed",)}),
        (_("Fixed event"), {"fields": ("event",), "classes": ("trigger-fixed",)}),
        (_("Connection"), {"fields": ("verify_ssl", "connect_timeout", "read_timeout"), "classes": ("collapse",)}),
    )

    class Media:
        js = ("webhooks/webhook_form.js",)

    def get_queryset(self, request):
        last = Delivery.objects.filter(webhook=OuterRef("pk")).order_by("-created_at")
        return super().get_queryset(request).annotate(last_status=Subquery(last.values("status")[:1]))

    @admin.display(description=_("trigger"), ordering="trigger_type")
    def trigger(self, obj):
        return obj.trigger_label

    @admin.display(description=_("last delivery"))
    def last_delivery_status(self, obj):
        return Delivery.Status(obj.last_status).label if obj.last_status else "—"


class AttemptInline(admin.StackedInline):
    model = Attempt
    extra = 0
    can_delete = False
    readonly_fields = [f.name for f in Attempt._meta.fields if f.name != "id"]
    fields = readonly_fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ("id", "webhook", "event", "customer", "status", "attempt_count", "next_attempt_at", "created_at")
    list_filter = ("status", "event", "webhook")
    search_fields = ("id",)
    list_select_related = ("webhook", "customer")
    raw_id_fields = ("message", "customer")
    readonly_fields = [f.name for f in Delivery._meta.fields]
    inlines = [AttemptInline]
    date_hierarchy = "created_at"
    show_full_result_count = False

    def has_add_permission(self, request):
        return False


@admin.register(Send)
class SendAdmin(admin.ModelAdmin):
    list_display = ("id", "webhook", "group", "created_by", "scheduled_at", "status", "total", "started_at",
                    "finished_at")
    list_filter = ("status", "webhook")
    list_select_related = ("webhook", "group", "created_by")
    readonly_fields = ("status", "total", "started_at", "finished_at", "created_by", "cancelled_by")
