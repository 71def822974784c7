"""Admin views of a webhook's health: pause and resume by hand, the retry schedule's preview.

Pausing and resuming stop and restart a webhook's sending for everyone: they stay with the
Administrator role (webhookhub/roles.py), though a Marketer may edit the webhook.
"""

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from webhookhub.errors import HubError
from webhookhub.roles import is_administrator
from webhooks import services
from webhooks.engine.retry_policy import DelaysError, RetryPolicyKind, delays_parse, policy_of, schedule_words
from webhooks.models import Webhook
from webhooks.models.health import released_words


def can_pause(user) -> bool:
    return is_administrator(user)


class PauseForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        max_length=400,
        error_messages={"required": gettext_lazy("Say why the webhook is paused: the others read it.")},
    )


def _back(webhook: Webhook):
    return redirect(reverse("admin:webhooks_webhook_change", args=[webhook.pk]))


@require_POST
def webhook_pause(request, pk):
    if not can_pause(request.user):
        raise PermissionDenied
    webhook = get_object_or_404(Webhook, pk=pk)
    form = PauseForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, str(error))
        return _back(webhook)
    try:
        services.webhook_pause(webhook=webhook, reason=form.cleaned_data["reason"], user=request.user)
    except HubError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("The webhook is paused: new messages are accepted and wait until it is resumed."))
    return _back(webhook)


@require_POST
def webhook_resume(request, pk):
    if not can_pause(request.user):
        raise PermissionDenied
    webhook = get_object_or_404(Webhook, pk=pk)
    try:
        resumed = services.webhook_resume(webhook=webhook, user=request.user)
    except HubError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("The webhook is resumed.") + " " + released_words(resumed.released))
    return _back(webhook)


def schedule_lines(*, kind: str, delays, auto_retry: bool) -> list[str]:
    return schedule_words(policy_of(kind=kind, custom_delays=delays), auto_retry=auto_retry)


@require_GET
def retry_schedule(request):
    """The schedule the form's retry fields give, in words: the same rules the engine uses."""
    kind = request.GET.get("retry_policy") or RetryPolicyKind.DMHUB
    if kind not in RetryPolicyKind.values:
        kind = RetryPolicyKind.DMHUB
    delays: list[int] = []
    if kind == RetryPolicyKind.CUSTOM:
        try:
            delays = delays_parse(request.GET.get("retry_delays", ""))
        except DelaysError as exc:
            return JsonResponse({"lines": [], "error": str(exc)})
    auto_retry = request.GET.get("auto_retry", "1") not in ("", "0", "false", "off")
    return JsonResponse({"lines": schedule_lines(kind=kind, delays=delays, auto_retry=auto_retry), "error": ""})
