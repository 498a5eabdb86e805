"""The intake domain: clients, numbers, the secretary book and plans. Pure: no I/O."""

from services.intake.domain.commands import (
    STAFF,
    ActivateClient,
    AssignNumber,
    BookContent,
    ChangeNotification,
    ChangeOfficeHours,
    ChangePlan,
    Command,
    OffboardClient,
    RegisterClient,
    ReleaseNumber,
    ReviseBook,
)
from services.intake.domain.decide import MAX_CENTS, decide
from services.intake.domain.phone import normalise_number
from services.intake.domain.rules import (
    book_version_as_of,
    instructions_in_force,
    plan_in_force,
)
from services.intake.domain.state import (
    BookRevision,
    ClientState,
    PlanPeriod,
    State,
    Status,
    evolve,
    fold,
    local_date,
)

__all__ = [
    "MAX_CENTS",
    "STAFF",
    "ActivateClient",
    "AssignNumber",
    "BookContent",
    "BookRevision",
    "ChangeNotification",
    "ChangeOfficeHours",
    "ChangePlan",
    "ClientState",
    "Command",
    "OffboardClient",
    "PlanPeriod",
    "RegisterClient",
    "ReleaseNumber",
    "ReviseBook",
    "State",
    "Status",
    "book_version_as_of",
    "decide",
    "evolve",
    "fold",
    "instructions_in_force",
    "local_date",
    "normalise_number",
    "plan_in_force",
]
