"""API keys against a real intake process: issued by staff, accepted at once, revoked for good.

The key is shown once, in the answer that issues it; the event, the list of keys, the topic
and the process's log hold at most the SHA-256 of its secret.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import httpx
import pytest

from libs.events import ApiKeyIssued, ApiKeyRevoked, decode
from libs.platform.api_keys import digest, parse
from tests.intake.test_api import register
from tests.support.builders import fresh_number
from tests.support.pipeline import wait_until
from tests.support.processes import ServiceProcess
from tests.support.stack import World, topic_records

pytestmark = [pytest.mark.infra]


async def issue(http: httpx.AsyncClient, client_id: str, role: str = "client") -> dict[str, Any]:
    """Issue a key as staff; the answer with the key in it."""
    body = {"client_id": client_id, "role": role, "name": "Their CRM"}
    issued = await http.post("/api-keys", json=body)
    assert issued.status_code == 201, issued.text
    answer: dict[str, Any] = issued.json()
    return answer


def as_key(intake: ServiceProcess, key: str) -> httpx.AsyncClient:
    """An HTTP client for intake that signs in with the API key only."""
    return httpx.AsyncClient(base_url=intake.url, timeout=30, headers={"X-Api-Key": key})


async def test_a_key_is_its_clients_principal_until_it_is_revoked(
    http: httpx.AsyncClient, intake: ServiceProcess
) -> None:
    mine, theirs = await register(http), await register(http)
    issued = await issue(http, mine)
    assert issued["key"].startswith(f"fdk_{UUID(issued['key_id']).hex}_")
    assert (issued["client_id"], issued["role"], issued["name"]) == (mine, "client", "Their CRM")
    async with as_key(intake, issued["key"]) as crm:
        me = (await crm.get("/whoami")).json()
        assert (me["role"], me["client_id"], me["via"]) == ("client", mine, "api_key")
        assert (await crm.get(f"/clients/{mine}")).status_code == 200
        other = await crm.get(f"/clients/{theirs}")
        assert other.status_code == 404
        assert other.json()["detail"] == f"no client {theirs}"
        assert [c["client_id"] for c in (await crm.get("/clients")).json()] == [mine]
        assert (await crm.post("/api-keys", json={})).status_code == 403
        assert (await http.delete(f"/api-keys/{issued['key_id']}")).status_code == 204
        refused = await crm.get("/whoami")
        assert refused.status_code == 401
        assert (await crm.get(f"/clients/{mine}")).status_code == 401
    assert (await http.delete(f"/api-keys/{issued['key_id']}")).status_code == 409


async def test_a_desk_key_pops_the_screens_of_its_own_client_only(
    http: httpx.AsyncClient, intake: ServiceProcess
) -> None:
    mine, theirs = await register(http), await register(http)
    numbers = {}
    for client_id in (mine, theirs):
        numbers[client_id] = fresh_number()
        assigned = await http.post(
            f"/clients/{client_id}/numbers", json={"number": numbers[client_id]}
        )
        assert assigned.status_code == 201, assigned.text
    issued = await issue(http, mine, role="operator")
    async with as_key(intake, issued["key"]) as desk:
        assert (await desk.get(f"/numbers/{numbers[mine]}")).json()["client_id"] == mine
        assert (await desk.get(f"/numbers/{numbers[theirs]}")).status_code == 404
        assert (await desk.get(f"/clients/{mine}/plans")).status_code == 403


async def test_the_secret_is_in_no_event_list_or_log(
    http: httpx.AsyncClient, intake: ServiceProcess, intake_world: World
) -> None:
    client_id = await register(http)
    issued = await issue(http, client_id)
    key_id, secret = parse(issued["key"])
    assert key_id == UUID(issued["key_id"])
    await http.delete(f"/api-keys/{key_id}")
    listed = await http.get("/api-keys", params={"client_id": client_id})
    assert [k["key_id"] for k in listed.json()] == [str(key_id)]
    assert listed.json()[0]["revoked_at"] is not None
    events: list[Any] = []

    async def published() -> bool:
        records = await topic_records(intake_world, "intake")
        events[:] = [
            e for e in (decode(r.value) for r in records) if getattr(e, "key_id", 0) == key_id
        ]
        return len(events) == 2

    await wait_until(published, within=30, what="the key's events on the intake topic")
    issued_event, revoked_event = events
    assert isinstance(issued_event, ApiKeyIssued)
    assert isinstance(revoked_event, ApiKeyRevoked)
    assert issued_event.secret_sha256 == digest(secret)
    assert issued_event.actor.kind == "staff"
    for text in (listed.text, issued_event.model_dump_json(), intake.log_path.read_text()):
        assert secret not in text


async def test_issuing_a_key_is_never_replayed_from_a_kept_answer(http: httpx.AsyncClient) -> None:
    client_id = await register(http)
    body = {"client_id": client_id, "role": "client", "name": "CRM"}
    headers = {"Idempotency-Key": "issue-once"}
    first = await http.post("/api-keys", json=body, headers=headers)
    second = await http.post("/api-keys", json=body, headers=headers)
    assert (first.status_code, second.status_code) == (201, 201)
    assert "idempotent-replayed" not in second.headers
    assert first.json()["key"] != second.json()["key"]
