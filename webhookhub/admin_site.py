"""The admin site of the hub: its name, its index and sidebar in a marketer's order (DM Hub's words), the
task-queue dashboard for administrators only (last, under System)."""

from functools import wraps

from axes.apps import AppConfig as AxesAppConfig  # type: ignore[import-untyped]
from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from .roles import MARKETER, is_administrator


class HubAdminSite(admin.AdminSite):
    site_header = _("WebhookHub")
    site_title = _("WebhookHub")
    index_title = _("Webhooks, customers and sends")

    def get_app_list(self, request, app_label=None):
        app_list = super().get_app_list(request, app_label)
        if app_label is not None:
            return app_list
        return sections_of(app_list, rq_dashboard=_rq_dashboard() if is_administrator(request.user) else None)

    def index(self, request, extra_context=None):
        # What needs a look today instead of Django's "recent actions" box (templates/admin/index.html).
        from webhooks.selectors import day_overview

        context = {
            "today": day_overview(),
            "is_administrator": is_administrator(request.user),
            "is_marketer": request.user.groups.filter(name=MARKETER).exists(),
            "can_add_webhook": request.user.has_perm("webhooks.add_webhook"),
            **(extra_context or {}),
        }
        return super().index(request, context)

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


# The index and the sidebar, as a marketer who used DM Hub looks for things: the webhooks first (DM Hub's
# 设置 › Webhook), then what was sent, the customers, micro-pages and flows, the Open API, and the system
# last. Each entry is (section key, name, [(app label, model name), ...]).
SECTIONS = (
    (
        "webhook-settings",
        _("Webhook settings"),
        [("webhooks", "Webhook"), ("webhooks", "OutboundProxy"), ("webhooks", "PrivateCA")],
    ),
    (
        "sending-records",
        _("Sending records"),
        [("webhooks", "GroupSend"), ("webhooks", "Delivery"), ("webhooks", "Recovery")],
    ),
    (
        "customers",
        _("Customers and loyalty"),
        [
            ("customers", "Customer"),
            ("customers", "Group"),
            ("customers", "Member"),
            ("customers", "MembershipLevel"),
            ("customers", "Coupon"),
            ("customers", "CouponCode"),
        ],
    ),
    (
        "automation",
        _("Micro-pages and automation"),
        [("automation", "MicroPage"), ("automation", "Submission"), ("automation", "Flow"), ("automation", "FlowRun")],
    ),
    ("api", _("Open API"), [("api", "ApiKey")]),
    # Administrators only (alerts/admin.py): where a failing webhook is announced, and what was announced.
    ("alerts", _("Alerts"), [("alerts", "Channel"), ("alerts", "Alert")]),
)
# The login guard's records (django-axes) sit with the users: where an Administrator clears a lock.
SYSTEM = (
    "system",
    _("System"),
    [
        ("auth", "User"),
        ("auth", "Group"),
        ("axes", "AccessAttempt"),
        ("axes", "AccessFailureLog"),
        ("axes", "AccessLog"),
    ],
)


def sections_of(app_list: list[dict], *, rq_dashboard: dict | None) -> list[dict]:
    """Django's app list regrouped into SECTIONS; a model no section names keeps its own app's entry,
    after the sections and before System (an app added later shows up without being forgotten)."""
    models = {(app["app_label"], model["object_name"]): (app, model) for app in app_list for model in app["models"]}
    named = {member for _key, _name, members in (*SECTIONS, SYSTEM) for member in members}
    result = []
    for key, name, members in (*SECTIONS, SYSTEM):
        if key == SYSTEM[0]:
            result.extend(_apps_left(app_list, named))
        found = [models[member] for member in members if member in models]
        entries = [model for _app, model in found]
        if key == SYSTEM[0] and rq_dashboard is not None:
            entries.append(rq_dashboard)
        if not entries:
            continue
        first_app = found[0][0] if found else None
        result.append(
            {
                "name": name,
                "app_label": key,
                "app_url": first_app["app_url"] if first_app else entries[0]["admin_url"],
                "has_module_perms": True,
                "models": entries,
            }
        )
    return result


def _apps_left(app_list: list[dict], named: set[tuple[str, str]]) -> list[dict]:
    left = []
    for app in app_list:
        models = [model for model in app["models"] if (app["app_label"], model["object_name"]) not in named]
        if models:
            left.append({**app, "models": models})
    return left


def _rq_dashboard() -> dict:
    url = reverse("django_rq:home")
    return {
        "name": _("Queues, workers and jobs (rq)"),
        "object_name": "RqDashboard",
        "perms": {"view": True},
        "admin_url": url,
        "add_url": None,
        "view_only": True,
    }


class HubAdminConfig(AdminConfig):
    default_site = "webhookhub.admin_site.HubAdminSite"


class LoginGuardConfig(AxesAppConfig):
    """django-axes under a name people read (the library calls itself "Axes"). Here, named in
    INSTALLED_APPS, rather than in webhookhub/apps.py, whose one AppConfig Django finds by itself."""

    verbose_name = _("Login guard")


def administrators_only(view):
    """An admin view open to Administrators (the role, or a superuser); 403 for other staff."""

    @wraps(view)
    def checked(request, *args, **kwargs):
        if not is_administrator(request.user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return admin.site.admin_view(checked)


def permission_denied(request, exception=None):
    """The 403 page: what the person tried is not for their role, said in their language, with whom to ask.

    Django's own answer is a bare "403 Forbidden"; a marketer who followed a link must know what to do next.
    """
    from django.template.response import TemplateResponse

    context = {
        **(admin.site.each_context(request) if request.path.startswith("/admin/") else {}),
        "title": _("This is not open to your role"),
    }
    response = TemplateResponse(request, "403.html", context, status=403)
    return response.render()
