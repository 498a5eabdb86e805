"""The inbound SMTP listener: clients forward their mail (info@ ...) to an address of the
bureau, and it arrives here over real SMTP.

Each recipient is looked up while the sender is still talking: an address that belongs to no
client is refused at RCPT (550), so the sending server bounces it instead of it being lost
here. A mail larger than the limit is refused (552) as soon as it is too big. A mail is
accepted (250) only once `deliver` has kept it; when keeping it fails the answer is 451, and
the sending server tries again later: a mail is never accepted and then lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from uuid import UUID

import structlog
from aiosmtpd.smtp import SMTP, Envelope, Session

log = structlog.get_logger(__name__)

Resolve = Callable[[str], Awaitable[UUID | None]]
"""The client a forwarding address belongs to, or None."""
Deliver = Callable[["Delivery"], Awaitable[None]]
"""Keep a delivered mail (raises when it cannot be kept now)."""
MAX_RECIPIENTS = 50


class MailRefused(Exception):
    """`deliver` refuses the mail for good (it cannot be read): the sender gets `reply`."""

    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.reply = reply


@dataclass(frozen=True)
class Delivery:
    """A mail as the listener received it: the envelope and the raw bytes."""

    mail_from: str
    recipients: tuple[tuple[str, UUID], ...]
    """Each accepted recipient address and the client it belongs to."""
    raw: bytes
    peer: str


class InboundHandler:
    """aiosmtpd's handler: recipients checked at RCPT, mail kept before 250."""

    def __init__(self, resolve: Resolve, deliver: Deliver) -> None:
        self._resolve = resolve
        self._deliver = deliver

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook name)
        self, server: SMTP, session: Session, envelope: Envelope, address: str,
        rcpt_options: list[str],
    ) -> str:  # fmt: skip
        """Accept a recipient that is a client's forwarding address; refuse any other."""
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        try:
            client_id = await self._resolve(address.lower())
        except Exception as exc:  # the directory cannot be read now: ask the sender to retry
            log.warning("inbox.smtp_resolve_failed", error=repr(exc))
            return "451 4.3.0 Cannot check the recipient now, try again later"
        if client_id is None:
            return "550 5.1.1 No such recipient here"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        clients: dict[str, UUID] = getattr(envelope, "clients", {})
        clients[address.lower()] = client_id
        envelope.clients = clients  # type: ignore[attr-defined]
        return "250 2.1.5 OK"

    async def handle_DATA(  # noqa: N802 (aiosmtpd's hook name)
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        """Keep the mail, then accept it; a failure to keep it is a temporary refusal."""
        clients: dict[str, UUID] = getattr(envelope, "clients", {})
        raw = envelope.original_content or b""
        if isinstance(envelope.content, bytes) and not raw:
            raw = envelope.content
        delivery = Delivery(
            mail_from=envelope.mail_from or "",
            recipients=tuple(clients.items()),
            raw=raw,
            peer=str(session.peer[0]) if session.peer else "",
        )
        try:
            await self._deliver(delivery)
        except MailRefused as refused:
            return refused.reply
        except Exception as exc:
            log.exception("inbox.smtp_keep_failed", error=repr(exc))
            return "451 4.3.0 The mail could not be kept now, try again later"
        return "250 2.0.0 Kept"


@dataclass
class InboundSmtp:
    """A running listener on a host and port (127.0.0.1 and a port of the settings)."""

    host: str
    port: int
    resolve: Resolve
    deliver: Deliver
    max_bytes: int = 25 * 1024 * 1024
    hostname: str = "frontdesk"
    timeout: float = 120
    _server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        """Listen; each connection is one SMTP session."""
        handler = InboundHandler(self.resolve, self.deliver)
        loop = asyncio.get_running_loop()

        def session() -> SMTP:
            return SMTP(
                handler, data_size_limit=self.max_bytes, hostname=self.hostname,
                timeout=self.timeout, enable_SMTPUTF8=True, loop=loop,
            )  # fmt: skip

        self._server = await loop.create_server(session, self.host, self.port)

    @property
    def sockets(self) -> Sequence[object]:
        """The listening sockets."""
        return self._server.sockets if self._server else ()

    async def stop(self) -> None:
        """Stop listening and close the sessions."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
