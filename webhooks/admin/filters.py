"""The lists' own filters: typed values (a group send, a customer) and HTTP status classes."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from webhooks import selectors


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
