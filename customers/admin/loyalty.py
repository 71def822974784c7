"""The loyalty side of the admin: members' levels, coupons and codes, each change raising its event."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from webhookhub.errors import HubError

from .. import loyalty
from ..models import Coupon, CouponCode, Member, MembershipLevel


class LevelForm(forms.Form):
    level = forms.ModelChoiceField(queryset=MembershipLevel.objects.all(), label=gettext_lazy("new level"))


class DispatchForm(forms.Form):
    coupon = forms.ModelChoiceField(queryset=Coupon.objects.all(), label=gettext_lazy("coupon"))
    batch_id = forms.CharField(label=gettext_lazy("batch ID"), max_length=64)
    start_date = forms.DateField(
        label=gettext_lazy("valid from"), required=False, help_text=gettext_lazy("Empty: the coupon's own dates.")
    )
    end_date = forms.DateField(
        label=gettext_lazy("valid until"), required=False, help_text=gettext_lazy("Empty: the coupon's own dates.")
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["batch_id"].initial = timezone.localtime().strftime("B%Y%m%d%H%M%S")

    def clean(self):
        data = super().clean() or {}
        start, end = data.get("start_date"), data.get("end_date")
        if start and end and end < start:
            self.add_error("end_date", _("The end date must not be before the start date."))
        return data


class DrawForm(forms.Form):
    coupon = forms.ModelChoiceField(queryset=Coupon.objects.all(), label=gettext_lazy("coupon"))


class RedeemForm(forms.Form):
    code = forms.CharField(label=gettext_lazy("coupon code"), max_length=64)


def _action_page(model_admin, request, queryset, *, title, form, intro=""):
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "form": form,
        "queryset": queryset,
        "opts": model_admin.model._meta,
        "intro": intro,
        "action": request.POST.get("action"),
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, "admin/customers/loyalty_action.html", context)


def _error_text(exc) -> str:
    return " ".join(exc.messages)


@admin.register(Member)
class MemberAdmin(admin.ModelAdmin):
    list_display = ("name", "membership_id", "level", "points", "mobile")
    list_filter = ("level", "customer_groups")
    search_fields = ("name", "membership_id", "mobile")
    list_select_related = ("level",)
    show_full_result_count = False
    list_per_page = 50
    # The level changes only through the action, so every change raises its level event.
    fields = ("name", "membership_id", "level", "points")
    readonly_fields = ("name", "membership_id", "level")
    actions = ["change_level", "dispatch_coupon", "draw_coupon"]

    def get_actions(self, request):
        # Deleting a customer (a member is the same row) loses its history: from its own page only, for who
        # may, never as the first entry of a bulk list.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def get_queryset(self, request):
        return super().get_queryset(request).exclude(membership_id="")

    def has_add_permission(self, request):
        return False

    @admin.action(description=gettext_lazy("Change the level of selected members"), permissions=["change"])
    def change_level(self, request, queryset):
        form = LevelForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            return _action_page(
                self,
                request,
                queryset,
                title=_("Change members' level"),
                form=form,
                intro=_("A move to a higher rank is a level up, to a lower rank a level down; each raises its event."),
            )
        level = form.cleaned_data["level"]
        changed, refused = 0, []
        for member in queryset.select_related("level"):
            try:
                loyalty.member_level_change(customer=member, level=level, user=request.user)
                changed += 1
            except HubError as exc:
                refused.append(_error_text(exc))
        if changed:
            self.message_user(
                request,
                _("%(count)s members moved to “%(level)s”.") % {"count": changed, "level": level},
                messages.SUCCESS,
            )
        for reason in refused:
            self.message_user(request, reason, messages.ERROR)
        return None

    @admin.action(description=gettext_lazy("Dispatch a coupon to selected members"), permissions=["change"])
    def dispatch_coupon(self, request, queryset):
        form = DispatchForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            data = form.cleaned_data
            try:
                codes = loyalty.coupon_dispatch(
                    coupon=data["coupon"],
                    customers=queryset,
                    batch_id=data["batch_id"],
                    start_date=data["start_date"],
                    end_date=data["end_date"],
                    user=request.user,
                )
            except HubError as exc:
                form.add_error(None, exc)
            else:
                self.message_user(
                    request,
                    _("Dispatched “%(coupon)s” (batch %(batch)s): %(count)s codes, one per member.")
                    % {"coupon": data["coupon"], "batch": data["batch_id"], "count": len(codes)},
                    messages.SUCCESS,
                )
                return None
        return _action_page(
            self,
            request,
            queryset,
            title=_("Dispatch a coupon"),
            form=form,
            intro=_("Each member gets one new unique code; each raises a dispatch event."),
        )

    @admin.action(description=gettext_lazy("Selected members draw a coupon"), permissions=["change"])
    def draw_coupon(self, request, queryset):
        form = DrawForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            return _action_page(self, request, queryset, title=_("Members draw a coupon"), form=form)
        drawn, refused = 0, []
        for member in queryset:
            try:
                loyalty.coupon_draw(coupon=form.cleaned_data["coupon"], customer=member, user=request.user)
                drawn += 1
            except HubError as exc:
                refused.append(_error_text(exc))
        if drawn:
            self.message_user(
                request,
                _("%(count)s members drew “%(coupon)s”.") % {"count": drawn, "coupon": form.cleaned_data["coupon"]},
                messages.SUCCESS,
            )
        for reason in refused:
            self.message_user(request, reason, messages.ERROR)
        return None


@admin.register(Coupon)
class CouponAdmin(admin.ModelAdmin):
    list_display = ("name", "start_date", "end_date", "dispatched", "drawn", "redeemed", "created_at")
    search_fields = ("name",)
    date_hierarchy = "created_at"

    def get_queryset(self, request):
        status = CouponCode.Status
        return (
            super()
            .get_queryset(request)
            .annotate(
                dispatched_count=Count("codes", filter=Q(codes__status=status.DISPATCHED)),
                drawn_count=Count("codes", filter=Q(codes__status=status.DRAWN)),
                redeemed_count=Count("codes", filter=Q(codes__status=status.REDEEMED)),
            )
        )

    @admin.display(description=gettext_lazy("dispatched"), ordering="dispatched_count")
    def dispatched(self, obj):
        return obj.dispatched_count

    @admin.display(description=gettext_lazy("drawn"), ordering="drawn_count")
    def drawn(self, obj):
        return obj.drawn_count

    @admin.display(description=gettext_lazy("redeemed"), ordering="redeemed_count")
    def redeemed(self, obj):
        return obj.redeemed_count


@admin.register(CouponCode)
class CouponCodeAdmin(admin.ModelAdmin):
    list_display = (
        "code",
        "coupon",
        "customer",
        "batch_id",
        "status",
        "start_date",
        "end_date",
        "created_at",
        "redeemed_at",
    )
    list_filter = ("status", "coupon", "created_at")
    search_fields = ("code", "batch_id", "customer__membership_id", "customer__name")
    list_select_related = ("coupon", "customer")
    show_full_result_count = False
    change_list_template = "admin/customers/couponcode/change_list.html"
    actions = ["redeem_selected"]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request):
        # Codes are made by dispatching or drawing, which raise their events.
        return False

    def get_urls(self):
        return [
            path("redeem/", self.admin_site.admin_view(self.redeem_view), name="customers_couponcode_redeem"),
            *super().get_urls(),
        ]

    def redeem_view(self, request):
        if not self.has_change_permission(request):
            raise PermissionDenied
        form = RedeemForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                code = loyalty.coupon_redeem(code=form.cleaned_data["code"], user=request.user)
            except HubError as exc:
                form.add_error("code", exc)
            else:
                self.message_user(
                    request,
                    _("Code %(code)s of “%(coupon)s” redeemed for %(member)s.")
                    % {"code": code.code, "coupon": code.coupon, "member": code.customer},
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:customers_couponcode_redeem"))
        context = {
            **self.admin_site.each_context(request),
            "title": _("Redeem a coupon code"),
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/customers/couponcode/redeem.html", context)

    @admin.action(description=gettext_lazy("Redeem selected codes"), permissions=["change"])
    def redeem_selected(self, request, queryset):
        for code in queryset:
            try:
                loyalty.coupon_redeem(code=code.code, user=request.user)
                self.message_user(request, _("Code %(code)s redeemed.") % {"code": code.code}, messages.SUCCESS)
            except HubError as exc:
                self.message_user(request, _error_text(exc), messages.ERROR)
