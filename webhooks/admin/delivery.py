"""推送记录: every delivery, what was sent and answered attempt by attempt, and its redeliver button."""

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import Http404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from webhookhub.admin_mixins import ReadOnlyAdminMixin
from webhookhub.roles import (
    REDELIVER_PERMISSION,
)
from webhookhub.zones import zone_title
from webhooks import selectors
from webhooks.admin import recovery as recovery_admin
from webhooks.admin import views
from webhooks.admin.display import ADMIN_CSS, clip, status_badge, time_cell, with_zone
from webhooks.admin.filters import CustomerFilter, GroupSendFilter, StatusClassFilter
from webhooks.content.failures import failure_text
from webhooks.health import selectors as health_selectors
from webhooks.models import Delivery


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
