"""The ways out an Administrator sets up for the webhooks: outbound proxies and private CAs."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from webhooks.forms import (
    OutboundProxyForm,
)
from webhooks.models import OutboundProxy, PrivateCA


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
