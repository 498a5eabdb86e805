"""What a chaos run will do, decided up front from its seed: the clients, calls and faults.

Deciding everything before the run starts keeps the choices the same for a seed however the
run's tasks interleave; only the timing differs from run to run.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from libs.events.catalogue import ALL_SERVICES
from libs.events.values import OfficeHours
from libs.office_hours import office_open

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
DEFAULT_DAY = date(2026, 11, 10)  # a Tuesday, no Dutch public holiday
OPENING = time(9, 0)
CLOCK_STEP = timedelta(seconds=60)
"""How far the simulated clock moves every CLOCK_EVERY calls during the traffic."""
CLOCK_EVERY = 10
FaultKind = Literal["kill", "broker", "postgres"]
NON_BILLABLE_REASONS = (
    "wrong_number",
    "urgent_family_matter",
    "caller_follows_up_themselves",
    "incomplete_intake",
)


@dataclass(frozen=True)
class ChaosOptions:
    """How big a chaos run is, its seed, and where its stack lives."""

    seed: int = 1
    calls: int = 300
    kills: int = 50
    broker_stops: int = 5
    pg_restarts: int = 5
    concurrency: int = 4
    day: date = DEFAULT_DAY
    home: Path | None = None
    """A new or empty folder for the stack (default: a new temporary folder)."""
    port_offset: int = 600
    kafka_port: int | None = None
    """Kafka's port (its controller takes the next one); default 9092 + port_offset."""
    settle_seconds: float = 240.0

    def check(self) -> None:
        """Refuse options a run cannot honour."""
        if min(self.calls, self.concurrency) < 1:
            raise ValueError("a run needs at least one call and one concurrent caller")
        if min(self.kills, self.broker_stops, self.pg_restarts) < 0:
            raise ValueError("fault counts cannot be negative")
        opens = datetime.combine(self.day, OPENING, AMSTERDAM)
        if not office_open(OfficeHours(), opens) or not office_open(
            OfficeHours(), opens + timedelta(hours=6)
        ):
            raise ValueError(f"{self.day} is not a Dutch working day")


@dataclass(frozen=True)
class ClientSpec:
    """A client the run registers through intake."""

    name: str
    language: str
    notification: Literal["daily_digest", "per_call"]
    email_handling_fee_cents: int | None
    cold_calls_free: bool
    numbers: tuple[str, ...]

    @property
    def email(self) -> str:
        """The client's contact and notification address."""
        slug = "".join(c for c in self.name.lower() if c.isascii() and c.isalnum())[:20]
        return f"office@{slug}.example"

    def registration(self) -> dict[str, Any]:
        """The body of `POST /clients`."""
        fee = self.email_handling_fee_cents
        handling = {"enabled": fee is not None, "monthly_fee_cents": fee or 0}
        return {
            "name": self.name,
            "contact_email": self.email,
            "language": self.language,
            "plan": {"mode": "per_call"},
            "email_handling": handling,
            "notification": {"mode": self.notification, "recipients": [self.email]},
            "cold_calls_free": self.cold_calls_free,
        }

    def book(self) -> dict[str, Any]:
        """The body of `PUT /clients/{id}/book`: one urgency rule, two escalation contacts."""
        return {
            "greeting": f"{self.name}, good morning, you are speaking with ...",
            "instructions": "Take name and number; leaks and outages are urgent.",
            "faq": [{"question": "Opening hours?", "answer": "Mon-Fri 08:00-17:00"}],
            "urgency_rules": [
                {"kind": "outage", "description": "Outage or leak", "channels": ["email", "sms"]}
            ],
            "escalation_contacts": [
                {"name": "On call", "email": f"oncall@{self.email.split('@')[1]}"},
                {"name": "Owner", "phone": "+31612345678", "email": self.email},
            ],
        }


CLIENTS = (
    ClientSpec("Installatiebedrijf Bakker B.V.", "nl", "daily_digest", None, True,
               ("+31851000101", "+31851000102")),
    ClientSpec("Zahnarztpraxis Keller", "de", "per_call", None, False, ("+31851000201",)),
    ClientSpec("Cabinet Dupont Avocats", "fr", "daily_digest", 2500, False, ("+31851000301",)),
    ClientSpec("Harbour Lane Consulting", "en", "per_call", 1500, True, ("+31851000401",)),
)  # fmt: skip
OPERATORS = (
    ("op-anna", "Anna de Boer", ("nl", "en")),
    ("op-jens", "Jens Keller", ("de", "en")),
    ("op-claire", "Claire Martin", ("fr", "en")),
    ("op-sam", "Sam Jansen", ("nl", "de", "fr", "en")),
)


@dataclass(frozen=True)
class CallPlan:
    """One call: who is dialled, who answers, and what happens on it."""

    index: int
    client: ClientSpec
    number: str
    caller: str
    operator: str
    escalate: bool
    non_billable: str | None


@dataclass(frozen=True)
class FaultPlan:
    """A fault injected before the call `at_call` starts."""

    at_call: int
    kind: FaultKind
    service: str | None = None
    down_seconds: float = 0.0


@dataclass(frozen=True)
class ClockStep:
    """Before call `at_call`, one service is asked to set the shared clock to `to`."""

    at_call: int
    to: datetime
    service: str


@dataclass(frozen=True)
class Plan:
    """Everything a run will do, in order."""

    start: datetime
    calls: tuple[CallPlan, ...]
    faults: tuple[FaultPlan, ...]
    clock_steps: tuple[ClockStep, ...] = field(default=())

    def faults_at(self, index: int) -> list[FaultPlan]:
        """The faults due before call `index`."""
        return [f for f in self.faults if f.at_call == index]

    def clock_at(self, index: int) -> ClockStep | None:
        """The clock step due before call `index`, if any."""
        return next((s for s in self.clock_steps if s.at_call == index), None)


def make_plan(options: ChaosOptions) -> Plan:
    """The plan of a run, from its seed."""
    rng = random.Random(options.seed)
    start = datetime.combine(options.day, OPENING, AMSTERDAM)
    calls = tuple(_call(rng, index) for index in range(options.calls))
    return Plan(start, calls, _faults(rng, options), _clock_steps(rng, start, options.calls))


def _call(rng: random.Random, index: int) -> CallPlan:
    client = rng.choice(CLIENTS)
    speakers = [op for op, _, languages in OPERATORS if client.language in languages]
    reasons = [*NON_BILLABLE_REASONS, *(["cold_call"] if client.cold_calls_free else [])]
    return CallPlan(
        index=index,
        client=client,
        number=rng.choice(client.numbers),
        caller=f"+3161{rng.randrange(10**7):07d}",
        operator=rng.choice(speakers),
        escalate=rng.random() < 0.1,
        non_billable=rng.choice(reasons) if rng.random() < 0.1 else None,
    )


def _faults(rng: random.Random, options: ChaosOptions) -> tuple[FaultPlan, ...]:
    kinds: list[FaultKind] = ["kill"] * options.kills
    kinds += ["broker"] * options.broker_stops
    kinds += ["postgres"] * options.pg_restarts
    rng.shuffle(kinds)
    # Never before the first call: the traffic should be flowing when the first fault hits.
    points = sorted(rng.randrange(1, options.calls) if options.calls > 1 else 0 for _ in kinds)
    return tuple(_fault(rng, kind, at) for kind, at in zip(kinds, points, strict=True))


def _fault(rng: random.Random, kind: FaultKind, at: int) -> FaultPlan:
    if kind == "kill":
        return FaultPlan(at, kind, service=rng.choice(ALL_SERVICES))
    low, high = (2.0, 6.0) if kind == "broker" else (1.0, 3.0)
    return FaultPlan(at, kind, down_seconds=round(rng.uniform(low, high), 1))


def _clock_steps(rng: random.Random, start: datetime, calls: int) -> tuple[ClockStep, ...]:
    return tuple(
        ClockStep(at, start + CLOCK_STEP * (at // CLOCK_EVERY), rng.choice(ALL_SERVICES))
        for at in range(CLOCK_EVERY, calls, CLOCK_EVERY)
    )
