"""The welcome mail a client gets when it is activated: its reserved number, how to forward
calls to it and how to stop, the variants per provider the bureau keeps, when messages come,
and what counts as urgent. Pure.

Forwarding uses the GSM supplementary-service codes most phones and Dutch mobile providers
take (3GPP TS 22.030): `*21*number#` forwards every call, `##21#` stops it; `*67*` forwards
when busy, `*61*` when not answered, `*62*` when unreachable, all three stopped by `##004#`.
Where a provider or exchange differs, staff keep its variant (PUT /forwarding-codes/{provider});
the mail lists every variant after the standard codes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time

import phonenumbers

from services.notify.domain.model import Client

NUMBER = "{number}"
"""Where a code template takes the reserved number."""
CODE_PATTERN = r"^[*#0-9]{0,12}(\{number\}[*#0-9]{0,12})?$"
"""A code: stars, hashes and digits, the number at most once."""


@dataclass(frozen=True)
class Codes:
    """How to forward to the number and stop, on one kind of line (templates with {number})."""

    forward_all: str
    stop_all: str
    forward_busy: str = ""
    forward_no_answer: str = ""
    forward_unreachable: str = ""
    stop_conditional: str = ""


STANDARD = Codes(
    forward_all="*21*{number}#",
    stop_all="##21#",
    forward_busy="*67*{number}#",
    forward_no_answer="*61*{number}#",
    forward_unreachable="*62*{number}#",
    stop_conditional="##004#",
)
"""The GSM codes (3GPP TS 22.030) most mobile phones and providers take."""


@dataclass(frozen=True)
class Variant:
    """A provider's or exchange's own codes, as staff keep them."""

    provider: str
    name: str
    codes: Codes
    note: str = ""


@dataclass(frozen=True)
class Urgency:
    """One thing the client's book calls urgent."""

    kind: str
    description: str


@dataclass(frozen=True)
class Welcome:
    """What the welcome mail says."""

    numbers: tuple[str, ...]
    standard: Codes
    variants: tuple[Variant, ...]
    mode: str
    digest_time: time
    urgent: tuple[Urgency, ...]


def shown(number: str) -> str:
    """A number as people read it: +31 85 123 4567."""
    try:
        parsed = phonenumbers.parse(number, "NL")
    except phonenumbers.NumberParseException:
        return number
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def dialled(code: str, number: str) -> str:
    """A code with the reserved number in it, as the client dials it (no spaces or '+')."""
    local = re.sub(r"[^0-9+]", "", number)
    if local.startswith("+31"):
        local = "0" + local[3:]  # a Dutch number dialled from a Dutch line
    return code.replace(NUMBER, local.replace("+", "00"))


def welcome(
    client: Client, numbers: tuple[str, ...], variants: tuple[Variant, ...],
    urgent: tuple[Urgency, ...],
) -> Welcome:  # fmt: skip
    """The welcome of an activated client (variants sorted by their name)."""
    return Welcome(
        numbers=numbers, standard=STANDARD,
        variants=tuple(sorted(variants, key=lambda v: (v.name.lower(), v.provider))),
        mode=client.mode, digest_time=client.digest_time, urgent=urgent,
    )  # fmt: skip
