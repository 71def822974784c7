from django.contrib import admin
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from . import monitoring, rq_dashboard

# A friendly page with whom to ask, instead of Django's bare "403 Forbidden".
handler403 = "webhookhub.admin_site.permission_denied"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    # Browsers ask for /favicon.ico on pages that name none (a JSON answer, a download).
    path("favicon.ico", lambda request: redirect(static("webhookhub/favicon.svg")), name="favicon"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/rq/", include((rq_dashboard.urlpatterns(), "django_rq"))),
    path("admin/", admin.site.urls),
    path("api/v1/", include("api.urls")),
    path("p/", include("automation.urls")),
    path("metrics", monitoring.metrics_view, name="metrics"),
    path("healthz", monitoring.healthz_view, name="healthz"),
]
