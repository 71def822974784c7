from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from . import monitoring, rq_dashboard

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/rq/", include((rq_dashboard.urlpatterns(), "django_rq"))),
    path("admin/", admin.site.urls),
    path("api/v1/", include("api.urls")),
    path("p/", include("automation.urls")),
    path("metrics", monitoring.metrics_view, name="metrics"),
    path("healthz", monitoring.healthz_view, name="healthz"),
]
