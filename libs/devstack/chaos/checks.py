"""The invariants of a chaos run, each a pure function of what the run saw and read."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from libs.devstack.chaos.driver import Tally
from libs.devstack.chaos.evidence import Evidence
from libs.devstack.chaos.month import MonthEnd
from libs.devstack.chaos.settle import Settled
from libs.devstack.supervisor import Restart

REPORTING_KINDS = frozenset({"per_call", "daily_digest", "voicemail_summary"})
"""Notifications that bring a call's message to the client (and make it billable)."""


@dataclass(frozen=True)
class Check:
    """One invariant: whether it held, and the figures behind the verdict."""

    name: str
    ok: bool
    detail: str


def _some(ids: Iterable[object], limit: int = 3) -> str:
    found = [str(i) for i in ids]
    return f" (e.g. {', '.join(found[:limit])})" if found else ""


def accepted_present(ev: Evidence) -> Check:
    """Every call the calls API accepted with 201 can be read back."""
    missing = [i for i, a in ev.calls.items() if a.status != 200]
    present = len(ev.calls) - len(missing)
    return Check("every accepted call present", not missing,
                 f"{present}/{len(ev.calls)} present{_some(missing)}")  # fmt: skip


def routed_once(ev: Evidence) -> Check:
    """Routing shows a route for every accepted call, from exactly one CallRouted."""
    no_route = {i for i, a in ev.routes.items() if not a.ok or a.body.get("route") is None}
    never = {i for i in ev.routes if ev.routed_events[i] == 0}
    twice = {i for i in ev.routes if ev.routed_events[i] > 1}
    bad = no_route | never | twice
    detail = (
        f"{len(ev.routes) - len(bad)}/{len(ev.routes)} routed once; no route {len(no_route)}, "
        f"no CallRouted {len(never)}, CallRouted twice {len(twice)}{_some(bad)}"
    )
    return Check("routed exactly once", not bad, detail)


def mails_per_call(ev: Evidence) -> Counter[UUID]:
    """Sent e-mail notifications that report each call."""
    found: Counter[UUID] = Counter()
    for n in _reporting(ev.notifications):
        found.update(UUID(c) for c in n["call_ids"])
    return found


def _reporting(notifications: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        n
        for n in notifications
        if n["channel"] == "email" and n["kind"] in REPORTING_KINDS and n["state"] == "sent"
    ]


def _expected_mails(call: dict[str, Any], per_call: bool) -> int:
    # A per-call client gets a mail per note ("updated"); a digest reports a call once.
    notes = int(call["notes_count"])
    return notes if per_call and notes else min(notes, 1)


def mailed_once(ev: Evidence, per_call_clients: set[UUID]) -> Check:
    """Each noted call is in one sent mail (per note for per-call clients), each in the Maildir."""
    mails = mails_per_call(ev)
    read = {i: a.body for i, a in ev.calls.items() if a.ok}
    wrong = {
        i: mails[i]
        for i, call in read.items()
        if mails[i] != _expected_mails(call, UUID(call["client_id"]) in per_call_clients)
    }
    never = [i for i, n in wrong.items() if n == 0]
    recorded = {n["message_id"] for n in _reporting(ev.notifications)}
    undelivered = [m for m in recorded if not ev.mailbox.deliveries[m]]
    unrecorded = [
        m for m, k in ev.mailbox.kinds.items() if k in REPORTING_KINDS and m not in recorded
    ]
    noted = sum(1 for call in read.values() if call["notes_count"])
    detail = (
        f"{noted - len(wrong)}/{noted} noted calls mailed as expected; never mailed "
        f"{len(never)}, mailed too often {len(wrong) - len(never)}; sent but not in the "
        f"Maildir {len(undelivered)}; in the Maildir but not sent {len(unrecorded)}{_some(wrong)}"
    )
    return Check("mailed exactly once", not (wrong or undelivered or unrecorded), detail)


def invoice_lines(ev: Evidence) -> dict[UUID, list[str]]:
    """For each call on an invoice, the invoice of every line naming it."""
    found: dict[UUID, list[str]] = {}
    for invoice in ev.invoices:
        for line in invoice["lines"]:
            for call_id in line["call_ids"]:
                found.setdefault(UUID(call_id), []).append(invoice["invoice_id"])
    return found


def billed_once(ev: Evidence) -> Check:
    """Each billable call is on exactly one invoice line; nothing else is billed."""
    mails, lines = mails_per_call(ev), invoice_lines(ev)
    billable = {
        i for i, a in ev.calls.items() if a.ok and mails[i] and a.body["non_billable"] is None
    }
    missing = [i for i in billable if i not in lines]
    repeated = [i for i in billable if len(lines.get(i, ())) > 1]
    two_invoices = [i for i, found in lines.items() if len(set(found)) > 1]
    stray = [i for i in lines if i not in billable]
    bad = [*missing, *repeated, *two_invoices, *stray]
    detail = (
        f"{len(billable) - len(missing) - len(repeated)}/{len(billable)} billable calls on one "
        f"line; not billed {len(missing)}, on several lines {len(repeated)}, on two invoices "
        f"{len(two_invoices)}, billed but not billable {len(stray)}{_some(bad)}"
    )
    return Check("billed exactly once", not bad and not ev.unread, detail)


def one_digest_a_day(ev: Evidence) -> Check:
    """No client got two digests for one day."""
    sent = [d for d in ev.digests if d.state == "sent"]
    per_day = Counter((d.client_id, d.day) for d in sent)
    doubled = [f"{client}:{day}" for (client, day), n in per_day.items() if n > 1]
    delivered = sum(1 for d in sent if ev.mailbox.deliveries[d.message_id])
    detail = f"{len(sent)} digests sent, {delivered} in the Maildir; doubled days {len(doubled)}"
    return Check("no duplicate digest per (client, day)", not doubled, detail + _some(doubled))


def invoices_replay(ev: Evidence) -> Check:
    """Every monthly invoice is what a replay of the log computes."""
    differ = [
        invoice_id
        for invoice_id, answer in ev.replays.items()
        if not answer.ok or not answer.body["difference"]["matches"]
    ]
    detail = f"{len(ev.replays) - len(differ)}/{len(ev.replays)} invoices equal their replay"
    return Check("every invoice equals a replay", not differ, detail + _some(differ))


def no_stuck_outbox(ev: Evidence) -> Check:
    """Nothing is left in an outbox or in notify's send queue."""
    stuck = {s: n for s, n in ev.outbox.items() if n}
    ok = not stuck and ev.queued == 0 and bool(ev.outbox)
    detail = f"outbox rows {dict(stuck) or 0}, notifications unsent {ev.queued}"
    return Check("no stuck outbox", ok, detail)


def no_stale_clock(looks: Sequence[dict[str, str]]) -> Check:
    """Every service followed every move of the shared clock (within a few seconds)."""
    behind: Counter[str] = Counter()
    last: dict[str, str] = {}
    for found in looks:
        behind.update(found.keys())
        last |= found
    detail = "; ".join(f"{s} behind at {n} of {len(looks)} looks (last: {last[s]})"
                       for s, n in behind.items())  # fmt: skip
    return Check("no stale clock", not behind, detail or f"{len(looks)} looks, all in step")


def no_server_errors(tallies: Sequence[Tally]) -> Check:
    """No answer of any service was a 5xx other than 503."""
    errors: Counter[str] = Counter()
    for tally in tallies:
        errors.update(tally.server_errors)
    kinds = ", ".join(f"{kind}: {n}" for kind, n in errors.most_common())
    detail = f"{errors.total()} answers 5xx (not 503)" + (f": {kinds}" if kinds else "")
    return Check("no 5xx other than 503", not errors, detail)


def no_dead_letters(ev: Evidence) -> Check:
    """No consumer gave up on a message."""
    parked = {topic: n for topic, n in ev.dead_letters.items() if n}
    ok = not parked and bool(ev.dead_letters)
    return Check("no dead letters", ok, f"dead-lettered records {parked or 0}")


def all_settled(settles: Sequence[Settled]) -> Check:
    """After each phase the stack became quiet within the settle time."""
    stuck = [s for s in settles if not s.ok]
    detail = "; ".join(f"{s.what}: {', '.join(s.pending[:3])}" for s in stuck)
    return Check("settled after every phase", not stuck, detail or f"{len(settles)} phases")


def no_unplanned_exits(restarts: Sequence[Restart]) -> Check:
    """Only the run's own SIGKILLs ended a service; none stopped answering its probe."""
    other = [r for r in restarts if r.reason == "unresponsive" or r.exit_code != -9]
    detail = ", ".join(f"{r.service} {r.reason} ({r.exit_code})" for r in other[:5])
    return Check(
        "no unplanned exits", not other, detail or f"{len(restarts)} restarts, all after SIGKILL"
    )


def invoice_run_idempotent(month: MonthEnd) -> Check:
    """The second invoice run issues nothing and names the invoices of the first."""
    if len(month.runs) != 2 or not all(run.ok for run in month.runs):
        return Check("invoice run idempotent", False, ", ".join(r.describe() for r in month.runs))
    first, second = (run.body["results"] for run in month.runs)
    issued = {r["client_id"]: r["invoice_id"] for r in first if r["outcome"] == "issued"}
    again = {r["client_id"]: r["invoice_id"] for r in second if r["outcome"] == "already_issued"}
    reissued = [r["client_id"] for r in second if r["outcome"] == "issued"]
    ok = not reissued and again == issued
    return Check("invoice run idempotent", ok, f"{len(issued)} issued, re-issued {len(reissued)}")
