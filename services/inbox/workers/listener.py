"""The inbound SMTP listener as a worker of the inbox service: forwarded mail is kept for the
client whose forwarding address it was sent to, before the sender hears 250."""

from __future__ import annotations

import asyncio
from uuid import UUID

import structlog

from libs.platform.runtime import ServiceRuntime, Worker
from services.inbox import conversations, mailboxes
from services.inbox.adapters.smtp_listener import Delivery, InboundSmtp, MailRefused
from services.inbox.domain.mail import UnreadableMail, parse
from services.inbox.settings import InboxSettings

log = structlog.get_logger(__name__)


def worker(config: InboxSettings) -> Worker:
    """Listen for forwarded mail while the service runs (no listener when the port is 0)."""

    async def run(runtime: ServiceRuntime, stop: asyncio.Event) -> None:
        if config.smtp_port == 0:
            await stop.wait()
            return
        store = runtime.require_store()

        async def resolve(address: str) -> UUID | None:
            return await mailboxes.client_of(store.pool, store.schema, address)

        async def deliver(delivery: Delivery) -> None:
            try:
                mail = parse(delivery.raw)
            except UnreadableMail as exc:
                raise MailRefused(f"550 5.6.0 {exc}") from exc
            at = runtime.clock.now()
            for _, client_id in delivery.recipients:
                await conversations.keep(
                    store, client_id, mail, delivery.raw, via="forward", at=at,
                    max_attachment_bytes=config.max_attachment_bytes,
                )  # fmt: skip

        server = InboundSmtp(
            config.smtp_host, config.smtp_port, resolve, deliver, max_bytes=config.max_mail_bytes
        )
        await server.start()
        log.info("inbox.smtp_listening", host=config.smtp_host, port=config.smtp_port)
        try:
            await stop.wait()
        finally:
            await server.stop()

    return run
