import json

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Prefetch
from django.urls import reverse
from django.utils.html import escape, format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from webhookhub.admin_mixins import ReadOnlyAdminMixin
from webhooks.models import Webhook

from . import selectors
from .models import TRIGGER_FIELDS, Flow, FlowRun, FlowStep, FormField, MicroPage, Submission

NOT_PUSHED_WARNING = _(
    "This micro-page calls no active webhook: visitors' submissions are stored, but pushed nowhere. "
    "Choose a webhook under “webhooks to call” to send them on."
)


class FormFieldInline(admin.TabularInline):
    model = FormField
    extra = 1
    fields = ("order", "label", "key", "field_type", "required", "options")
    # Django's widths (a 610 px options box, 260 px inputs) made the row 1,844 px wide at a 1,440 px
    # window: narrower boxes keep the page without a sideways scroll.
    WIDTHS = {"order": "4em", "label": "12em", "key": "10em", "options": "18em"}

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "options":
            kwargs["widget"] = forms.Textarea(attrs={"rows": 2, "cols": 20})
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if field is not None and db_field.name in self.WIDTHS:
            field.widget.attrs["style"] = f"width: {self.WIDTHS[db_field.name]}; box-sizing: border-box"
        return field


@admin.register(MicroPage)
class MicroPageAdmin(admin.ModelAdmin):
    list_display = ("title", "public_link", "is_active", "webhooks_column", "group", "submission_count")
    list_filter = ("is_active",)
    search_fields = ("title", "slug")
    prepopulated_fields = {"slug": ("title",)}
    filter_horizontal = ("webhooks",)
    inlines = [FormFieldInline]
    fields = (
        "title",
        "slug",
        "is_active",
        "description",
        "success_text",
        "webhooks",
        "group",
        "trust_submitted_mobile",
    )

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("group")
            .annotate(_submissions=Count("submissions"))
            .prefetch_related(Prefetch("webhooks", queryset=Webhook.objects.filter(is_active=True), to_attr="_pushes"))
        )

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        # Allowed (a page may only collect sign-ups), but never silently: nothing of it reaches a receiver.
        if not form.instance.webhooks.filter(is_active=True).exists():
            self.message_user(request, NOT_PUSHED_WARNING, messages.WARNING)

    @admin.display(description=_("webhooks to call"))
    def webhooks_column(self, page):
        if not page._pushes:
            return format_html('<span class="hub-not-pushed">{}</span>', gettext("none: submissions are not pushed"))
        return ", ".join(str(webhook) for webhook in page._pushes)

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if field is not None and field.help_text:
            # The admin shows help texts as HTML: "/p/<address>/" would lose "<address>" as an unknown tag.
            field.help_text = escape(field.help_text)
        return field

    @admin.display(description=_("public page"))
    def public_link(self, page):
        url = page.get_absolute_url()
        return format_html('<a href="{0}" target="_blank" rel="noopener">{0}</a>', url)

    @admin.display(description=_("submissions"), ordering="_submissions")
    def submission_count(self, page):
        url = reverse("admin:automation_submission_changelist") + f"?page__id__exact={page.pk}"
        return format_html('<a href="{}">{}</a>', url, page._submissions)


@admin.register(Submission)
class SubmissionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "page", "customer", "matched", "verified", "pushed", "created_at", "ip")
    list_filter = ("page", "matched", "verified")
    list_select_related = ("page", "customer")
    readonly_fields = ("page", "customer", "matched", "verified", "data", "ip", "pushed", "message", "created_at")

    @admin.display(description=_("pushed"))
    def pushed(self, submission):
        # No message: the page called no active webhook when it was submitted.
        if submission.message_id is None:
            return format_html(
                '<span class="hub-not-pushed">{}</span>', gettext("Not pushed: the page called no active webhook.")
            )
        return gettext("Yes")

    date_hierarchy = "created_at"


class FlowStepInline(admin.TabularInline):
    model = FlowStep
    extra = 1
    fields = ("order", "kind", "wait", "webhook")

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "order" and field is not None:
            # Written by the up/down buttons (flow_form.js); still editable by hand.
            field.widget.attrs.update({"class": "vIntegerField step-order", "style": "width: 4em"})
        return field


@admin.register(Flow)
class FlowAdmin(admin.ModelAdmin):
    list_display = ("name", "is_active", "trigger_label_display", "step_count", "runs_link")
    list_filter = ("is_active", "trigger")
    search_fields = ("name",)
    inlines = [FlowStepInline]
    readonly_fields = ("runs_overview",)

    class Media:
        js = ("automation/flow_form.js",)

    fieldsets = (
        (None, {"fields": ("name", "is_active")}),
        (_("Trigger"), {"fields": ("trigger", "score_threshold", "group", "page", "event")}),
        (_("Runs"), {"fields": ("runs_overview",)}),
    )

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("group", "page")
            .annotate(_steps=Count("steps", distinct=True), _runs=Count("runs", distinct=True))
        )

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "trigger" and field is not None:
            field.widget.attrs["data-trigger-fields"] = json.dumps(TRIGGER_FIELDS)
        return field

    @admin.display(description=_("trigger"))
    def trigger_label_display(self, flow):
        return flow.trigger_label

    @admin.display(description=_("steps"), ordering="_steps")
    def step_count(self, flow):
        return flow._steps

    @admin.display(description=_("runs"), ordering="_runs")
    def runs_link(self, flow):
        url = reverse("admin:automation_flowrun_changelist") + f"?flow__id__exact={flow.pk}"
        return format_html('<a href="{}">{}</a>', url, flow._runs)

    @admin.display(description=_("runs per customer"))
    def runs_overview(self, flow):
        if not flow.pk:
            return "—"
        steps = selectors.flow_steps(flow_id=flow.pk)
        counts = ", ".join(f"{label}: {count}" for label, count in selectors.flow_run_counts(flow=flow).items())
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    run.customer,
                    run.get_status_display(),
                    _step_label(run, steps),
                    run.next_run_at or "—",
                    run.updated_at,
                )
                for run in selectors.flow_runs_recent(flow=flow)
            ),
        )
        url = reverse("admin:automation_flowrun_changelist") + f"?flow__id__exact={flow.pk}"
        return format_html(
            '<p>{}</p><table class="flow-runs"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th>'
            '</tr></thead><tbody>{}</tbody></table><p><a href="{}">{}</a></p>',
            counts,
            gettext("customer"),
            gettext("status"),
            gettext("current step"),
            gettext("next step at"),
            gettext("updated at"),
            rows,
            url,
            gettext("All runs of this flow"),
        )


def _step_label(run: FlowRun, steps) -> str:
    if run.status == FlowRun.Status.COMPLETED:
        return gettext("done (%(count)s steps)") % {"count": len(steps)}
    if run.step_index < len(steps):
        return f"{run.step_index + 1}/{len(steps)} · {steps[run.step_index]}"
    return f"{run.step_index + 1}/{len(steps)}"


@admin.register(FlowRun)
class FlowRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("customer", "flow", "status", "current_step", "next_run_at", "started_at", "updated_at")
    list_filter = ("status", "flow")
    list_select_related = ("customer", "flow")
    search_fields = ("customer__name", "customer__mobile", "flow__name")
    readonly_fields = (
        "flow",
        "customer",
        "status",
        "current_step",
        "next_run_at",
        "started_at",
        "updated_at",
        "finished_at",
        "last_error",
    )
    fields = readonly_fields

    def get_queryset(self, request):
        steps = FlowStep.objects.select_related("webhook").order_by("order", "id")
        return super().get_queryset(request).prefetch_related(Prefetch("flow__steps", queryset=steps))

    @admin.display(description=_("current step"), ordering="step_index")
    def current_step(self, run):
        return _step_label(run, list(run.flow.steps.all()))
