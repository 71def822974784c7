"""What happens to a delivery after an attempt: one pure function, no I/O (docs/contract.md section 7).

The engine records an attempt, then asks `outcome_decide` for the delivery's next state. Keeping the
rules here, apart from the HTTP and the database, lets them be read in one place and tested as a table.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils.translation import gettext as _

from webhooks.engine.retry_policy import RetryPolicy, retry_delay
from webhooks.models import Delivery

# A Retry-After is honoured up to a day: a huge one would overflow the datetime and park the webhook.
RETRY_AFTER_CAP = 86400


@dataclass(frozen=True)
class AttemptFacts:
    """What the attempt told us, reduced to what the rules need."""

    succeeded: bool
    status_code: int | None = None
    retry_after: int | None = None  # seconds, from a 429 or 503
    location: str = ""  # of a 3xx
    # No answer is known: the worker sending it died (its claim expired). The receiver may have it.
    worker_lost: bool = False


@dataclass(frozen=True)
class Outcome:
    status: str  # a Delivery.Status
    next_attempt_at: datetime | None = None
    # The whole webhook waits until then (429/503 with Retry-After).
    throttle_until: datetime | None = None
    # The receiver says the endpoint is gone: the webhook is marked gone (and paused).
    webhook_gone: bool = False
    # Why no retry follows, when that is not the attempt's own error.
    final_reason: str = ""


def outcome_decide(
    *,
    facts: AttemptFacts,
    auto_retry: bool,
    retry_delays: list[int] | None = None,
    policy: RetryPolicy | None = None,
    delivery_id: str = "",
    retries_done: int,
    retryable_message: bool,
    cancelled: bool,
    now: datetime,
) -> Outcome:
    """The next state of a delivery after one attempt.

    - 2xx: succeeded.
    - 410 Gone: failed at once, no retry; the webhook is gone (the receiver said so).
    - 3xx: failed at once, no retry (redirects are never followed; the reason names the Location).
    - anything else failed: retried while the webhook's policy has retries left, the message may be
      retried (a test send may not) and nobody cancelled it; else failed (or cancelled). The delay of
      retry n is the policy's (retry_policy.retry_delay; `retry_delays` alone is DM Hub's policy).
    - 429/503 with Retry-After: the retry waits at least that long, and so does the whole webhook.
    - worker lost (no answer known): sent again at once, even without automatic retry (delivery is
      at least once), while the policy's retries last (at least one): a delivery that kills its
      worker cannot loop for ever.
    """
    if facts.succeeded:
        return Outcome(status=Delivery.Status.SUCCEEDED)
    if policy is None:
        policy = RetryPolicy(dmhub_delays=tuple(retry_delays or ()))
    throttle_until = None
    if facts.retry_after is not None and facts.status_code in (429, 503):
        throttle_until = now + timedelta(seconds=min(max(facts.retry_after, 0), RETRY_AFTER_CAP))
    if cancelled:
        return Outcome(status=Delivery.Status.CANCELLED, throttle_until=throttle_until)
    if facts.worker_lost:
        if retries_done < max(1, policy.retries):
            return Outcome(status=Delivery.Status.RETRYING, next_attempt_at=now)
        return Outcome(status=Delivery.Status.FAILED)
    code = facts.status_code or 0
    if code == 410:
        return Outcome(
            status=Delivery.Status.FAILED,
            webhook_gone=True,
            final_reason=_("The receiver answered 410 Gone: not retried, and the webhook is paused."),
        )
    if 300 <= code < 400:
        return Outcome(status=Delivery.Status.FAILED, final_reason=_("Redirects are not followed: not retried."))
    seconds = retry_delay(policy, retries_done + 1, delivery_id)
    if auto_retry and retryable_message and seconds is not None:
        delay = timedelta(seconds=seconds)
        due = now + delay
        if throttle_until is not None and throttle_until > due:
            due = throttle_until
        return Outcome(status=Delivery.Status.RETRYING, next_attempt_at=due, throttle_until=throttle_until)
    return Outcome(status=Delivery.Status.FAILED, throttle_until=throttle_until)
