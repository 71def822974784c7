"""The outcome rules as a table: status class × automatic retry × Retry-After × cancelled × last retry."""

from datetime import UTC, datetime, timedelta

import pytest

from webhooks.engine.outcome import AttemptFacts, outcome_decide
from webhooks.models import Delivery

NOW = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
DELAYS = [1800, 3600, 5400]
S = Delivery.Status


def decide(code, *, retry=True, retry_after=None, cancelled=False, done=0, retryable=True, ok=None):
    facts = AttemptFacts(
        succeeded=ok if ok is not None else (code is not None and 200 <= code < 300),
        status_code=code,
        retry_after=retry_after,
    )
    return outcome_decide(
        facts=facts,
        auto_retry=retry,
        retry_delays=DELAYS,
        retries_done=done,
        retryable_message=retryable,
        cancelled=cancelled,
        now=NOW,
    )


@pytest.mark.parametrize(
    ("code", "retry", "retry_after", "cancelled", "done", "status", "due_in", "gone"),
    [
        (200, True, None, False, 0, S.SUCCEEDED, None, False),
        (204, False, None, True, 3, S.SUCCEEDED, None, False),  # an answer that arrived still counts
        (500, True, None, False, 0, S.RETRYING, 1800, False),
        (500, True, None, False, 1, S.RETRYING, 3600, False),
        (500, True, None, False, 2, S.RETRYING, 5400, False),
        (500, True, None, False, 3, S.FAILED, None, False),  # the last retry spent
        (500, False, None, False, 0, S.FAILED, None, False),  # automatic retry off
        (500, True, None, True, 0, S.CANCELLED, None, False),  # the send was stopped
        (None, True, None, False, 0, S.RETRYING, 1800, False),  # timeout, refused, reset
        (404, True, None, False, 0, S.RETRYING, 1800, False),
        (429, True, 7200, False, 0, S.RETRYING, 7200, False),  # Retry-After longer than the delay wins
        (429, True, 60, False, 0, S.RETRYING, 1800, False),  # shorter: the policy's delay
        (503, True, 10**9, False, 0, S.RETRYING, 86400, False),  # capped at a day
        (503, False, 60, False, 0, S.FAILED, None, False),
        (410, True, None, False, 0, S.FAILED, None, True),  # Gone: at once, and the webhook is gone
        (410, False, None, False, 0, S.FAILED, None, True),
        (410, True, None, True, 0, S.CANCELLED, None, False),
        (301, True, None, False, 0, S.FAILED, None, False),  # redirects are never retried
        (302, True, None, False, 0, S.FAILED, None, False),
        (307, False, None, False, 0, S.FAILED, None, False),
    ],
)
def test_outcome_table(code, retry, retry_after, cancelled, done, status, due_in, gone):
    outcome = decide(code, retry=retry, retry_after=retry_after, cancelled=cancelled, done=done)
    assert outcome.status == status
    assert outcome.next_attempt_at == (NOW + timedelta(seconds=due_in) if due_in else None)
    assert outcome.webhook_gone is gone


def test_retry_after_slows_the_whole_webhook_even_without_a_retry():
    assert decide(429, retry=False, retry_after=30).throttle_until == NOW + timedelta(seconds=30)
    assert decide(503, retry_after=30).throttle_until == NOW + timedelta(seconds=30)
    assert decide(500, retry_after=30).throttle_until is None  # only 429 and 503 carry it


def test_a_test_send_is_never_retried():
    assert decide(500, retryable=False).status == S.FAILED


def test_the_reason_says_why_no_retry_follows():
    assert "410" in decide(410).final_reason
    assert "Redirects" in decide(302).final_reason


def test_a_lost_attempt_is_sent_again_at_once_even_without_automatic_retry_but_not_for_ever():
    lost = AttemptFacts(succeeded=False, worker_lost=True)
    common = {"retry_delays": DELAYS, "retryable_message": True, "cancelled": False, "now": NOW}
    again = outcome_decide(facts=lost, auto_retry=False, retries_done=0, **common)
    assert again.status == S.RETRYING
    assert again.next_attempt_at == NOW
    assert outcome_decide(facts=lost, auto_retry=True, retries_done=3, **common).status == S.FAILED
    assert (
        outcome_decide(
            facts=lost,
            auto_retry=False,
            retries_done=1,
            retry_delays=[],
            retryable_message=True,
            cancelled=False,
            now=NOW,
        ).status
        == S.FAILED
    )
    assert outcome_decide(facts=lost, auto_retry=True, retries_done=0, **{**common, "cancelled": True}).status == (
        S.CANCELLED
    )
