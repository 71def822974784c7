"""Cells of the sends and deliveries lists: compact, one date format, the time zone said once.

The lists must fit a 1366-pixel screen with their action column in view (zh-hans and English): long text
is cut with an ellipsis and keeps its whole value in a title; a time wraps at its space, never inside.
"""

from collections.abc import Sequence

from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import Promise, lazy
from django.utils.html import format_html

from webhookhub.zones import zone_offset, zone_title
from webhooks import selectors


def _with_zone(label) -> str:
    return f"{label} ({zone_offset()})"


# A column header with the zone in it, rendered in the reader's language at display time.
with_zone = lazy(_with_zone, str)


def time_cell(moment, *, label: str = "") -> str:
    """A time as 2026-12-07 14:05:09 (it may wrap at the space), the zone in its title."""
    if moment is None:
        return format_html('<span class="hub-time hub-muted">—</span>')
    text = selectors.local_time(moment)
    if label:
        return format_html(
            '<span class="hub-time-label">{}</span> <time class="hub-time" datetime="{}" title="{}">{}</time>',
            label,
            timezone.localtime(moment).isoformat(),
            zone_title(),
            text,
        )
    return format_html(
        '<time class="hub-time" datetime="{}" title="{}">{}</time>',
        timezone.localtime(moment).isoformat(),
        zone_title(),
        text,
    )


def clip(text, *, css: str = "", title: str | None = None) -> str:
    """Text cut with an ellipsis at the column's width; the whole of it in the title."""
    text = "" if text is None else str(text)
    return format_html(
        '<span class="hub-clip {}" title="{}">{}</span>', css, text if title is None else title, text or "—"
    )


def send_links(send) -> dict:
    """Where a send's results are: its deliveries, by outcome, and the CSV of all of them."""
    deliveries = reverse("admin:webhooks_delivery_changelist")
    return {
        "all": f"{deliveries}?send={send.pk}",
        "succeeded": f"{deliveries}?send={send.pk}&status__exact=succeeded",
        "failed": f"{deliveries}?send={send.pk}&status__exact=failed",
        "cancelled": f"{deliveries}?send={send.pk}&status__exact=cancelled",
        "export": reverse("admin:webhooks_groupsend_export", args=[send.pk]),
    }


ADMIN_CSS: dict[str, Sequence[str]] = {"all": ("webhooks/admin.css",)}


def status_badge(value: str, label: str | Promise):
    return render_to_string("webhooks/status_badge.html", {"value": value, "label": label})
