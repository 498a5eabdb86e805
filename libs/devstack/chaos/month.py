"""After the traffic: the clock past the digest time, to the next working day, into the next
month, and the month's invoice run (twice: the second run must issue nothing)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from uuid import UUID

from libs.devstack.chaos.driver import Answer
from libs.devstack.chaos.plan import AMSTERDAM
from libs.devstack.chaos.settle import Settled, move_clock, settle, stale_clocks
from libs.devstack.chaos.world import Context
from libs.events.values import OfficeHours
from libs.office_hours import office_open

AFTER_DIGEST = time(17, 20)  # the default digest time is 17:15
INVOICE_MORNING = time(9, 0)


@dataclass
class MonthEnd:
    """What closing the month took: each wait for quiet, stale clocks seen, both runs."""

    settled: list[Settled] = field(default_factory=list)
    stale: dict[str, dict[str, str]] = field(default_factory=dict)
    """Per clock move, the services that had not followed it."""
    runs: list[Answer] = field(default_factory=list)

    @property
    def period(self) -> str:
        """The invoiced month, as the runs were asked for it."""
        return str(self.runs[0].body.get("period", "")) if self.runs else ""


def moments(day: date) -> list[tuple[str, datetime]]:
    """The instants the clock is moved to after the traffic, in order."""
    after = datetime.combine(day, AFTER_DIGEST, AMSTERDAM)
    following = _next_working_day(day)
    month = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    invoicing = datetime.combine(month, INVOICE_MORNING, AMSTERDAM)
    found = [
        ("the digest time", after),
        (
            "the next working day's digest time",
            datetime.combine(following, AFTER_DIGEST, AMSTERDAM),
        ),
        ("the next month", invoicing),
    ]
    return sorted(found, key=lambda item: item[1])


def _next_working_day(day: date) -> date:
    following = day + timedelta(days=1)
    while not office_open(OfficeHours(), datetime.combine(following, time(12), AMSTERDAM)):
        following += timedelta(days=1)
    return following


async def close_month(ctx: Context, calls: Collection[UUID]) -> MonthEnd:
    """Send the digests, move into the next month and invoice the traffic's month."""
    month = MonthEnd()
    for label, instant in moments(ctx.options.day):
        await move_clock(ctx, instant)
        month.stale[label] = await stale_clocks(ctx)
        month.settled.append(await settle(ctx, f"after moving to {label}", calls))
    period = {"period": f"{ctx.options.day:%Y-%m}"}
    url = ctx.url("billing", "/invoices/run")
    for _ in range(2):
        month.runs.append(await ctx.driver.send("POST", url, "POST /invoices/run", period))
    month.settled.append(await settle(ctx, "after the invoice run", calls))
    return month
