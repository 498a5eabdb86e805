"""The routing domain, pure: call routing, the operator choice and escalation chains."""

from services.routing.domain.chain import Book, Chain, Step, address, chain_for
from services.routing.domain.escalation import (
    Acknowledge,
    Command,
    Dispatch,
    Escalation,
    FireTimer,
    StartChain,
    Status,
    decide,
    evolve,
    fold,
    stream_id,
)
from services.routing.domain.roster import Operator, Presence, choose_operator, wanted_languages
from services.routing.domain.route import Reason, RouteCall, reason, route

__all__ = [
    "Acknowledge",
    "Book",
    "Chain",
    "Command",
    "Dispatch",
    "Escalation",
    "FireTimer",
    "Operator",
    "Presence",
    "Reason",
    "RouteCall",
    "StartChain",
    "Status",
    "Step",
    "address",
    "chain_for",
    "choose_operator",
    "decide",
    "evolve",
    "fold",
    "reason",
    "route",
    "stream_id",
    "wanted_languages",
]
