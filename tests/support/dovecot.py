"""A real Dovecot IMAP server for tests: Debian's binaries from the shared cache, one user.

Started once per test session on 127.0.0.1 and a free port (see `dovecot_server` below, used
as a session fixture); mails are dropped into the user's Maildir as a delivery agent would.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from libs.devstack.dovecot import LocalDovecot, ensure_dovecot
from tests.support.processes import free_port

USER = "frontdesk"
PASSWORD = "dovecot-test-secret"


async def dovecot_server(home: Path) -> AsyncIterator[LocalDovecot]:
    """Unpack Dovecot (once per cache), start it in `home`, and stop it afterwards."""
    server = LocalDovecot(ensure_dovecot(), home, free_port(), USER, PASSWORD)
    await server.start()
    try:
        yield server
    finally:
        server.discard()
