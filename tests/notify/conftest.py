"""A running notify service fed through Kafka, shared by the infra tests of this package.

Mail goes to a real SMTP server (aiosmtpd), SMS and chat to a real stand-in HTTP server. Notify
runs on a simulated clock of its own (a private clock database), set to a working morning.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from libs.devstack.smtp import SmtpServer, smtp_server
from libs.events import Event, NotificationPreferences, OfficeHours, Service, new_id
from libs.events.values import Language
from libs.office_hours import office_open
from services.notify.domain.model import Mode
from tests.notify.stand_in import StandIn
from tests.support.builders import call_ended, call_received, note_recorded, registered
from tests.support.clock import amsterdam, private_clock
from tests.support.pipeline import wait_until
from tests.support.stack import (
    Infrastructure,
    Stack,
    events_on_topic,
    private_world,
    running_stack,
)

NOTIFY_APP = "services.notify.app:create_app"
SMS_TOKEN = "test-sms-token"
ACK_URL = "https://frontdesk.test/escalations/{escalation_id}/ack?attempt={attempt}"
SOURCES: tuple[Service, ...] = ("intake", "calls", "routing", "calendar", "inbox")


@dataclass
class NotifyStack(Stack):
    """The notify stack, with the servers it delivers to and its own clock on a working day."""

    smtp: SmtpServer
    stand_in: StandIn
    day: date
    clock_dsn: str

    def at(self, hour: int, minute: int = 0, days: int = 0) -> datetime:
        """An Amsterdam wall-clock time on the stack's working day (or days later)."""
        return amsterdam(self.day + timedelta(days=days), hour, minute).astimezone(UTC)


def working_day() -> date:
    """A working day a week or more ahead, followed by another working day."""
    day = datetime.now(UTC).date() + timedelta(days=7)
    hours = OfficeHours()
    while not all(office_open(hours, amsterdam(day + timedelta(days=d), 10)) for d in (0, 1)):
        day += timedelta(days=1)
    return day


def notify_env(smtp: SmtpServer, stand_in: StandIn, clock_dsn: str) -> dict[str, str]:
    """Notify's settings: the test servers, short leases and quick retries."""
    return {
        "FRONTDESK_CLOCK": "simulated",
        "FRONTDESK_CLOCK_DATABASE_URL": clock_dsn,
        "FRONTDESK_NOTIFY_SMTP_HOST": smtp.host,
        "FRONTDESK_NOTIFY_SMTP_PORT": str(smtp.port),
        "FRONTDESK_NOTIFY_SMTP_TIMEOUT_SECONDS": "1",
        "FRONTDESK_NOTIFY_SMS_URL": f"{stand_in.url}/sms",
        "FRONTDESK_NOTIFY_SMS_TOKEN": SMS_TOKEN,
        "FRONTDESK_NOTIFY_CHAT_ALLOW_HTTP": "true",
        "FRONTDESK_NOTIFY_OUTBOUND_ALLOW": "127.0.0.0/8",  # the stand-in runs on this machine
        "FRONTDESK_NOTIFY_HTTP_TIMEOUT_SECONDS": "1",
        "FRONTDESK_NOTIFY_ACK_URL_TEMPLATE": ACK_URL,
        "FRONTDESK_NOTIFY_SEND_ATTEMPTS": "2",
        "FRONTDESK_NOTIFY_RETRY_BASE_SECONDS": "0.1",
        "FRONTDESK_NOTIFY_LEASE_SECONDS": "3",
        "FRONTDESK_NOTIFY_SENDER_POLL_SECONDS": "0.2",
        "FRONTDESK_NOTIFY_SCHEDULE_SECONDS": "1",
    }


@pytest.fixture(scope="package")
async def stack(
    infra: Infrastructure, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[NotifyStack]:
    """Notify fed by four stores, an SMTP server and the SMS/chat stand-in, for the package."""
    day = working_day()
    async with private_world(infra, tmp_path_factory.mktemp("notify")) as world:
        clock_dsn = await private_clock(infra.dsn, f"{world.prefix}_clock", amsterdam(day, 9))
        with ExitStack() as servers:
            smtp = servers.enter_context(smtp_server())
            stand_in = StandIn().start()
            servers.callback(stand_in.stop)
            env = notify_env(smtp, stand_in, clock_dsn)
            async with running_stack(
                NotifyStack, world, NOTIFY_APP, feeds=SOURCES, env=env,
                smtp=smtp, stand_in=stand_in, day=day, clock_dsn=clock_dsn,
            ) as found:  # fmt: skip
                yield found


async def register(
    stack: NotifyStack,
    *,
    mode: Mode,
    language: Language,
    recipients: Sequence[str] | None = None,
    at: datetime | None = None,
) -> tuple[UUID, str]:
    """A client registered in intake (at 08:00 on the stack's day); its id and first recipient."""
    client_id = new_id()
    recipients = tuple(recipients or (f"{client_id.hex[:12]}@bakker.test",))
    notification = NotificationPreferences(mode=mode, recipients=recipients)
    event = registered(
        client_id, at or stack.at(8), contact_email=recipients[0], language=language,
        notification=notification,
    )  # fmt: skip
    await stack.append([event])
    return client_id, recipients[0]


async def noted_call(stack: Stack, client_id: UUID, received_at: datetime, message: str) -> UUID:
    """A call to the client with the operator's note, as calls records them."""
    call = call_received(client_id, received_at)
    later = received_at + timedelta(minutes=4)
    events: list[Event] = [call, note_recorded(call, message, later), call_ended(call, later)]
    await stack.stores["calls"].append(f"call-{call.call_id}", 0, events)
    return call.call_id


async def notify_events(stack: Stack, client_id: UUID, kind: str, count: int) -> list[Any]:
    """The client's events of one type on notify's topic, once there are `count`."""
    return await events_on_topic(
        stack.world, "notify", lambda e: e.client_id == client_id and e.type == kind, count,
        within=60, what=f"{kind} of client {client_id}",
    )  # fmt: skip


async def mails_to(stack: NotifyStack, recipient: str, count: int) -> list[Any]:
    """Mails the SMTP server accepted for a recipient, once there are `count`."""

    async def arrived() -> bool:
        return len(stack.smtp.messages(recipient)) >= count

    await wait_until(arrived, within=60, what=f"{count} mails to {recipient}")
    return stack.smtp.messages(recipient)


async def notifications(stack: Stack, client_id: UUID) -> list[dict[str, Any]]:
    """GET /clients/{id}/notifications."""
    response = await stack.http.get(f"/clients/{client_id}/notifications")
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()
    return rows


async def until_noted(stack: Stack, client_id: UUID, count: int) -> None:
    """Wait until notify's projection holds `count` noted calls of the client."""

    async def projected() -> bool:
        exists = await stack.pool.fetchval("SELECT to_regclass($1)", f"{stack.schema}.calls")
        if exists is None:
            return False
        n = await stack.pool.fetchval(
            f"SELECT count(*) FROM {stack.schema}.calls WHERE client_id = $1 AND messages > 0",
            client_id,
        )
        return int(n) >= count

    await wait_until(projected, within=60, what=f"notify to see {count} notes of {client_id}")
