"""The calls domain, pure: commands, decide, evolve, office hours and refusals."""

from libs.office_hours import OfficeStatus, office_open, office_status
from services.calls.domain.commands import (
    AnswerCall,
    CallCommand,
    ClientStatus,
    Command,
    EndCall,
    Line,
    MarkNonBillable,
    ReceiveCall,
    RecordNote,
    RecordVoicemail,
    RequestEscalation,
    RestoreBillability,
    TransferCall,
)
from services.calls.domain.decide import decide
from services.calls.domain.errors import CallNotFound, NumberNotHeld
from services.calls.domain.model import Call, Stage, evolve, fold, stream_id

__all__ = [
    "AnswerCall",
    "Call",
    "CallCommand",
    "CallNotFound",
    "ClientStatus",
    "Command",
    "EndCall",
    "Line",
    "MarkNonBillable",
    "NumberNotHeld",
    "OfficeStatus",
    "ReceiveCall",
    "RecordNote",
    "RecordVoicemail",
    "RequestEscalation",
    "RestoreBillability",
    "Stage",
    "TransferCall",
    "decide",
    "evolve",
    "fold",
    "office_open",
    "office_status",
    "stream_id",
]
