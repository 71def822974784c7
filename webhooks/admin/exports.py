"""A group send's results as CSV for Excel: UTF-8 with a byte order mark, one row per delivery, streamed."""

import csv
from collections.abc import Iterator

from django.utils import timezone
from django.utils.translation import gettext

from webhooks.models import Delivery, GroupSend
from webhooks.selectors import group_send_results, local_time

BOM = "\ufeff"  # without it Excel reads UTF-8 as the system's code page and garbles Chinese


class _Line:
    """csv.writer's file: hands back the line it was given."""

    def write(self, text: str) -> str:
        return text


def _safe(text) -> str:
    # A cell starting with = + - @ is a formula to Excel: kept as text (a receiver's error can start with one).
    text = "" if text is None else str(text)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def group_send_results_csv(*, send: GroupSend) -> Iterator[str]:
    """The lines of the CSV. Its words are chosen now, in the request's language: the lines are written
    later, while the response streams."""
    writer = csv.writer(_Line())
    zone = timezone.get_current_timezone_name()
    labels = {value: str(label) for value, label in Delivery.Status.choices}
    header = [
        gettext("delivery ID"),
        gettext("customer ID"),
        gettext("customer"),
        gettext("mobile"),
        gettext("status"),
        gettext("attempts"),
        gettext("last response status"),
        gettext("last error"),
        gettext("created at (%(zone)s)") % {"zone": zone},
        gettext("last change (%(zone)s)") % {"zone": zone},
    ]
    rows = group_send_results(send=send)

    def lines():
        yield BOM + writer.writerow(header)
        for pk, customer_id, name, mobile, status, attempts, code, error, created, updated in rows:
            yield writer.writerow(
                [
                    pk,
                    customer_id or "",
                    _safe(name),
                    mobile or "",
                    labels.get(status, status),
                    attempts,
                    code or "",
                    _safe(error),
                    local_time(created),
                    local_time(updated),
                ]
            )

    return lines()
