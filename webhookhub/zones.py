"""The user's time zone as the pages name it: once a page, beside times written 2026-12-07 14:05:09."""

from django.utils import timezone


def zone_offset() -> str:
    """The current time zone as a short offset, e.g. UTC+8 (UTC+5:30 where the zone has minutes)."""
    offset = timezone.localtime().utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset else 0
    sign = "+" if minutes >= 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


def zone_title() -> str:
    """The zone's name and offset, e.g. Asia/Shanghai (UTC+8)."""
    return f"{timezone.get_current_timezone_name()} ({zone_offset()})"
