from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy as _
from django.views.generic import RedirectView

# The admin is the product's own interface: its name, not Django's, in the header and title.
admin.site.site_header = _("WebhookHub")
admin.site.site_title = _("WebhookHub")
admin.site.index_title = _("Webhooks, customers and sends")

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/rq/", include("django_rq.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("api.urls")),
    path("p/", include("automation.urls")),
]
