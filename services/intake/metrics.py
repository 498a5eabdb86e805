"""Prometheus metrics of intake; labels are bounded (none per client)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from services.intake.domain.onboarding import LEAD_TIME_TARGET, lead_time
from services.intake.domain.state import ClientState

LEAD_TIME_TARGET_SECONDS = LEAD_TIME_TARGET.total_seconds()
ONBOARDING_LEAD_TIME = Histogram(
    "frontdesk_intake_onboarding_lead_time_seconds",
    "Working time (Mon-Fri 08:00-17:00, Amsterdam) from a complete intake form to the "
    "client's activation (target: half a working day, 16200 s).",
    buckets=(900, 1800, 3600, 7200, 10800, 14400, LEAD_TIME_TARGET_SECONDS, 21600, 32400,
             64800, 162000),
)  # fmt: skip
WAITING_OVER_TARGET = Gauge(
    "frontdesk_intake_onboarding_waiting_over_target",
    "Clients whose complete intake form waits longer than the target (half a working day "
    "of the bureau's hours) for activation; every instance counts the same table.",
)
ONBOARDING_STEPS = Counter(
    "frontdesk_intake_onboarding_steps_total",
    "Onboarding steps recorded, by step.",
    ["step"],
)


def activated(client: ClientState | None) -> None:
    """Observe the lead time of a client just activated (none for one without onboarding)."""
    onboarding = None if client is None else client.onboarding
    took = None if onboarding is None else lead_time(onboarding)
    if took is not None:
        ONBOARDING_LEAD_TIME.observe(took.total_seconds())
