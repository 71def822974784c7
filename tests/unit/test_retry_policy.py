"""Retry policies as a table of the pure function, the typed custom schedules, the schedule in words, and
outcome_decide using the policy."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import translation

from webhooks.engine.outcome import AttemptFacts, outcome_decide
from webhooks.engine.retry_policy import (
    DelaysError,
    RetryPolicy,
    RetryPolicyKind,
    delays_parse,
    delays_text,
    retry_delay,
    retry_schedule,
    schedule_words,
)
from webhooks.models import Delivery

DMHUB = RetryPolicy(kind=RetryPolicyKind.DMHUB, dmhub_delays=(1800, 3600, 5400))
EXTENDED = RetryPolicy(kind=RetryPolicyKind.EXTENDED, base_delay=300)
CUSTOM = RetryPolicy(kind=RetryPolicyKind.CUSTOM, custom_delays=(60, 600, 86400))
ID = "0123456789abcdef0123456789abcdef"
MINUTE, HOUR = 60, 3600


@pytest.mark.parametrize(
    ("policy", "number", "delivery_id", "expected"),
    [
        (DMHUB, 1, ID, 1800),  # DM Hub's: 30, 60, 90 minutes, no jitter
        (DMHUB, 2, ID, 3600),
        (DMHUB, 3, ID, 5400),
        (DMHUB, 4, ID, None),  # no fourth retry
        (DMHUB, 0, ID, None),
        (EXTENDED, 1, "", 5 * MINUTE),  # without an id (the preview): the plain schedule
        (EXTENDED, 2, "", 10 * MINUTE),
        (EXTENDED, 5, "", 80 * MINUTE),
        (EXTENDED, 8, "", 640 * MINUTE),
        (EXTENDED, 9, "", 1280 * MINUTE),
        (EXTENDED, 10, "", 24 * HOUR),  # capped at a day
        (EXTENDED, 11, "", None),
        (CUSTOM, 1, ID, 60),
        (CUSTOM, 3, ID, 86400),
        (CUSTOM, 4, ID, None),
        (RetryPolicy(kind=RetryPolicyKind.CUSTOM), 1, ID, None),  # an empty custom list: no retries
    ],
)
def test_retry_delay_table(policy, number, delivery_id, expected):
    assert retry_delay(policy, number, delivery_id) == expected


def test_extended_jitter_is_within_ten_percent_and_the_same_for_the_same_delivery():
    plain = retry_schedule(EXTENDED)
    for delivery_id in (ID, "f" * 32, "a1" * 16):
        jittered = retry_schedule(EXTENDED, delivery_id)
        assert jittered == retry_schedule(EXTENDED, delivery_id)
        for base, delay in zip(plain, jittered, strict=True):
            assert base * 0.9 - 1 <= delay <= base * 1.1 + 1
    assert retry_schedule(EXTENDED, ID) != retry_schedule(EXTENDED, "f" * 32)
    total = sum(plain)
    assert 2.5 * 86400 <= total <= 3 * 86400  # about 3 days in all
    assert len(plain) == 10


def test_extended_is_test_sized_by_its_base_delay():
    small = RetryPolicy(kind=RetryPolicyKind.EXTENDED, base_delay=1)
    assert retry_schedule(small) == [1, 2, 4, 8, 16, 32, 64, 128, 256, 288]


@pytest.mark.parametrize(
    ("typed", "seconds"),
    [
        ("30m, 2h, 1d", [1800, 7200, 86400]),
        ("5", [300]),  # a bare number is minutes
        ("45s 1.5h", [45, 5400]),
        ("1m\uff0c10m\uff1b1h", [60, 600, 3600]),  # full-width comma and semicolon (a Chinese keyboard)
        ("", []),
        ([30, 60], [30, 60]),  # the Open API sends seconds
    ],
)
def test_delays_parse(typed, seconds):
    assert delays_parse(typed) == seconds


@pytest.mark.parametrize("typed", ["soon", "0s", "8d", "-5m", ",".join(["1m"] * 21), [True]])
def test_delays_parse_refuses(typed):
    with pytest.raises(DelaysError):
        delays_parse(typed)


def test_delays_text_round_trips():
    assert delays_text([1800, 7200, 86400, 45]) == "30m, 2h, 1d, 45s"
    assert delays_parse(delays_text([1800, 7200, 86400, 45])) == [1800, 7200, 86400, 45]


def test_schedule_in_words_english_and_chinese():
    with translation.override("en"):
        lines = schedule_words(DMHUB)
        assert lines[0] == "Retry 1: 30 minutes after the failure"
        assert lines[2] == "Retry 3: 1 hour 30 minutes after the failure"
        assert lines[-1] == "Last retry about 3 hours after the first attempt."
        assert schedule_words(EXTENDED)[0] == "Retry 1: about 5 minutes after the failure"
        assert schedule_words(DMHUB, auto_retry=False) == ["Automatic retry is off: a failed delivery is not retried."]
    with translation.override("zh-hans"):
        assert schedule_words(DMHUB)[0] == "第 1 次重试：失败后 30 分钟"  # noqa: RUF001


NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("policy", "done", "status", "due_in"),
    [
        (EXTENDED, 0, Delivery.Status.RETRYING, retry_delay(EXTENDED, 1, ID)),
        (EXTENDED, 9, Delivery.Status.RETRYING, retry_delay(EXTENDED, 10, ID)),
        (EXTENDED, 10, Delivery.Status.FAILED, None),
        (CUSTOM, 2, Delivery.Status.RETRYING, 86400),
        (CUSTOM, 3, Delivery.Status.FAILED, None),
    ],
)
def test_outcome_decide_uses_the_policy(policy, done, status, due_in):
    outcome = outcome_decide(
        facts=AttemptFacts(succeeded=False, status_code=500),
        auto_retry=True,
        policy=policy,
        delivery_id=ID,
        retries_done=done,
        retryable_message=True,
        cancelled=False,
        now=NOW,
    )
    assert outcome.status == status
    assert outcome.next_attempt_at == (NOW + timedelta(seconds=due_in) if due_in else None)


def test_a_lost_worker_may_retry_as_often_as_the_policy_allows():
    def lost(done):
        return outcome_decide(
            facts=AttemptFacts(succeeded=False, worker_lost=True),
            auto_retry=False,
            policy=EXTENDED,
            delivery_id=ID,
            retries_done=done,
            retryable_message=True,
            cancelled=False,
            now=NOW,
        ).status

    assert lost(9) == Delivery.Status.RETRYING
    assert lost(10) == Delivery.Status.FAILED
