"""Retry policies: when retry n of a delivery goes out. Pure functions, no I/O (docs/contract.md section 7).

- DM Hub's (the default): 3 retries, 30, 60 and 90 minutes after the attempt before
  (settings.WEBHOOK_RETRY_DELAYS), so DM Hub receivers see no change.
- Extended: 10 retries over about 3 days, exponential with jitter (as Stripe and Svix do): the base
  delay (settings.WEBHOOK_RETRY_BASE_DELAY, 5 minutes) doubled for each retry, capped at a day,
  each moved by up to ±10 % by a jitter drawn from the delivery's id (the same delivery always gets
  the same schedule: testable, and a thousand deliveries failed together do not come back together).
- Custom: the webhook's own list of delays.

`auto_retry` stays the switch: off, no policy applies (see outcome.outcome_decide).
"""

import hashlib
import re
from dataclasses import dataclass, field

from django.db import models
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

EXTENDED_RETRIES = 10
EXTENDED_CAP_FACTOR = 288  # the cap: 288 base delays (a day at the default 5 minutes)
JITTER = 0.1
MAX_CUSTOM_RETRIES = 20
MAX_CUSTOM_DELAY = 7 * 86400
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class RetryPolicyKind(models.TextChoices):
    DMHUB = "dmhub", gettext_lazy("DM Hub's: 3 retries, 30, 60 and 90 minutes later")
    EXTENDED = "extended", gettext_lazy("Extended: 10 retries over about 3 days")
    CUSTOM = "custom", gettext_lazy("Custom delays")


@dataclass(frozen=True)
class RetryPolicy:
    kind: str = RetryPolicyKind.DMHUB
    dmhub_delays: tuple[int, ...] = (1800, 3600, 5400)
    custom_delays: tuple[int, ...] = ()
    base_delay: int = 300
    retries: int = field(init=False)

    def __post_init__(self):
        retries = len(self.dmhub_delays)
        if self.kind == RetryPolicyKind.EXTENDED:
            retries = EXTENDED_RETRIES
        elif self.kind == RetryPolicyKind.CUSTOM:
            retries = len(self.custom_delays)
        object.__setattr__(self, "retries", retries)


def _jitter(delivery_id: str, number: int) -> float:
    """A factor in [1 - JITTER, 1 + JITTER), the same for the same delivery and retry."""
    digest = hashlib.sha256(f"{delivery_id}:{number}".encode()).digest()
    unit = int.from_bytes(digest[:8], "big") / 2**64
    return 1 + JITTER * (2 * unit - 1)


def retry_delay(policy: RetryPolicy, number: int, delivery_id: str = "") -> int | None:
    """Seconds after a failed attempt before retry `number` (1 for the first retry); None: no such retry.

    Without a delivery id (the form's preview) the extended policy's delays are shown without jitter.
    """
    if number < 1 or number > policy.retries:
        return None
    if policy.kind == RetryPolicyKind.EXTENDED:
        base = max(policy.base_delay, 1)
        delay = min(base * 2 ** (number - 1), base * EXTENDED_CAP_FACTOR)
        if delivery_id:
            delay = delay * _jitter(delivery_id, number)
        return max(1, round(delay))
    if policy.kind == RetryPolicyKind.CUSTOM:
        return policy.custom_delays[number - 1]
    return policy.dmhub_delays[number - 1]


def retry_schedule(policy: RetryPolicy, delivery_id: str = "") -> list[int]:
    """Every retry's delay, in order."""
    return [retry_delay(policy, n, delivery_id) or 0 for n in range(1, policy.retries + 1)]


def duration_words(seconds: int) -> str:
    """30 分钟, 1 小时 30 分钟, 2 天 …: the largest units, at most two of them."""
    parts = []
    for size, one, many in (
        (86400, "%(n)s day", "%(n)s days"),
        (3600, "%(n)s hour", "%(n)s hours"),
        (60, "%(n)s minute", "%(n)s minutes"),
        (1, "%(n)s second", "%(n)s seconds"),
    ):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(ngettext(one, many, count) % {"n": count})
    return " ".join(parts[:2]) or ngettext("%(n)s second", "%(n)s seconds", 0) % {"n": 0}


def schedule_words(policy: RetryPolicy, *, auto_retry: bool = True) -> list[str]:
    """The schedule as a person reads it: one line per retry, and the total."""
    if not auto_retry:
        return [_("Automatic retry is off: a failed delivery is not retried.")]
    delays = retry_schedule(policy)
    if not delays:
        return [_("No retries: a failed delivery is not retried.")]
    about = policy.kind == RetryPolicyKind.EXTENDED
    lines = []
    for number, delay in enumerate(delays, start=1):
        words = duration_words(delay)
        if about:
            line = _("Retry %(n)s: about %(delay)s after the failure") % {"n": number, "delay": words}
        else:
            line = _("Retry %(n)s: %(delay)s after the failure") % {"n": number, "delay": words}
        lines.append(line)
    lines.append(_("Last retry about %(total)s after the first attempt.") % {"total": duration_words(sum(delays))})
    return lines


class DelaysError(ValueError):
    pass


def delays_parse(value) -> list[int]:
    """A custom schedule as typed ("30m, 2h, 1d", a bare number is minutes) or as a list of seconds."""
    if isinstance(value, list | tuple):
        items = value
    else:
        items = [part for part in re.split(r"[,;\s\uff0c\uff1b]+", str(value or "").strip()) if part]
    delays = []
    for item in items:
        if isinstance(item, bool):
            raise DelaysError(_("Enter delays such as 30m, 2h, 1d."))
        if isinstance(item, int | float):
            seconds = int(item)
        else:
            match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([smhd]?)", str(item).strip().lower())
            if not match:
                raise DelaysError(
                    _("“%(item)s” is not a delay: write a number with s, m, h or d (30m, 2h, 1d).") % {"item": item}
                )
            seconds = round(float(match.group(1)) * UNITS[match.group(2) or "m"])
        if seconds < 1 or seconds > MAX_CUSTOM_DELAY:
            raise DelaysError(_("Each delay must be between 1 second and 7 days."))
        delays.append(seconds)
    if len(delays) > MAX_CUSTOM_RETRIES:
        raise DelaysError(_("At most %(n)s retries.") % {"n": MAX_CUSTOM_RETRIES})
    return delays


def delays_text(delays) -> str:
    """A list of seconds as the form shows it: 30m, 1h, 90s."""
    parts = []
    for seconds in delays or []:
        for unit in ("d", "h", "m"):
            if seconds % UNITS[unit] == 0:
                parts.append(f"{seconds // UNITS[unit]}{unit}")
                break
        else:
            parts.append(f"{seconds}s")
    return ", ".join(parts)


def policy_of(*, kind: str, custom_delays=(), settings=None) -> RetryPolicy:
    """The policy of a webhook's fields, with the installation's DM Hub delays and base delay."""
    if settings is None:
        from django.conf import settings
    return RetryPolicy(
        kind=kind or RetryPolicyKind.DMHUB,
        dmhub_delays=tuple(settings.WEBHOOK_RETRY_DELAYS),
        custom_delays=tuple(custom_delays or ()),
        base_delay=settings.WEBHOOK_RETRY_BASE_DELAY,
    )
