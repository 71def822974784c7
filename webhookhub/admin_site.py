"""The admin site of the hub: its name, the task-queue dashboard for administrators only (last in the menu)."""

from functools import wraps

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from .roles import is_administrator


class HubAdminSite(admin.AdminSite):
    site_header = _("WebhookHub")
    site_title = _("WebhookHub")
    index_title = _("Webhooks, customers and sends")

    def get_app_list(self, request, app_label=None):
        app_list = super().get_app_list(request, app_label)
        if app_label is None and is_administrator(request.user):
            # Last, not first: an operator's tool, after the marketers' own screens.
            url = reverse("django_rq:home")
            app_list.append(
                {
                    "name": _("Task queues"),
                    "app_label": "rq",
                    "app_url": url,
                    "has_module_perms": True,
                    "models": [
                        {
                            "name": _("Queues, workers and jobs (rq)"),
                            "object_name": "RqDashboard",
                            "perms": {"view": True},
                            "admin_url": url,
                            "add_url": None,
                            "view_only": True,
                        }
                    ],
                }
            )
        return app_list

    def get_urls(self):
        urls = super().get_urls()
        for index, pattern in enumerate(urls):
            if getattr(pattern, "name", None) == "view_on_site":
                urls[index] = path(
                    "r/<int:content_type_id>/<path:object_id>/", self.admin_view(view_on_site), name="view_on_site"
                )
        return urls


def view_on_site(request, content_type_id, object_id):
    """Django's "view on site" redirect, answering 404 for a model without a table (django-rq's Dashboard)."""
    from django.contrib.contenttypes.models import ContentType
    from django.contrib.contenttypes.views import shortcut

    content_type = ContentType.objects.filter(pk=content_type_id).first()
    model = content_type.model_class() if content_type else None
    if model is None or not model._meta.managed:
        raise Http404
    return shortcut(request, content_type_id, object_id)


class HubAdminConfig(AdminConfig):
    default_site = "webhookhub.admin_site.HubAdminSite"


def administrators_only(view):
    """An admin view open to Administrators (the role, or a superuser); 403 for other staff."""

    @wraps(view)
    def checked(request, *args, **kwargs):
        if not is_administrator(request.user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return admin.site.admin_view(checked)
