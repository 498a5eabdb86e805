"""The calls service's metrics on a running calls process: calls per client, answer time,
non-billable marks, the client info gauge (also after a restart) and HTTP latency by route."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from libs.events import ClientOffboarded, ClientRegistered
from tests.calls.conftest import Client, seed_client
from tests.support.builders import registered
from tests.support.credentials import STAFF
from tests.support.pipeline import wait_until
from tests.support.stack import Stack

pytestmark = [pytest.mark.infra]

SATURDAY = "2026-06-06T10:00:00Z"  # 12:00 in Amsterdam: the office is closed
ANSWER = "frontdesk_call_answer_seconds_bucket"
NON_BILLABLE = "frontdesk_calls_non_billable_total"
CLIENT_INFO = "frontdesk_client_info"


async def post(stack: Stack, path: str, body: dict[str, Any] | None, status: int) -> Any:
    """POST a body and check the status; the JSON answer."""
    response = await stack.http.post(path, json=body)
    assert response.status_code == status, response.text
    return response.json()


async def receive(stack: Stack, client: Client, received_at: datetime | str) -> dict[str, Any]:
    """POST /calls for the client's number; the screen pop."""
    at = received_at.isoformat() if isinstance(received_at, datetime) else received_at
    body = {"dialled_number": client.number, "received_at": at, "import": True}  # fixed dates
    pop: dict[str, Any] = await post(stack, "/calls", body, 201)
    return pop


def counted(stack: Stack, name: str, **labels: str) -> float:
    """A metric of the calls process, summed over the samples with these labels."""
    # /metrics is for staff (or the scrape credential) now; tests/support's metric_value
    # scrapes anonymously, so this reads them as staff.
    scraped = httpx.get(f"{stack.url}/metrics", headers=STAFF, timeout=5)
    assert scraped.status_code == 200, scraped.text
    total = 0.0
    for line in scraped.text.splitlines():
        if line.startswith(name + "{"):
            label_text, value = line[len(name) + 1 :].rsplit("} ", 1)
            if all(f'{k}="{v}"' in label_text for k, v in labels.items()):
                total += float(value)
    return total


async def test_calls_are_counted_per_client_with_their_answer_time(stack: Stack) -> None:
    client = await seed_client(stack)
    who = {"client_id": str(client.client_id)}
    quick, slow = counted(stack, ANSWER, le="10.0"), counted(stack, ANSWER, le="15.0")
    pop = await receive(stack, client, datetime.now(UTC) - timedelta(seconds=12))
    call = f"/calls/{pop['call_id']}"
    await post(stack, f"{call}/answer", {"language": "nl"}, 200)
    await post(stack, f"{call}/transfer", {"to_number": "+31687654321"}, 200)
    closed = f"/calls/{(await receive(stack, client, SATURDAY))['call_id']}"
    voicemail = {"recording_ref": "rec/1.wav", "duration_seconds": 31}
    await post(stack, f"{closed}/voicemail", voicemail, 201)
    offices = ["open" if pop["office_open"] else "closed", "closed"]
    for office in ("open", "closed"):
        received = counted(stack, "frontdesk_calls_received_total", **who, office=office)
        assert received == offices.count(office)
    assert counted(stack, "frontdesk_calls_answered_total", **who) == 1
    assert counted(stack, "frontdesk_calls_transferred_total", **who) == 1
    assert counted(stack, "frontdesk_calls_voicemail_total", **who) == 1
    assert counted(stack, ANSWER, le="10.0") == quick, "answered after 12 s, not within 10"
    assert counted(stack, ANSWER, le="15.0") == slow + 1
    answer = {"service": "calls", "method": "POST", "route": "/calls/{call_id}/answer"}
    assert counted(stack, "frontdesk_http_request_seconds_count", **answer, status="2xx") >= 1


async def test_non_billable_marks_and_their_reversal_are_counted_by_reason(stack: Stack) -> None:
    client = await seed_client(stack)
    call = f"/calls/{(await receive(stack, client, SATURDAY))['call_id']}"
    wrong = {"reason": "wrong_number"}
    marked, reverted = (
        counted(stack, NON_BILLABLE, **wrong, change=c) for c in ("marked", "reverted")
    )
    await post(stack, f"{call}/non-billable", wrong, 201)
    assert (await stack.http.delete(f"{call}/non-billable")).status_code == 200
    assert counted(stack, NON_BILLABLE, **wrong, change="marked") == marked + 1
    assert counted(stack, NON_BILLABLE, **wrong, change="reverted") == reverted + 1


async def test_the_client_info_gauge_follows_intake_and_survives_a_restart(stack: Stack) -> None:
    staying, leaving = await seed_client(stack), await seed_client(stack)
    await shown(stack, staying, staying.name)
    renamed = "Bakker & Zonen"
    await stack.append([registration(staying, renamed)])
    await shown(stack, staying, renamed)
    assert counted(stack, CLIENT_INFO, client_id=str(staying.client_id)) == 1, "one name only"
    gone = ClientOffboarded(client_id=leaving.client_id, occurred_at=datetime.now(UTC))
    await stack.append([gone])
    await shown(stack, leaving, None)
    stack.process.stop()
    stack.process.start()
    await shown(stack, staying, renamed)
    assert counted(stack, CLIENT_INFO, client_id=str(leaving.client_id)) == 0


def registration(client: Client, name: str) -> ClientRegistered:
    """The client registered (again) under a name."""
    return registered(client.client_id, name=name)


async def shown(stack: Stack, client: Client, company: str | None) -> None:
    """Wait until the gauge shows the client with exactly this company (None: not at all)."""
    client_id = str(client.client_id)

    async def showing() -> bool:
        total = counted(stack, CLIENT_INFO, client_id=client_id)
        named = counted(stack, CLIENT_INFO, client_id=client_id, company=company or "")
        return total == named == (1 if company else 0)

    await wait_until(showing, within=30, what=f"client {client_id} shown as {company}")
