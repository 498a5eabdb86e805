"""The operator console and the client portal in a real browser against the real stack.

Headless Chromium (Debian's package) driven by Playwright; the seven services, Keycloak, Kafka,
PostgreSQL and an SMTP server are real processes, and so is the console, which forwards /api/
to the services. The operator signs in at Keycloak (authorization code flow with PKCE), a call
comes in through the signed Twilio webhook, the card pops without a reload, the operator notes
and escalates it and the client's mail arrives; the client user signs in, sees the message and
its invoice and cannot open another client's invoice by changing the URL. Screenshots of the
main screens are kept in artifacts/screens/; axe-core (from npm) checks each screen.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from libs.devstack.browser import LAUNCH_ARGS, ensure_chromium
from libs.devstack.keycloak import CLIENT, REALM
from libs.devstack.smtp import SmtpServer, smtp_server
from libs.twilio import SIGNATURE_HEADER, compute_signature
from tests.conftest import Infrastructure
from tests.security.test_access_matrix import (
    NUMBERS,
    PASSWORD,
    TWILIO_TOKEN,
    Staffed,
    service_env,
)
from tests.support.access import SERVICES
from tests.support.clock import amsterdam, first_of_next_month, private_clock, working_day
from tests.support.credentials import STAFF
from tests.support.keycloak import Keycloak
from tests.support.pipeline import wait_until
from tests.support.processes import free_port, stop_process
from tests.support.stack import World, new_world

pytestmark = [pytest.mark.infra]

ROOT = Path(__file__).resolve().parents[2]
SCREENS = ROOT / "artifacts" / "screens"
AXE = ROOT / "services" / "console" / "web" / "node_modules" / "axe-core" / "axe.min.js"
OPERATOR, OPERATOR_PASSWORD = "operator-1", "operator-demo"
CALLS_PUBLIC = "https://calls.frontdesk.example"


@dataclass
class Desk:
    """The running stack, the console's address, the set-up clients and the browser."""

    console: str
    urls: dict[str, str]
    staff: Staffed
    clients: dict[str, UUID]
    operator_id: str
    client_user: str
    smtp: SmtpServer
    browser: Browser
    world: World


class Console:
    """The console process (python -m services.console) on a free port."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **env, "FRONTDESK_CONSOLE_HTTP_PORT": str(self.port)}
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> None:
        """Start it and wait until it answers."""
        with self.log.open("ab") as log:
            command = [sys.executable, "-m", "services.console"]
            self.proc = subprocess.Popen(
                command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        for _ in range(int(timeout * 10)):
            try:
                if httpx.get(f"{self.url}/health/live", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise TimeoutError(f"the console did not start: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        """Stop it."""
        stop_process(self.proc, 10)


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    """The SMTP server the client's mail arrives at."""
    with smtp_server() as server:
        yield server


@pytest.fixture(scope="module")
async def desk(
    infra: Infrastructure, keycloak: Keycloak, tmp_path_factory: pytest.TempPathFactory,
    smtp: SmtpServer,
) -> AsyncIterator[Desk]:  # fmt: skip
    """Seven services, the console in front of them, clients A and B, the operator on the
    roster, a client user of A in Keycloak, and Chromium."""
    home = tmp_path_factory.mktemp("console")
    world = await new_world(infra, home)
    day = working_day(datetime.now(UTC).date())
    clock_dsn = await private_clock(infra.dsn, world.schema("clock"), amsterdam(day, 10))
    procs = {
        s: world.process(
            f"services.{s}.app:create_app",
            s,
            s,
            **service_env(s, keycloak, clock_dsn, smtp.port),
            **({"FRONTDESK_CALLS_PUBLIC_BASE_URL": CALLS_PUBLIC} if s == "calls" else {}),
        )
        for s in SERVICES
    }
    upstreams = json.dumps({s: p.url for s, p in procs.items()})
    console = Console(
        {"FRONTDESK_CONSOLE_ISSUER_URL": keycloak.issuer, "FRONTDESK_CONSOLE_UPSTREAMS": upstreams},
        home / "console.log",
    )
    chromium = ensure_chromium()
    try:
        await asyncio.gather(*(asyncio.to_thread(p.start) for p in procs.values()))
        await asyncio.to_thread(console.start)
        async with AsyncExitStack() as stack:
            staff_http = await stack.enter_async_context(
                httpx.AsyncClient(timeout=30, headers=STAFF)
            )
            staff = Staffed(staff_http, {s: p.url for s, p in procs.items()})
            async with keycloak.server.admin() as admin:
                operator_id = (await admin.user(REALM, OPERATOR))["id"]
                await admin.allow_origin(REALM, CLIENT, console.url)
            await staff.put(
                "routing", f"/operators/{operator_id}", {"name": "Daan", "languages": ["nl"]}
            )
            clients = {side: await staff.client(side) for side in ("a", "b")}
            client_user = f"portal-{world.prefix}-a"
            async with keycloak.server.admin() as admin:
                await admin.create_user(REALM, client_user, PASSWORD, ["client"],
                                        {"frontdesk_client_id": str(clients["a"])})  # fmt: skip
            playwright = await stack.enter_async_context(async_playwright())
            browser = await playwright.chromium.launch(executable_path=chromium, args=LAUNCH_ARGS)
            stack.push_async_callback(browser.close)
            yield Desk(console.url, staff.urls, staff, clients, operator_id, client_user, smtp,
                       browser, world)  # fmt: skip
    finally:
        console.stop()
        world.stop()


async def signed_in(desk: Desk, path: str, user: str, password: str) -> Page:
    """A fresh browser page signed in at Keycloak as `user` on the console's `path`."""
    context = await desk.browser.new_context(bypass_csp=True, locale="nl-NL",
                                             viewport={"width": 1400, "height": 1000})  # fmt: skip
    page = await context.new_page()
    said: list[str] = []
    page.on("console", lambda message: said.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: said.append(f"error: {error}"))
    await page.goto(f"{desk.console}{path}")
    await page.fill("#username", user)
    await page.fill("#password", password)
    await page.click("#kc-login")
    try:
        await expect(page.locator("#who")).to_contain_text(user, timeout=30_000)
    except AssertionError as exc:
        notice = await page.locator("#notice").text_content()
        raise AssertionError(
            f"not signed in at {page.url}: {notice}; the page said {said}"
        ) from exc
    return page


async def serious_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical findings on the page as it is now."""
    await page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = await page.evaluate(
        "async () => (await axe.run(document)).violations"
        ".filter(v => ['serious', 'critical'].includes(v.impact))"
        ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target)}))"
    )
    return found


async def screenshot(page: Page, name: str) -> None:
    """Keep a screenshot of the page among the test artefacts."""
    SCREENS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENS / f"{name}.png"), full_page=True)


async def twilio_call(desk: Desk, number: str, caller: str, sid: str) -> None:
    """A call to `number` through the Twilio voice webhook, signed as Twilio signs it."""
    params = {"CallSid": sid, "From": caller, "To": number, "CallStatus": "ringing"}
    signature = compute_signature(
        TWILIO_TOKEN, f"{CALLS_PUBLIC}/calls/twilio/voice", params.items()
    )
    answer = await desk.staff.http.post(f"{desk.urls['calls']}/calls/twilio/voice", data=params,
                                        headers={SIGNATURE_HEADER: signature})  # fmt: skip
    assert answer.status_code == 200, answer.text


async def test_an_operator_signs_in_and_a_call_pops_its_card_without_a_reload(desk: Desk) -> None:
    page = await signed_in(desk, "/", OPERATOR, OPERATOR_PASSWORD)
    await expect(page.locator("#presence")).to_be_enabled()
    await page.select_option("#presence", "available")
    roster = f"{desk.urls['routing']}/operators/{desk.operator_id}"

    async def available() -> bool:
        return bool((await desk.staff.http.get(roster)).json()["presence"] == "available")

    await wait_until(available, within=30, what="the operator available on the roster")
    await expect(page.locator("#feed-state")).to_contain_text("Live", timeout=30_000)
    assert await serious_violations(page) == []
    await screenshot(page, "console-waiting")

    await twilio_call(desk, NUMBERS["a"], "+31612345678", "CA" + "c" * 32)
    card = page.locator("#card")
    await expect(card).to_contain_text("Matrix client A", timeout=30_000)
    await expect(card).to_contain_text("Goedemorgen")
    await expect(page.locator("#answer")).to_be_focused()
    await expect(page.locator("#appointment-form")).to_be_hidden()  # no calendar linked
    await expect(page.locator("#queues tr").first).to_contain_text("Nederlands")
    assert await serious_violations(page) == []
    await screenshot(page, "console-call")

    await page.keyboard.press("Enter")  # the focused button: answer
    await expect(page.locator("#caller_name")).to_be_focused(timeout=10_000)
    await page.keyboard.type("Piet Jansen")
    await page.keyboard.press("Tab")
    await page.keyboard.type("Jansen Loodgieters")
    await page.fill("#message", "De verwarming is uitgevallen, graag terugbellen.")
    await page.select_option("#follow_up", "call_back")
    await page.keyboard.press("Control+Enter")
    await expect(page.locator("#note-status")).to_have_text("Bericht opgeslagen.", timeout=10_000)
    await page.fill("#escalate-reason", "Geen verwarming bij een bejaarde klant")
    await page.get_by_role("button", name="Escaleren volgens regel").first.click()
    await expect(page.locator("#note-status")).to_have_text("Escalatie gestart.", timeout=10_000)
    await page.fill("#transfer-number", "+31612340000")
    await expect(page.locator("#transfer")).to_have_text("Gesprek doorverbinden: +31612340000")
    await page.click("#transfer")
    await expect(page.locator("#note-status")).to_have_text(
        "Gesprek doorverbonden.", timeout=10_000
    )
    await screenshot(page, "console-noted")

    async def mailed() -> bool:
        return any(
            "De verwarming is uitgevallen" in m.body()
            for m in desk.smtp.messages("a@client.example")
        )

    await wait_until(mailed, within=60, what="the client's mail with the message")


async def test_a_client_sees_its_message_and_invoice_and_not_another_clients(desk: Desk) -> None:
    staff = desk.staff
    call_a = await staff.noted_call("a")
    call_b = await staff.noted_call("b")
    day = working_day(datetime.now(UTC).date())
    await staff.to(first_of_next_month(day))  # the month is over: it can be invoiced
    invoice_a = await staff_invoice(staff, desk.clients["a"], day)
    invoice_b = await staff_invoice(staff, desk.clients["b"], day)
    assert call_a != call_b
    page = await signed_in(desk, "/portal", desk.client_user, PASSWORD)
    await expect(page.locator("#calls")).to_contain_text("Please call back", timeout=30_000)
    await expect(page.locator("#invoices")).to_contain_text(
        re.compile("Opgemaakt|Verzonden"), timeout=30_000
    )  # issued, or already mailed to the client
    await page.goto(f"{desk.console}/portal#invoice={invoice_a}")
    await expect(page.locator("#invoice-detail")).to_be_visible(timeout=30_000)
    await expect(page.locator("#book")).to_contain_text("Goedemorgen")
    await expect(page.locator("#sent")).to_contain_text("a@client.example", timeout=30_000)
    await expect(page.locator("#recipients")).to_have_value("a@client.example")
    await page.fill("#recipients", "a@client.example\nkantoor@client.example")
    await page.check("input[name=mode][value=daily_digest]")
    await page.click("#save-preferences")
    await expect(page.locator("#preferences-status")).to_have_text("Opgeslagen.", timeout=10_000)
    client = (await staff.http.get(f"{desk.urls['intake']}/clients/{desk.clients['a']}")).json()
    assert client["notification"]["mode"] == "daily_digest"
    assert client["notification"]["recipients"] == ["a@client.example", "kantoor@client.example"]
    await page.fill("#change-text", "Noem voortaan ook ons filiaal in Breda")
    await page.click("#request-change")
    await expect(page.locator("#change-status")).to_contain_text("Uw verzoek is verstuurd")
    await expect(page.locator("#changes")).to_contain_text("filiaal in Breda")
    asked = f"{desk.urls['intake']}/clients/{desk.clients['a']}/book/change-requests"
    assert [r["text"] for r in (await staff.http.get(asked)).json()] == [
        "Noem voortaan ook ons filiaal in Breda"
    ]
    assert await serious_violations(page) == []
    await screenshot(page, "portal-invoice")
    await page.goto(f"{desk.console}/portal#invoice={invoice_b}")
    await expect(page.locator("#notice")).to_contain_text("Er ging iets mis", timeout=30_000)
    await expect(page.locator("#invoice-detail")).not_to_contain_text(invoice_b)


async def staff_invoice(staff: Staffed, client_id: UUID, day: date) -> str:
    """The client's invoice of this month."""
    return await staff.invoice(client_id, f"{day:%Y-%m}")
