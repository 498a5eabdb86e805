"""How hard a notification is tried, and when a failure is final. Pure.

A notification is sent in claims: the sender claims its row, tries up to `tries_per_claim`
times with short pauses, and on a transient failure puts the row back with a longer pause
that doubles per claim. A permanent failure (the other side refused the message itself) or
the last claim's failure gives up. A claim beyond the last one exists only when earlier
claims never recorded their outcome (the sender died mid-send); it sends nothing more.

Pauses are durations, not instants: the queue measures them on the database's real clock
(how long a process has been silent), never on the business clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

BACKOFF_FACTOR = 10
"""A pause between claims starts at this many pauses within a claim."""


@dataclass(frozen=True)
class RetryPolicy:
    """Claims before giving up, tries per claim, and the pauses between them."""

    max_claims: int = 12
    tries_per_claim: int = 3
    base_seconds: float = 1.0
    max_backoff_seconds: float = 3600.0

    @property
    def max_pause_seconds(self) -> float:
        """The longest pause between two tries within one claim."""
        return 8 * self.base_seconds

    def longest_claim(self, send_seconds: float) -> float:
        """Seconds one claim may last: every try timing out, with the pauses between."""
        return self.tries_per_claim * send_seconds + (self.tries_per_claim - 1) * (
            self.max_pause_seconds
        )


@dataclass(frozen=True)
class GiveUp:
    """The notification is failed for good: no further claim follows."""

    reason: str


def claim_allowed(policy: RetryPolicy, attempts: int) -> GiveUp | None:
    """None when claim number `attempts` may send; GiveUp once the claims are spent."""
    if attempts > policy.max_claims:
        return GiveUp(f"gave up after {attempts - 1} attempts")
    return None


def worth_another_try(permanent: bool) -> bool:
    """Whether a failed try is repeated (within the claim, or by a later one)."""
    return not permanent


def next_attempt(policy: RetryPolicy, attempts: int, permanent: bool) -> timedelta | GiveUp:
    """After claim number `attempts` failed: the pause before the next claim, or GiveUp."""
    if not worth_another_try(permanent):
        return GiveUp("refused for good")
    if attempts >= policy.max_claims:
        return GiveUp(f"still failing after {attempts} attempts")
    seconds = policy.base_seconds * BACKOFF_FACTOR * 2 ** (attempts - 1)
    return timedelta(seconds=min(seconds, policy.max_backoff_seconds))
