from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Count
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from .. import groups
from ..groups import ImportResult, group_customers_add, group_customers_remove, group_import_csv
from ..models import Customer, Group, GroupEntry, MembershipLevel
from ..services import customer_save
from ..uploads import LimitedUploadHandler
from ..validators import normalize_mobile
from ..widgets import AttributesField, KeyValueWidget


@admin.register(MembershipLevel)
class MembershipLevelAdmin(admin.ModelAdmin):
    list_display = ("name", "rank", "member_count")
    ordering = ("rank",)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(member_count=Count("members"))

    @admin.display(description=gettext_lazy("member count"), ordering="member_count")
    def member_count(self, obj):
        return obj.member_count


class CustomerAdminForm(forms.ModelForm):
    def clean_mobile(self):
        # Full-width digits typed on a Chinese keyboard become ASCII before the model validates them.
        return normalize_mobile(self.cleaned_data.get("mobile", ""))


class GroupChoiceForm(forms.Form):
    group = forms.ModelChoiceField(queryset=Group.objects.all(), label=gettext_lazy("group"))


class ActivityScoreFilter(admin.SimpleListFilter):
    title = gettext_lazy("activity score")
    parameter_name = "score"
    RANGES = {"0-99": (0, 99), "100-499": (100, 499), "500+": (500, None)}

    def lookups(self, request, model_admin):
        return [(key, key) for key in self.RANGES]

    def queryset(self, request, queryset):
        value = self.value()
        if value is None or value not in self.RANGES:
            return queryset
        low, high = self.RANGES[value]
        queryset = queryset.filter(activity_score__gte=low)
        return queryset.filter(activity_score__lte=high) if high is not None else queryset


class MemberFilter(admin.SimpleListFilter):
    title = gettext_lazy("member")
    parameter_name = "member"

    def lookups(self, request, model_admin):
        return [("yes", _("Yes")), ("no", _("No"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.exclude(membership_id="")
        if self.value() == "no":
            return queryset.filter(membership_id="")
        return queryset


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    form = CustomerAdminForm
    list_display = ("name", "wechat_nickname", "mobile", "email", "activity_score", "level", "points", "created_at")
    list_filter = (MemberFilter, "level", ActivityScoreFilter, "customer_groups", "created_at")
    search_fields = ("name", "wechat_nickname", "mobile")
    list_select_related = ("level",)
    # Counting 100,000 rows on every page is the slow part of a big changelist; the paginator still counts once.
    show_full_result_count = False
    list_per_page = 50
    actions = ["add_to_group", "remove_from_group"]
    formfield_overrides = {models.JSONField: {"widget": KeyValueWidget, "form_class": AttributesField}}
    fieldsets = (
        (None, {"fields": ("name", "wechat_nickname", "mobile", "email", "activity_score")}),
        (gettext_lazy("Member"), {"fields": ("membership_id", "level", "points")}),
        (
            gettext_lazy("Custom attributes"),
            {
                "fields": ("attributes",),
                "description": gettext_lazy('Key and value pairs, e.g. {"city": "上海", "vip": true}.'),
            },
        ),
    )

    def get_actions(self, request):
        # Deleting a customer (a member is the same row) loses its history: from its own page only, for who
        # may, never as the first entry of a bulk list.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def get_readonly_fields(self, request, obj=None):
        # A member's level changes through Members › change level, which raises the level up/down event.
        if obj is not None and obj.level_id:
            return ("level",)
        return ()

    def save_model(self, request, obj, form, change):
        # Through the service, which tells automation flows of a new customer's or a changed score.
        customer_save(customer=obj, changed=form.changed_data if change else None)

    def get_search_results(self, request, queryset, search_term):
        # A number is a mobile: an indexed prefix match instead of scanning 100,000 names.
        mobile = normalize_mobile(search_term.strip())
        if mobile.isdigit() and len(mobile) >= 3:
            return queryset.filter(mobile__startswith=mobile), False
        return super().get_search_results(request, queryset, search_term)

    def _group_action(self, request, queryset, *, title, apply):
        if "apply" in request.POST:
            form = GroupChoiceForm(request.POST)
            if form.is_valid():
                count = apply(group=form.cleaned_data["group"], customers=list(queryset))
                return count, form.cleaned_data["group"]
        else:
            form = GroupChoiceForm()
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "form": form,
            "queryset": queryset,
            "opts": self.model._meta,
            "action": request.POST.get("action"),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/customers/group_action.html", context), None

    @admin.action(description=gettext_lazy("Add selected customers to a group"), permissions=["change"])
    def add_to_group(self, request, queryset):
        result, group = self._group_action(
            request, queryset, title=_("Add customers to a group"), apply=group_customers_add
        )
        if group is None:
            return result
        self.message_user(
            request, _("%(count)s customers joined “%(group)s”.") % {"count": result, "group": group}, messages.SUCCESS
        )
        return None

    @admin.action(description=gettext_lazy("Remove selected customers from a group"), permissions=["change"])
    def remove_from_group(self, request, queryset):
        result, group = self._group_action(
            request, queryset, title=_("Remove customers from a group"), apply=group_customers_remove
        )
        if group is None:
            return result
        self.message_user(
            request, _("%(count)s customers left “%(group)s”.") % {"count": result, "group": group}, messages.SUCCESS
        )
        return None


class GroupEntryInline(admin.TabularInline):
    model = GroupEntry
    raw_id_fields = ("customer",)
    readonly_fields = ("joined_at",)
    extra = 0
    # A group of 100,000 members cannot be an inline form; the customer list filters by group instead.
    max_num = 200

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("customer")


class CsvImportForm(forms.Form):
    file = forms.FileField(label=gettext_lazy("CSV file"))


@admin.register(Group)
class GroupAdmin(admin.ModelAdmin):
    list_display = ("name", "description", "customer_count", "created_at")
    search_fields = ("name",)
    change_form_template = "admin/customers/group_change_form.html"

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(customer_count=Count("entries"))

    def get_inlines(self, request, obj):
        # Large groups are managed from the customer list (filter by group, actions), not inline.
        if obj is not None and obj.customer_count > GroupEntryInline.max_num:
            return []
        return [GroupEntryInline]

    @admin.display(description=gettext_lazy("customers"), ordering="customer_count")
    def customer_count(self, obj):
        return obj.customer_count

    def save_formset(self, request, form, formset, change):
        if formset.model is not GroupEntry:
            return super().save_formset(request, form, formset, change)
        # Entries go through the group services, which tell "joins a group" flows who joined. An entry
        # whose customer was changed in place is the old customer leaving and the new one joining.
        group = form.instance
        formset.save(commit=False)
        changed = [entry for entry, _fields in formset.changed_objects]
        GroupEntry.objects.filter(pk__in=[entry.pk for entry in [*formset.deleted_objects, *changed]]).delete()
        group_customers_add(group=group, customers=[entry.customer for entry in [*changed, *formset.new_objects]])
        return None

    def get_urls(self):
        return [
            path("<int:pk>/import/", self.admin_site.admin_view(self.import_view), name="customers_group_import"),
            *super().get_urls(),
        ]

    @method_decorator(csrf_exempt)
    def import_view(self, request, pk):
        # The upload is cut off at the import's limit while it arrives, not stored whole and measured
        # after: the handler goes in before anything reads the body, so CSRF is checked just after.
        request.upload_handlers.insert(0, LimitedUploadHandler(request, limit=groups.MAX_IMPORT_BYTES))
        return csrf_protect(self._import)(request, pk)

    def _import(self, request, pk):
        group = get_object_or_404(Group, pk=pk)
        if not self.has_change_permission(request, group):
            raise PermissionDenied
        result = None
        form = CsvImportForm(request.POST or None, request.FILES or None)
        if getattr(request, "upload_too_large", False):
            result = ImportResult(errors=[(0, _("The file is larger than 20 MB."))])
        elif request.method == "POST" and form.is_valid():
            result = group_import_csv(group=group, data=form.cleaned_data["file"])
            if result.ok:
                self.message_user(
                    request,
                    _("Imported: %(created)s new customers, %(updated)s updated, %(joined)s joined the group.")
                    % {"created": result.created, "updated": result.updated, "joined": result.joined},
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:customers_group_change", args=[group.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": _("Import customers into “%(group)s”") % {"group": group},
            "form": form,
            "group": group,
            "result": result,
            "opts": self.model._meta,
            "original": group,
        }
        return TemplateResponse(request, "admin/customers/group_import.html", context)
