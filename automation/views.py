"""The public micro-page: the form, its validation and its thank-you. The work is in services."""

import secrets
from functools import wraps

from django.conf import settings
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import translation
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods

from webhookhub.net import client_address

from . import selectors, services
from .forms import MicroPageForm


def content_security_policy(view):
    """A strict Content-Security-Policy on the public pages: no script at all, only the page's own style (and
    images from the hub itself: the favicon)."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        request.csp_nonce = secrets.token_urlsafe(16)
        response = view(request, *args, **kwargs)
        response.headers["Content-Security-Policy"] = (
            f"default-src 'none'; style-src 'nonce-{request.csp_nonce}'; img-src 'self' data:; "
            "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        )
        return response

    return wrapper


def _page_or_404(slug: str):
    page = selectors.page_for_public(slug=slug)
    if page is None:
        raise Http404
    return page


@content_security_policy
@csrf_protect
@require_http_methods(["GET", "POST"])
def page_view(request, slug):
    # The page speaks the installation's language (zh-hans by default), not the visitor's browser's.
    with translation.override(settings.LANGUAGE_CODE):
        page = _page_or_404(slug)
        if request.method == "POST":
            address = client_address(request)
            if services.form_rate_limit_hit(address=address):
                return render(request, "automation/rate_limited.html", {"page": page}, status=429)
            form = MicroPageForm(request.POST, page=page)
            if form.is_bot:
                # A bot is shown what a person is shown, and nothing is stored or sent.
                return redirect("automation:thanks", slug=page.slug)
            if form.is_valid():
                services.submission_create(
                    page=page, data=form.submitted_data(), ip=address or None, form_token=form.token
                )
                return redirect("automation:thanks", slug=page.slug)
            status = 400
        else:
            form, status = MicroPageForm(page=page), 200
        return render(request, "automation/page.html", {"page": page, "form": form}, status=status)


@content_security_policy
@require_http_methods(["GET"])
def page_thanks_view(request, slug):
    with translation.override(settings.LANGUAGE_CODE):
        return render(request, "automation/thanks.html", {"page": _page_or_404(slug)})
