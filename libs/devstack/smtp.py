"""A real SMTP server for tests and development: aiosmtpd on 127.0.0.1, storing what it gets.

Every accepted message is kept in memory and, when a Maildir is given, also written there, so
another process can read what arrived (`read_maildir`). Run on its own with
`python -m libs.devstack.smtp --port 1025 --maildir /tmp/frontdesk-mail`.

Refusals, for failure tests: recipients in one of `refuse_domains` get 550 at RCPT TO, and
with `refuse_all` every message gets 550 at the end of DATA.
"""

from __future__ import annotations

import argparse
import mailbox
import signal
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from tests.support.processes import free_port

REFUSED_DOMAIN = "refused.example"
"""Recipients at this domain are refused with 550 unless told otherwise."""


@dataclass(frozen=True)
class Received:
    """One message as the server accepted it."""

    mail_from: str
    rcpt_to: tuple[str, ...]
    message: EmailMessage

    @property
    def message_id(self) -> str:
        """The Message-ID header."""
        return str(self.message["Message-ID"])

    @property
    def subject(self) -> str:
        """The decoded subject."""
        return str(self.message["Subject"])

    def body(self, subtype: str = "plain") -> str:
        """The text/plain (or text/html) part, decoded."""
        part = self.message.get_body(preferencelist=(subtype,))
        return "" if part is None else str(part.get_content()).replace("\r\n", "\n")


def parse(raw: bytes, mail_from: str = "", rcpt_to: Iterable[str] = ()) -> Received:
    """A received message from its bytes."""
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    return Received(mail_from, tuple(rcpt_to), message)


class StoringHandler:
    """aiosmtpd handler: refuse what it is told to, store everything else."""

    def __init__(
        self, maildir: Path | None, refuse_domains: Iterable[str], refuse_all: bool
    ) -> None:
        self.maildir = mailbox.Maildir(maildir, create=True) if maildir else None
        self.refuse_domains = {d.lower() for d in refuse_domains}
        self.refuse_all = refuse_all
        self.received: list[Received] = []
        self.lock = threading.Lock()

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        """Refuse recipients of the refused domains, accept the others."""
        if address.rpartition("@")[2].lower() in self.refuse_domains:
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        """Store the message (or refuse it when told to refuse everything)."""
        if self.refuse_all:
            return "550 5.7.1 Message refused"
        raw: bytes = envelope.original_content or envelope.content
        received = parse(raw, envelope.mail_from, envelope.rcpt_tos)
        with self.lock:
            self.received.append(received)
            if self.maildir is not None:
                self.maildir.add(raw)
        return "250 Message accepted for delivery"


class SmtpServer:
    """An SMTP server on 127.0.0.1 and a free port, in a thread of this process."""

    def __init__(
        self,
        *,
        maildir: Path | None = None,
        refuse_domains: Iterable[str] = (REFUSED_DOMAIN,),
        refuse_all: bool = False,
        port: int | None = None,
    ) -> None:
        self.handler = StoringHandler(maildir, refuse_domains, refuse_all)
        self.host, self.port = "127.0.0.1", port or free_port()
        self.controller = Controller(self.handler, hostname=self.host, port=self.port)

    def start(self) -> SmtpServer:
        """Listen; returns once the server answers."""
        self.controller.start()
        return self

    def stop(self) -> None:
        """Stop listening."""
        self.controller.stop()

    def messages(self, to: str | None = None) -> list[Received]:
        """Messages received so far, optionally only those for one recipient."""
        with self.handler.lock:
            found = list(self.handler.received)
        return [m for m in found if to is None or to in m.rcpt_to]


@contextmanager
def smtp_server(**options: Any) -> Iterator[SmtpServer]:
    """A running SmtpServer for the duration of a with-block."""
    server = SmtpServer(**options).start()
    try:
        yield server
    finally:
        server.stop()


def read_maildir(path: Path) -> list[Received]:
    """Every message a server (maybe in another process) stored in a Maildir."""
    box = mailbox.Maildir(path, create=False)
    return [parse(message.as_bytes()) for message in box]


def main() -> None:
    """Run a storing SMTP server until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=1025)
    parser.add_argument("--maildir", type=Path, required=True)
    args = parser.parse_args()
    server = SmtpServer(maildir=args.maildir, port=args.port).start()
    print(f"SMTP on {server.host}:{server.port}, storing in {args.maildir}", flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    with suppress(KeyboardInterrupt):
        stopped.wait()
    server.stop()


if __name__ == "__main__":
    main()
