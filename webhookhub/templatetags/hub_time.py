"""{% time_zone_note cl %}: under a list with a date or time column, the zone its times are in, said once."""

from django import template
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.utils.html import format_html
from django.utils.translation import gettext

from webhookhub.zones import zone_title

register = template.Library()


def _has_times(changelist) -> bool:
    # Lists that name the zone in their own column headers set `time_zone_in_headers`.
    if getattr(changelist.model_admin, "time_zone_in_headers", False):
        return False
    for name in changelist.list_display:
        if not isinstance(name, str):
            continue
        try:
            field = changelist.model._meta.get_field(name)
        except FieldDoesNotExist:
            continue
        if isinstance(field, models.DateField | models.TimeField):
            return True
    return False


@register.simple_tag
def time_zone_note(changelist):
    if not _has_times(changelist):
        return ""
    return format_html(
        '<p class="help" id="time-zone-note">{}</p>',
        gettext("Times are in %(zone)s.") % {"zone": zone_title()},
    )
