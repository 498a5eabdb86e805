"""The routing API against a real routing process that learns intake and calls through Kafka."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any
from urllib.parse import urlencode
from uuid import UUID, uuid4

import httpx
import pytest

from libs.events import (
    CallReceived,
    CallRouted,
    EscalationDispatched,
    OfficeHours,
    OfficeHoursChanged,
    OpeningSpan,
    WeeklySchedule,
)
from libs.twilio import compute_signature
from services.routing.links import ack_token
from tests.routing.conftest import (
    ACK_SECRET,
    PUBLIC_BASE_URL,
    TWILIO_TOKEN,
    Client,
    clock,
    end_call,
    escalate,
    escalation,
    receive,
    routing_events,
    routing_of,
    seed_client,
    timer_rounds,
    timers_ran,
)
from tests.support.credentials import STAFF
from tests.support.pipeline import metric_value, wait_until
from tests.support.stack import Stack

pytestmark = [pytest.mark.infra]

MONDAY_MORNING = "2026-06-01T08:00:00+00:00"  # 10:00 in Amsterdam, a working day
SATURDAY = "2026-06-06T10:00:00+00:00"  # 12:00 in Amsterdam


async def available(stack: Stack, operator_id: str, *languages: str) -> None:
    """Put an operator on the roster and make them available."""
    body = {"name": operator_id.title(), "languages": list(languages)}
    assert (await stack.http.put(f"/operators/{operator_id}", json=body)).status_code == 200
    presence = await stack.http.put(
        f"/operators/{operator_id}/presence", json={"presence": "available"}
    )
    assert presence.json()["presence"] == "available"


async def route_of(stack: Stack, client: Client, at: str) -> tuple[UUID, dict[str, Any]]:
    """Receive a call at `at` and return its id and where routing sent it."""
    call = await receive(stack, client, at)
    return call.call_id, (await routing_of(stack, call.call_id))["route"]


def where(route: dict[str, Any]) -> tuple[Any, ...]:
    """The essentials of a route."""
    return (route["destination"], route["operator_id"], route["reason"], route["office_open"])


async def test_calls_go_to_the_free_operator_who_speaks_the_language_or_to_voicemail(
    stack: Stack,
) -> None:
    client = await seed_client(stack, language="de")
    await available(stack, "op-de-1", "de", "en")
    await available(stack, "op-de-2", "de")
    first, route = await route_of(stack, client, MONDAY_MORNING)
    assert where(route) == ("operator", "op-de-1", "operator", True)
    second, route = await route_of(stack, client, MONDAY_MORNING)
    assert where(route) == ("operator", "op-de-2", "operator", True)
    third, route = await route_of(stack, client, MONDAY_MORNING)
    assert where(route) == ("voicemail", None, "no_operator", True)
    fourth, route = await route_of(stack, client, SATURDAY)
    assert where(route) == ("voicemail", None, "after_hours", False)
    busy = (await stack.http.get("/operators/op-de-2")).json()
    assert (busy["presence"], busy["current_call_id"]) == ("busy", str(second))
    routed = {e.call_id: e for e in await routing_events(stack) if isinstance(e, CallRouted)}
    assert [routed[c].operator_id for c in (first, second, third, fourth)] == [
        "op-de-1", "op-de-2", None, None
    ]  # fmt: skip
    assert {routed[c].language for c in (first, second, third, fourth)} == {"de"}
    url = stack.url
    assert (
        metric_value(url, "frontdesk_calls_routed_total", destination="operator", language="de")
        >= 2
    )
    assert metric_value(url, "frontdesk_calls_routed_total", reason="after_hours") >= 1


async def test_an_ended_call_frees_its_operator_and_client_hours_are_followed(stack: Stack) -> None:
    client = await seed_client(stack, language="fr")
    await available(stack, "op-fr-1", "fr")
    first, route = await route_of(stack, client, MONDAY_MORNING)
    assert where(route) == ("operator", "op-fr-1", "operator", True)
    _, route = await route_of(stack, client, MONDAY_MORNING)
    assert where(route)[:3] == ("voicemail", None, "no_operator")
    await end_call(stack, await _call(stack, first))

    async def freed() -> bool:
        operator = (await stack.http.get("/operators/op-fr-1")).json()
        return bool(operator["presence"] == "available")

    await wait_until(freed, within=30, what="the operator to be free again")
    saturdays = WeeklySchedule(sat=(OpeningSpan(opens=time(9), closes=time(14)),))
    changed = OfficeHoursChanged(
        client_id=client.client_id, occurred_at=_now(), office_hours=OfficeHours(weekly=saturdays)
    )
    await stack.append([changed])
    await _until_hours_known(stack, client.client_id)
    _, route = await route_of(stack, client, SATURDAY)
    assert where(route) == ("operator", "op-fr-1", "operator", True)


async def test_the_roster_validates_its_input_and_filters(stack: Stack) -> None:
    bad_bodies = [
        {"name": "Ann", "languages": []},
        {"name": "Ann", "languages": ["nl", "nl"]},
        {"name": "Ann", "languages": ["es"]},
        {"name": "", "languages": ["nl"]},
        {"name": "Ann", "languages": ["nl"], "extra": 1},
    ]
    for body in bad_bodies:
        assert (await stack.http.put("/operators/op-x", json=body)).status_code == 422, body
    assert (await stack.http.put("/operators/bad id!", json=bad_bodies[0])).status_code == 422
    unknown = await stack.http.put("/operators/op-nobody/presence", json={"presence": "busy"})
    assert unknown.status_code == 404
    assert (await stack.http.get("/operators/op-nobody")).status_code == 404
    new = await stack.http.put("/operators/op-en-1", json={"name": "Eve", "languages": ["en"]})
    assert (new.status_code, new.json()["presence"]) == (200, "offline")
    listed = (await stack.http.get("/operators", params={"language": "en"})).json()
    assert "op-en-1" in [o["operator_id"] for o in listed]
    offline = (await stack.http.get("/operators", params={"presence": "offline"})).json()
    assert {o["presence"] for o in offline} == {"offline"}
    assert (await stack.http.get("/operators", params={"presence": "away"})).status_code == 422


async def test_an_acknowledgement_stops_the_chain_and_a_second_one_is_refused(
    stack: Stack,
) -> None:
    client = await seed_client(stack)
    by_api = await escalate(stack, await receive(stack, client, MONDAY_MORNING))
    by_link = await escalate(stack, await receive(stack, client, MONDAY_MORNING))
    for requested in (by_api, by_link):
        await escalation(stack, requested.escalation_id, attempts=1)
    acked = await stack.http.post(
        f"/escalations/{by_api.escalation_id}/ack", json={"by": "Contact 0", "contact_index": 0}
    )
    assert (acked.status_code, acked.json()["state"]) == (200, "acknowledged"), acked.text
    link = f"/escalations/{by_link.escalation_id}/ack"
    forged = ack_token(ACK_SECRET, by_api.escalation_id, 1)
    assert (await stack.http.get(link, params={"token": forged})).status_code == 403
    good = {"token": ack_token(ACK_SECRET, by_link.escalation_id, 1)}
    sent_link = await _ack_url(stack, by_link.escalation_id)
    assert sent_link == f"{PUBLIC_BASE_URL}{link}?{urlencode(good)}", "the link in the message"
    page = await stack.http.get(link, params=good)  # mail scanners open links: nothing happens
    opened = (await stack.http.get(f"/escalations/{by_link.escalation_id}")).json()
    assert opened["state"] == "dispatched", "opening the link acknowledged"
    assert (page.status_code, '<form method="post" action="ack/link">' in page.text) == (200, True)
    assert page.headers["cache-control"] == "no-store"
    page = await stack.http.post(f"{link}/link", data=good)  # the page's button
    assert (page.status_code, "Contact 0" in page.text) == (200, True), page.text
    assert (await stack.http.post(f"{link}/link", data=good)).status_code == 409
    again = await stack.http.post(f"/escalations/{by_api.escalation_id}/ack", json={"by": "X"})
    assert (again.status_code, (await stack.http.get(link, params=good)).status_code) == (409, 409)
    rounds = timer_rounds(stack)
    await clock(stack, advance_seconds=3600)
    await timers_ran(stack, since=rounds)  # an acknowledged chain must stay put
    for requested in (by_api, by_link):
        found = (await stack.http.get(f"/escalations/{requested.escalation_id}")).json()
        assert (found["state"], len(found["attempts"]), found["ack_due_at"]) == (
            "acknowledged",
            1,
            None,
        )
    assert metric_value(stack.url, "frontdesk_escalations_total", outcome="acknowledged") >= 2
    assert plain_metric(stack.url, "frontdesk_escalation_ack_seconds_count") >= 2


async def test_the_link_of_an_ended_chain_is_gone_and_a_forged_button_is_refused(
    stack: Stack,
) -> None:
    client = await seed_client(stack, language="de")
    requested = await escalate(stack, await receive(stack, client, MONDAY_MORNING))
    await escalation(stack, requested.escalation_id, attempts=1)
    link = f"/escalations/{requested.escalation_id}/ack"
    good = {"token": ack_token(ACK_SECRET, requested.escalation_id, 1)}
    forged = {"token": ack_token("another-secret", requested.escalation_id, 1)}
    refused = await stack.http.post(f"{link}/link", data=forged, headers={"Accept-Language": "fr"})
    assert (refused.status_code, '<html lang="fr">' in refused.text) == (403, True)
    for _ in range(3):  # nobody answers: attempts 2 and 3, then the chain is exhausted
        rounds = timer_rounds(stack)
        await clock(stack, advance_seconds=601)
        await timers_ran(stack, since=rounds)
    ended = (await stack.http.get(f"/escalations/{requested.escalation_id}")).json()
    assert ended["state"] == "exhausted", ended
    page = await stack.http.get(link, params=good)
    assert (page.status_code, '<html lang="de">' in page.text, "<form" in page.text) == (
        410,
        True,
        False,
    )
    assert (await stack.http.post(f"{link}/link", data=good)).status_code == 410


async def _ack_url(stack: Stack, escalation_id: UUID) -> str | None:
    """The acknowledgement link routing put into the escalation's first dispatch."""
    for event in await routing_events(stack):
        if isinstance(event, EscalationDispatched) and event.escalation_id == escalation_id:
            return event.ack_url
    raise AssertionError(f"no EscalationDispatched for {escalation_id} on Kafka")


def plain_metric(base_url: str, name: str) -> float:
    """The value of a metric without labels on a running service."""
    lines = httpx.get(f"{base_url}/metrics", headers=STAFF, timeout=5).text.splitlines()
    return sum(float(line.split()[1]) for line in lines if line.startswith(name + " "))


async def test_unknown_escalations_and_calls_are_404(stack: Stack) -> None:
    unknown = uuid4()
    assert (await stack.http.get(f"/escalations/{unknown}")).status_code == 404
    assert (
        await stack.http.post(f"/escalations/{unknown}/ack", json={"by": "X"})
    ).status_code == 404
    assert (await stack.http.get(f"/calls/{unknown}/routing")).status_code == 404
    token = {"token": ack_token(ACK_SECRET, unknown, 1)}
    assert (await stack.http.get(f"/escalations/{unknown}/ack", params=token)).status_code == 404


def twilio_params() -> dict[str, str]:
    """What Twilio posts when it fetches TwiML for a call leg."""
    return {"CallSid": f"CA{uuid4().hex}", "AccountSid": f"AC{uuid4().hex}", "To": "+31851234567"}


async def twiml(
    stack: Stack, escalation_id: UUID, params: dict[str, str], signature: str | None
) -> Any:
    """POST the TwiML webhook, signed for its URL and params unless a signature is given."""
    path = f"/escalations/{escalation_id}/twiml"
    url = f"{PUBLIC_BASE_URL}{path}"  # Twilio signs the public address it was given
    sign = compute_signature(TWILIO_TOKEN, url, params.items()) if signature is None else signature
    headers = {"X-Twilio-Signature": sign} if sign else {}
    return await stack.http.post(path, data=params, headers=headers)


async def test_the_transfer_twiml_dials_the_contact_only_for_a_valid_signature(
    stack: Stack,
) -> None:
    client = await seed_client(stack, channels=("transfer", "sms"))
    requested = await escalate(stack, await receive(stack, client, MONDAY_MORNING))
    first = await escalation(stack, requested.escalation_id, attempts=1)
    assert (first["attempts"][0]["channel"], first["attempts"][0]["target"]) == (
        "transfer",
        "+31610000000",
    )
    params = twilio_params()
    answer = await twiml(stack, requested.escalation_id, params, None)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/xml")
    assert '<Dial timeout="30"><Number>+31610000000</Number></Dial>' in answer.text
    good = compute_signature(
        TWILIO_TOKEN,
        f"{stack.url}/escalations/{requested.escalation_id}/twiml",
        params.items(),
    )
    for signature in ("", "bm90IGEgc2lnbmF0dXJl", compute_signature("wrong-token", "x", [])):
        assert (await twiml(stack, requested.escalation_id, params, signature)).status_code == 403
    tampered = {**params, "To": "+31600000000"}
    assert (await twiml(stack, requested.escalation_id, tampered, good)).status_code == 403
    nobody = await twiml(stack, uuid4(), twilio_params(), None)
    assert (nobody.status_code, "<Dial" in nobody.text, "<Hangup />" in nobody.text) == (
        200,
        False,
        True,
    )
    await stack.http.post(f"/escalations/{requested.escalation_id}/ack", json={"by": "Contact 0"})


async def _call(stack: Stack, call_id: UUID) -> CallReceived:
    received = (await stack.stores["calls"].load(f"call-{call_id}"))[0].event
    assert isinstance(received, CallReceived)
    return received


async def _until_hours_known(stack: Stack, client_id: UUID) -> None:
    async def known() -> bool:
        hours = await stack.pool.fetchval(
            f"SELECT office_hours->'weekly'->'sat' FROM {stack.schema}.directory_clients "
            "WHERE client_id = $1",
            client_id,
        )
        return hours not in (None, "[]")

    await wait_until(known, within=30, what="routing to learn the new office hours")


def _now() -> datetime:
    return datetime.now(UTC)
