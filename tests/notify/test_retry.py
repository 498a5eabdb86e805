"""The retry and give-up rule of a delivery, and the settings that feed it (no I/O)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from services.notify.domain.retry import (
    GiveUp,
    RetryPolicy,
    claim_allowed,
    next_attempt,
    worth_another_try,
)
from services.notify.settings import NotifySettings

POLICY = RetryPolicy(max_claims=4, tries_per_claim=3, base_seconds=1.0)


def test_a_transient_failure_waits_ten_pauses_doubling_per_claim() -> None:
    pauses = [next_attempt(POLICY, attempts, permanent=False) for attempts in (1, 2, 3)]
    assert pauses == [timedelta(seconds=s) for s in (10, 20, 40)]


def test_the_pause_between_claims_is_capped_at_an_hour() -> None:
    patient = RetryPolicy(max_claims=100, base_seconds=60)
    assert next_attempt(patient, 20, permanent=False) == timedelta(hours=1)


def test_a_permanent_failure_gives_up_at_once() -> None:
    assert isinstance(next_attempt(POLICY, 1, permanent=True), GiveUp)
    assert not worth_another_try(permanent=True)
    assert worth_another_try(permanent=False)


def test_the_last_claims_failure_is_final() -> None:
    assert isinstance(next_attempt(POLICY, 3, permanent=False), timedelta)
    assert isinstance(next_attempt(POLICY, 4, permanent=False), GiveUp)


def test_a_claim_past_the_last_sends_nothing_and_says_how_many_went_before() -> None:
    assert claim_allowed(POLICY, 4) is None
    assert claim_allowed(POLICY, 5) == GiveUp("gave up after 4 attempts")


def test_the_settings_name_the_policy_and_the_lease_outlasts_its_longest_claim() -> None:
    settings = NotifySettings(max_claims=5, send_attempts=2, retry_base_seconds=0.5)
    policy = settings.retry_policy
    assert (policy.max_claims, policy.tries_per_claim, policy.base_seconds) == (5, 2, 0.5)
    assert policy.max_pause_seconds == 4.0
    assert policy.longest_claim(settings.send_seconds) == 2 * 30 + 4.0
    with pytest.raises(ValidationError, match="lease_seconds"):
        NotifySettings(send_attempts=3, lease_seconds=60)
