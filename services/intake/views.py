"""Turning read-model rows into API responses, applying what is in force at an instant."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from libs.office_hours import office_open
from services.intake.domain.onboarding import LEAD_TIME_TARGET, STEPS, lead_time
from services.intake.domain.pool import pool_state
from services.intake.domain.rules import instructions_in_force, plan_in_force
from services.intake.domain.state import ClientState, PlanPeriod, local_date
from services.intake.read_model import ApiKeyRow, BookRow, ClientRow, ScreenPopRow
from services.intake.read_onboarding import PoolRow
from services.intake.schemas import (
    ApiKeyRead,
    BookRead,
    ClientRead,
    OnboardingRead,
    OnboardingStepRead,
    PlanRead,
    PlansRead,
    PoolNumberRead,
    ScreenPop,
)


def plan_read(period: PlanPeriod) -> PlanRead:
    """One plan period as the API shows it."""
    return PlanRead(
        plan=period.plan,
        email_handling=period.email_handling,
        effective_from=period.effective_from,
        recorded_at=period.recorded_at,
    )


def plans_read(periods: Sequence[PlanPeriod], now: datetime) -> PlansRead:
    """The plan in force today and the whole history."""
    current = plan_in_force(periods, local_date(now))
    return PlansRead(
        in_force=plan_read(current) if current else None,
        history=[plan_read(p) for p in periods],
    )


def client_read(row: ClientRow, periods: Sequence[PlanPeriod], now: datetime) -> ClientRead:
    """A client with the plan in force on today's Europe/Amsterdam date."""
    return ClientRead(
        client_id=row.client_id,
        name=row.name,
        contact_email=row.contact_email,
        language=row.language,
        status=row.status,
        plan=plans_read(periods, now).in_force,
        cold_calls_free=row.cold_calls_free,
        setup_fee_cents=row.setup_fee_cents,
        notification=row.notification,
        office_hours=row.office_hours,
        numbers=list(row.numbers),
        book_version=row.book_version,
        registered_at=row.registered_at,
        activated_at=row.activated_at,
        offboarded_at=row.offboarded_at,
        offboard_reason=row.offboard_reason,
        offboard_at=row.offboard_at,
    )


def book_read(row: BookRow) -> BookRead:
    """One book version, complete."""
    content = row.content
    return BookRead(
        client_id=row.client_id,
        book_version=row.book_version,
        revised_at=row.revised_at,
        greeting=content.greeting,
        instructions=content.instructions,
        faq=list(content.faq),
        urgency_rules=list(content.urgency_rules),
        escalation_contacts=list(content.escalation_contacts),
        temporary_instructions=list(content.temporary_instructions),
        after_hours=content.after_hours,
        calendar_url=content.calendar_url,
    )


def screen_pop(row: ScreenPopRow, now: datetime) -> ScreenPop:
    """What the operator sees: the client, its book, what is in force now, office open or not."""
    client, book = row.client, row.book
    content = book.content if book else None
    return ScreenPop(
        number=row.number,
        client_id=client.client_id,
        company_name=client.name,
        language=client.language,
        status=client.status,
        office_open=office_open(client.office_hours, now),
        office_hours=client.office_hours,
        book_version=book.book_version if book else None,
        greeting=content.greeting if content else None,
        instructions=content.instructions if content else "",
        faq=list(content.faq) if content else [],
        urgency_rules=list(content.urgency_rules) if content else [],
        escalation_contacts=list(content.escalation_contacts) if content else [],
        temporary_instructions=list(
            instructions_in_force(content.temporary_instructions, now) if content else ()
        ),
        after_hours=content.after_hours if content else "email_summary",
        calendar_url=content.calendar_url if content else None,
        as_of=now,
    )


def api_key_read(row: ApiKeyRow) -> ApiKeyRead:
    """An issued key as the API lists it: what it is for, never its secret."""
    return ApiKeyRead(
        key_id=row.key_id,
        client_id=row.client_id,
        role=row.role,
        name=row.name,
        issued_at=row.issued_at,
        revoked_at=row.revoked_at,
    )


def pool_number_read(row: PoolRow, now: datetime) -> PoolNumberRead:
    """A number of the pool with what it is now: free, reserved or resting in quarantine."""
    return PoolNumberRead(
        number=row.number,
        state=pool_state(row.client_id, row.quarantine_until, now),
        client_id=row.client_id,
        added_at=row.added_at,
        reserved_at=row.reserved_at,
        released_at=row.released_at,
        quarantine_until=row.quarantine_until,
    )


def onboarding_read(client: ClientState) -> OnboardingRead:
    """The client's onboarding: each step's time, the next one due, the lead time once active."""
    process = client.onboarding
    done = {} if process is None else process.done
    missing = [s for s in STEPS if s not in done]
    took = None if process is None else lead_time(process)
    return OnboardingRead(
        client_id=client.client_id,
        steps=[OnboardingStepRead(step=s, done_at=done.get(s)) for s in STEPS],
        next_step=None if client.status != "registered" or not missing else missing[0],
        quote_valid_until=process.quote_valid_until if process else None,
        terms_version=process.terms_version if process else None,
        lead_time_seconds=None if took is None else took.total_seconds(),
        lead_time_target_seconds=LEAD_TIME_TARGET.total_seconds(),
    )
