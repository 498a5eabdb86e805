"""Onboarding end to end over HTTP on the simulated clock: enquiry -> quote (its PDF) ->
intake form -> terms -> a number from the pool -> telephony through (a local) Twilio ->
active, each step's time kept and the lead time on /metrics; notify, a process of its own
that meets intake only on Kafka, mails the welcome to a real SMTP server: the number and the
codes to forward and stop."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Iterator
from datetime import date, datetime, timedelta
from typing import Any

import httpx
import pytest
from pypdf import PdfReader

from libs.devstack.smtp import SmtpServer, smtp_server
from tests.intake.test_api import FORM, book
from tests.intake.twilio_fake import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, fake_twilio
from tests.support.builders import fresh_number
from tests.support.clock import amsterdam, private_clock, working_day
from tests.support.credentials import STAFF
from tests.support.pipeline import wait_until
from tests.support.processes import ServiceProcess
from tests.support.stack import Infrastructure, private_world

pytestmark = [pytest.mark.infra]
START = amsterdam(working_day(date(2026, 12, 1)), 9)
NUMBER = fresh_number()
PN_SID = "PN" + "b" * 32
VOICE = "https://frontdesk.example/calls/twilio/voice"
FRIDAY = date(2026, 12, 11)  # a week and a half after START, on which the first walk runs
BILLING = {"legal_name": "Bakker Installatie GmbH", "address_lines": ["Hauptstraße 5"],
           "postcode": "47533", "city": "Kleve", "country": "DE",
           "vat_number": "DE123456789"}  # fmt: skip


@pytest.fixture(scope="module")
def twilio() -> Iterator[FakeTwilio]:
    """Twilio's API as far as intake uses it, owning the number the pool will give out."""
    with fake_twilio({NUMBER: PN_SID}) as fake:
        yield fake


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    """The SMTP server notify delivers the welcome mail to."""
    with smtp_server() as server:
        yield server


@pytest.fixture(scope="module")
async def onboarding_intake(
    infra: Infrastructure, tmp_path_factory: pytest.TempPathFactory, twilio: FakeTwilio,
    smtp: SmtpServer,
) -> AsyncIterator[ServiceProcess]:  # fmt: skip
    """An intake process on its own simulated clock, configuring numbers through Twilio, and
    notify beside it on the same clock."""
    async with private_world(infra, tmp_path_factory.mktemp("onboarding")) as world:
        clock_dsn = await private_clock(infra.dsn, world.schema("clock"), START)
        env = {"FRONTDESK_CLOCK": "simulated", "FRONTDESK_CLOCK_DATABASE_URL": clock_dsn,
               "FRONTDESK_INTAKE_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
               "FRONTDESK_INTAKE_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
               "FRONTDESK_INTAKE_TWILIO_API_BASE_URL": twilio.url,
               "FRONTDESK_INTAKE_VOICE_WEBHOOK_URL": VOICE}  # fmt: skip
        proc = world.process("services.intake.app:create_app", "intake", "intake", **env)
        notify = world.process(
            "services.notify.app:create_app", "notify", "notify",
            FRONTDESK_CLOCK="simulated", FRONTDESK_CLOCK_DATABASE_URL=clock_dsn,
            FRONTDESK_NOTIFY_SMTP_HOST=smtp.host, FRONTDESK_NOTIFY_SMTP_PORT=str(smtp.port),
            FRONTDESK_NOTIFY_SENDER_POLL_SECONDS="0.2",
        )  # fmt: skip
        await asyncio.gather(asyncio.to_thread(proc.start), asyncio.to_thread(notify.start))
        yield proc


@pytest.fixture
async def http(onboarding_intake: ServiceProcess) -> AsyncIterator[httpx.AsyncClient]:
    """Staff's HTTP client for the process."""
    async with httpx.AsyncClient(base_url=onboarding_intake.url, timeout=60,
                                 headers=STAFF) as client:  # fmt: skip
        yield client


async def ok(response: Any, status: int = 200) -> dict[str, Any]:
    """The JSON of an answer that must have `status`."""
    answer: httpx.Response = await response
    assert answer.status_code == status, answer.text
    return dict(answer.json())


async def set_clock(http: httpx.AsyncClient, instant: datetime) -> None:
    """Set the simulated clock to a later instant."""
    await ok(http.post("/clock", json={"set_to": instant.isoformat()}))


async def later(http: httpx.AsyncClient, hours: float) -> None:
    """Move the simulated clock on."""
    await ok(http.post("/clock", json={"advance_seconds": hours * 3600}))


async def test_enquiry_to_active_with_each_step_timed_and_the_lead_time_on_metrics(
    http: httpx.AsyncClient, twilio: FakeTwilio, smtp: SmtpServer
) -> None:
    await ok(http.post("/numbers", json={"numbers": [NUMBER]}), 201)
    client = (await ok(http.post("/clients", json={**FORM, "language": "de"}), 201))["client_id"]
    base = f"/clients/{client}"
    early = await http.post(f"{base}/quote", json={"valid_until": "2027-01-31"})
    assert early.status_code == 409
    assert "missing enquiry" in early.json()["detail"]
    await ok(http.post(f"{base}/onboarding/enquiry",
                       json={"contact_name": "Jan Bakker", "wishes": "Mittags"}), 201)  # fmt: skip
    quote = await ok(http.post(f"{base}/quote", json={"valid_until": "2027-01-31"}), 201)
    assert (quote["call_rate_cents"], quote["setup_fee_cents"]) == (100, 4500)  # mail handled
    pdf = await http.get(f"{base}/quote.pdf")
    assert pdf.headers["content-type"] == "application/pdf"
    text = PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()
    assert all(
        part in text
        for part in (
            "Angebot",
            "Gültig bis",
            "31-01-2027",
            "EUR 1,00",
            "Guthabenkarte",
            "EUR 49,00",
            "EUR 45,00",
        )
    )

    too_soon = await http.post(f"{base}/onboarding/terms",
                               json={"terms_version": "2026-01", "accepted_by": "Jan"})  # fmt: skip
    assert too_soon.status_code == 409
    assert "missing intake_form" in too_soon.json()["detail"]
    await ok(http.put(f"{base}/book", json=book("Guten Tag, Bakker")))
    unaddressed = await http.post(f"{base}/onboarding/intake-form")
    assert unaddressed.status_code == 409
    assert "missing billing details" in unaddressed.json()["detail"]
    await ok(http.put(f"{base}/billing-details", json=BILLING))
    await later(http, 1)
    form = await ok(http.post(f"{base}/onboarding/intake-form"))
    assert form["next_step"] == "terms"
    await later(http, 0.5)
    await ok(http.post(f"{base}/onboarding/terms",
                       json={"terms_version": "2026-01", "accepted_by": "Jan Bakker"}))  # fmt: skip
    assert (await ok(http.post(f"{base}/numbers", json={}), 201))["number"] == NUMBER
    await later(http, 0.5)
    await ok(http.post(f"{base}/onboarding/telephony"))
    assert twilio.updates == [{"sid": PN_SID, "VoiceUrl": VOICE, "VoiceMethod": "POST"}]
    await later(http, 1)
    assert (await ok(http.post(f"{base}/activate")))["status"] == "active"

    shown = await ok(http.get(f"{base}/onboarding"))
    times = {s["step"]: datetime.fromisoformat(s["done_at"]) for s in shown["steps"]}
    assert list(times) == ["enquiry", "quote", "intake_form", "terms", "number", "telephony",
                           "active"]  # fmt: skip
    assert times["active"] - times["intake_form"] == timedelta(hours=2)
    assert (shown["lead_time_seconds"], shown["next_step"]) == (7200, None)
    metrics = (await http.get("/metrics")).text
    assert 'frontdesk_intake_onboarding_lead_time_seconds_bucket{le="7200.0"} 1.0' in metrics
    assert "frontdesk_intake_onboarding_lead_time_seconds_count 1.0" in metrics
    await check_welcome(smtp)


async def check_welcome(smtp: SmtpServer) -> None:
    """The welcome mail, in the client's German, names the number and the codes to dial."""
    recipient = FORM["notification"]["recipients"][0]

    async def arrived() -> bool:
        return bool(smtp.messages(recipient))

    await wait_until(arrived, within=60, what="notify to mail the welcome")
    [welcome] = smtp.messages(recipient)
    local = "0" + NUMBER.removeprefix("+31")
    assert welcome.subject.startswith("Willkommen bei Frontdesk: Ihre Weiterleitungsnummer +31")
    body = welcome.body()
    for part in (f"Alle Anrufe umleiten: *21*{local}#", "Umleitung beenden: ##21#",
                 f"*67*{local}#", f"*61*{local}#", "##004#"):  # fmt: skip
        assert part in body, (part, body)


async def test_without_a_number_telephony_names_what_is_missing(http: httpx.AsyncClient) -> None:
    client = (await ok(http.post("/clients", json=FORM), 201))["client_id"]
    await ok(http.post(f"/clients/{client}/onboarding/enquiry", json={"contact_name": "A"}), 201)
    refused = await http.post(f"/clients/{client}/onboarding/telephony-done")
    assert refused.status_code == 409
    assert "missing quote, intake_form, terms, number" in refused.json()["detail"]
    assert (await http.get(f"/clients/{client}/onboarding")).json()["next_step"] == "quote"


async def test_a_form_waiting_longer_than_the_target_shows_on_the_gauge_until_active(
    http: httpx.AsyncClient,
) -> None:
    client = (await ok(http.post("/clients", json=FORM), 201))["client_id"]
    base = f"/clients/{client}"
    await ok(http.post(f"{base}/onboarding/enquiry", json={"contact_name": "B"}), 201)
    await ok(http.post(f"{base}/quote", json={"valid_until": "2027-01-31"}), 201)
    await ok(http.put(f"{base}/book", json=book("Goedendag")))
    await ok(http.put(f"{base}/billing-details", json=BILLING))
    await set_clock(http, amsterdam(FRIDAY, 16))
    await ok(http.post(f"{base}/onboarding/intake-form"))
    await later(http, 4)
    assert await gauge(http) == 0  # Friday 20:00: one working hour has passed
    await set_clock(http, amsterdam(FRIDAY + timedelta(days=3), 11, 15))
    assert await gauge(http) == 0  # Monday 11:15: four and a quarter working hours
    await later(http, 0.5)  # Monday 11:45: past half a working day
    await wait_until(lambda: _gauge_is(http, 1), within=30, what="the gauge to count the wait")
    await http.post(f"{base}/offboard", json={"reason": "chose another bureau"})
    await wait_until(lambda: _gauge_is(http, 0), within=30, what="the wait to end")


async def gauge(http: httpx.AsyncClient) -> float:
    """The waiting-over-target gauge on /metrics."""
    page = (await http.get("/metrics")).text
    line = next(x for x in page.splitlines()
                if x.startswith("frontdesk_intake_onboarding_waiting_over_target "))  # fmt: skip
    return float(line.split()[1])


async def _gauge_is(http: httpx.AsyncClient, value: float) -> bool:
    return await gauge(http) == value
