"""A demo client for the local stack, set up through intake's public API like any other."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from libs.devstack.keycloak import REALM_FILE

DEMO_NUMBER = "+31851234567"
DEMO_CLIENT: dict[str, Any] = {
    "name": "Installatiebedrijf Bakker B.V.",
    "contact_email": "jan@bakker.example",
    "language": "nl",
    "cold_calls_free": True,
}
DEMO_BOOK: dict[str, Any] = {
    "greeting": "Installatiebedrijf Bakker, goedemorgen, u spreekt met ...",
    "instructions": "Offertes: naam, adres en telefoonnummer noteren. Storingen zijn spoed.",
    "faq": [{"question": "Installeren jullie warmtepompen?", "answer": "Ja, sinds 2024."}],
    "urgency_rules": [
        {"kind": "leak", "description": "Waterlekkage of storing cv", "channels": ["sms"]}
    ],
    "escalation_contacts": [{"name": "Jan Bakker", "phone": "+31612345678"}],
}


def demo_operators() -> list[tuple[str, str]]:
    """(subject, name) of the development realm's operators: the roster ids they sign in as."""
    users = json.loads(REALM_FILE.read_text())["users"]
    return [
        (user["id"], f"{user['firstName']} {user['lastName']}")
        for user in users
        if "operator" in user.get("realmRoles", [])
    ]


@dataclass(frozen=True)
class Demo:
    """The demo client and how to call it."""

    client_id: str
    number: str
    created: bool


async def seed_demo(
    intake_url: str,
    calls_url: str,
    headers: Mapping[str, str],
    *,
    routing_url: str | None = None,
    within: float = 60,
) -> Demo:
    """Register the demo client once (kept across restarts) and wait until calls knows it.

    With `routing_url`, the development realm's operators are put on routing's roster (Dutch
    and English), so an operator who signs in can go on duty. `headers` carry a staff
    credential.
    """
    if routing_url is not None:
        async with httpx.AsyncClient(base_url=routing_url, timeout=10, headers=headers) as routing:
            for subject, name in demo_operators():
                roster = {"name": name, "languages": ["nl", "en"]}
                (await routing.put(f"/operators/{subject}", json=roster)).raise_for_status()
    async with httpx.AsyncClient(base_url=intake_url, timeout=10, headers=headers) as intake:
        known = await intake.get(f"/numbers/{DEMO_NUMBER}")
        if known.status_code == 200:
            demo = Demo(known.json()["client_id"], DEMO_NUMBER, created=False)
        else:
            demo = Demo(await _register(intake), DEMO_NUMBER, created=True)
    await _wait_for_calls(calls_url, headers, within)
    return demo


async def _register(intake: httpx.AsyncClient) -> str:
    created = await intake.post("/clients", json=DEMO_CLIENT)
    created.raise_for_status()
    client_id: str = created.json()["client_id"]
    for method, path, body in [
        ("POST", f"/clients/{client_id}/numbers", {"number": DEMO_NUMBER}),
        ("PUT", f"/clients/{client_id}/book", DEMO_BOOK),
        ("POST", f"/clients/{client_id}/activate", None),
    ]:
        (await intake.request(method, path, json=body)).raise_for_status()
    return client_id


async def _wait_for_calls(calls_url: str, headers: Mapping[str, str], within: float) -> None:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(base_url=calls_url, timeout=5, headers=headers) as calls:
        while (await calls.get(f"/lines/{DEMO_NUMBER}")).status_code != 200:
            if time.monotonic() > deadline:
                raise TimeoutError("calls did not learn the demo number from Kafka in time")
            await asyncio.sleep(0.3)
