"""Reading one client's mailbox over IMAP (aioimaplib): each mail once, across restarts.

The caller keeps a `MailboxState`, (UIDVALIDITY, last UID seen), and hands it back on every
fetch: only mails with a higher UID are fetched, in UID order, with BODY.PEEK so the client's
mail is not marked as read. A different UIDVALIDITY means the server rebuilt the mailbox and
its UIDs no longer mean what they did: the fetch says so (`rebuilt`) and starts again at UID 1,
and the caller drops what it already has by Message-ID.

Every network step has a timeout. A dropped connection or a timeout raises `MailboxUnavailable`
from the call that met it; the next call connects again. The password is never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aioimaplib  # type: ignore[import-untyped]  # ships no type hints
import structlog

log = structlog.get_logger(__name__)

T = TypeVar("T")
_UIDVALIDITY = re.compile(rb"\[UIDVALIDITY (\d+)\]")
_UID = re.compile(rb"\bUID (\d+)")
_SIZE = re.compile(rb"\bRFC822\.SIZE (\d+)")
_LITERAL = re.compile(rb"BODY\[\] \{(\d+)\}$")
_ARRIVALS = (b"EXISTS", b"RECENT")


class MailboxUnavailable(RuntimeError):
    """The mailbox cannot be read now (refused login, lost connection, timeout ...)."""


@dataclass(frozen=True)
class MailboxState:
    """How far the caller has read: the mailbox's UIDVALIDITY and the last UID it kept."""

    uidvalidity: int
    last_uid: int = 0


@dataclass(frozen=True)
class FetchedMail:
    """One new mail: its UID and its raw RFC 5322 bytes."""

    uid: int
    raw: bytes


@dataclass(frozen=True)
class FetchResult:
    """What one fetch brought and how far it got."""

    mails: tuple[FetchedMail, ...]
    state: MailboxState
    rebuilt: bool = False
    """The UIDVALIDITY changed: the mailbox was rebuilt and was read again from UID 1."""
    too_large: tuple[tuple[int, int], ...] = ()
    """(UID, size) of mails larger than `max_mail_bytes`: passed over, not fetched."""
    more: bool = False
    """The caps were reached: more new mail is waiting."""


@dataclass
class MailboxReader:
    """One IMAP mailbox (host, port, TLS, login, folder), read a batch at a time."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)
    tls: bool = True
    folder: str = "INBOX"
    timeout: float = 30
    max_mails: int = 100
    max_bytes: int = 50 * 1024 * 1024
    max_mail_bytes: int = 25 * 1024 * 1024
    poll_interval: float = 30
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False)
    _client: aioimaplib.IMAP4 | None = field(default=None, init=False, repr=False)
    _lost: asyncio.Event | None = field(default=None, init=False, repr=False)
    _uidvalidity: int = field(default=0, init=False, repr=False)

    async def fetch_new(self, state: MailboxState | None) -> FetchResult:
        """The mails after `state.last_uid` (all of them without a state), in UID order."""
        client = await self._connected()
        rebuilt = state is not None and state.uidvalidity != self._uidvalidity
        if state is not None and rebuilt:
            log.warning("inbox.imap_mailbox_rebuilt", **self._where(), was=state.uidvalidity)
        last = 0 if state is None or rebuilt else state.last_uid
        uids = await self._uids_after(client, last)
        return await self._fetch_batch(client, uids, last, rebuilt)

    async def mark(self) -> MailboxState:
        """How far the mailbox goes now: reading from this state fetches only later mail."""
        client = await self._connected()
        uids = await self._uids_after(client, 0)
        return MailboxState(self._uidvalidity, max(uids, default=0))

    async def wait(self, timeout: float) -> bool:  # noqa: ASYNC109
        """Return when new mail may have arrived (True) or after `timeout` seconds (False)."""
        client = await self._connected()
        if client.has_capability("IDLE"):
            return await self._idle(client, timeout)
        return await self._poll(client, timeout)

    async def close(self) -> None:
        """Log out and close the connection (quietly: it may be gone already)."""
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(aioimaplib.AioImapException, OSError, TimeoutError):
                await asyncio.wait_for(client.logout(), self.timeout)

    async def _connected(self) -> aioimaplib.IMAP4:
        if self._client is not None:
            if self._lost is not None and self._lost.is_set():
                self._client = None
                raise MailboxUnavailable(f"{self._label()}: the connection was lost")
            return self._client
        return await self._connect()

    async def _connect(self) -> aioimaplib.IMAP4:
        lost = self._lost = asyncio.Event()

        def on_lost(_exc: Exception | None) -> None:
            lost.set()

        client = self._new_client(on_lost)
        self._client = client
        try:
            await self._step(client.wait_hello_from_server(), "greeting")
            await self._login(client)
            self._uidvalidity = await self._select(client)
        except MailboxUnavailable:
            self._drop()
            raise
        log.info("inbox.imap_connected", **self._where(), uidvalidity=self._uidvalidity)
        return client

    def _new_client(self, on_lost: Any) -> aioimaplib.IMAP4:
        # IMAP4 itself, not IMAP4_SSL: only IMAP4 passes on the connection-lost callback
        context = (self.ssl_context or ssl.create_default_context()) if self.tls else None
        return aioimaplib.IMAP4(
            self.host, self.port, timeout=self.timeout, conn_lost_cb=on_lost, ssl_context=context
        )

    async def _login(self, client: aioimaplib.IMAP4) -> None:
        answer = await self._step(client.login(self.user, self.password), "login")
        if answer.result != "OK":
            reason = _text(answer.lines[-1:]).replace(self.password, "***")
            raise MailboxUnavailable(f"{self._label()}: login refused: {reason}")

    async def _select(self, client: aioimaplib.IMAP4) -> int:
        answer = await self._step(client.select(self.folder), "select")
        found = _UIDVALIDITY.search(b" ".join(_lines(answer.lines)))
        if answer.result != "OK" or found is None:
            raise MailboxUnavailable(f"{self._label()}: cannot open: {_text(answer.lines[-1:])}")
        return int(found.group(1))

    async def _uids_after(self, client: aioimaplib.IMAP4, last: int) -> list[int]:
        # `n:*` always holds the highest UID, even when it is below n: filter again
        answer = await self._command(client.uid_search(f"UID {last + 1}:*", charset=None))
        # aioimaplib drops the `SEARCH` word (some servers' answers still hold it)
        found = [int(n) for line in _lines(answer.lines[:-1]) for n in line.split() if n.isdigit()]
        return sorted(uid for uid in set(found) if uid > last)

    async def _fetch_batch(
        self, client: aioimaplib.IMAP4, uids: list[int], last: int, rebuilt: bool
    ) -> FetchResult:
        sizes = await self._sizes(client, uids[: self.max_mails])
        mails: list[FetchedMail] = []
        too_large: list[tuple[int, int]] = []
        total = 0
        for uid, size in sizes:
            if size > self.max_mail_bytes:
                too_large.append((uid, size))
            elif mails and total + size > self.max_bytes:
                break
            elif (raw := await self._body(client, uid)) is not None:
                mails.append(FetchedMail(uid, raw))
                total += size
            last = uid
        state = MailboxState(self._uidvalidity, last)
        more = bool(uids) and last < uids[-1]
        if too_large:
            log.warning("inbox.imap_mail_too_large", **self._where(), mails=too_large)
        return FetchResult(tuple(mails), state, rebuilt, tuple(too_large), more)

    async def _sizes(self, client: aioimaplib.IMAP4, uids: list[int]) -> list[tuple[int, int]]:
        if not uids:
            return []
        answer = await self._command(client.uid("fetch", _set(uids), "(RFC822.SIZE)"))
        sizes = {}
        for line in _lines(answer.lines):
            uid, size = _UID.search(line), _SIZE.search(line)
            if uid is not None and size is not None:
                sizes[int(uid.group(1))] = int(size.group(1))
        return sorted(sizes.items())

    async def _body(self, client: aioimaplib.IMAP4, uid: int) -> bytes | None:
        """The mail's bytes, or None when it was expunged in the meantime."""
        answer = await self._command(client.uid("fetch", str(uid), "(BODY.PEEK[])"))
        lines = answer.lines
        for index, line in enumerate(lines[:-1]):
            if isinstance(line, bytes) and _LITERAL.search(line):
                return bytes(lines[index + 1])
        return None

    async def _idle(self, client: aioimaplib.IMAP4, timeout: float) -> bool:  # noqa: ASYNC109
        idle = await self._step(client.idle_start(timeout=timeout), "idle")
        try:
            pushed = await self._step(client.wait_server_push(timeout + 1), "idle", timeout + 5)
        finally:
            if client.has_pending_idle():
                client.idle_done()
        await self._step(idle, "idle done")
        return isinstance(pushed, list) and _arrived(pushed)

    async def _poll(self, client: aioimaplib.IMAP4, timeout: float) -> bool:  # noqa: ASYNC109
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (left := deadline - loop.time()) > 0:
            await asyncio.sleep(min(self.poll_interval, left))
            if _arrived((await self._command(client.noop())).lines):
                return True
        return False

    async def _command(self, call: Awaitable[Any]) -> Any:
        answer = await self._step(call, "command")
        if answer.result != "OK":
            raise MailboxUnavailable(f"{self._label()}: the server said {_text(answer.lines[-1:])}")
        return answer

    async def _step(self, call: Awaitable[T], what: str, timeout: float | None = None) -> T:  # noqa: ASYNC109
        """Await one network step; a timeout, an error or a lost connection drops the session."""
        lost = self._lost or asyncio.Event()
        task = asyncio.ensure_future(call)
        watch = asyncio.ensure_future(lost.wait())
        done, _ = await asyncio.wait({task, watch}, timeout=timeout or self.timeout,
                                     return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
        watch.cancel()
        if task in done and task.exception() is None:
            return task.result()
        reason = _reason(task, done, watch)
        task.cancel()
        self._drop()
        log.warning("inbox.imap_unavailable", **self._where(), step=what, reason=reason)
        raise MailboxUnavailable(f"{self._label()}: {what}: {reason}")

    def _drop(self) -> None:
        client, self._client = self._client, None
        transport = getattr(getattr(client, "protocol", None), "transport", None)
        if transport is not None:
            transport.close()

    def _label(self) -> str:
        return f"imap {self.user}@{self.host}:{self.port}/{self.folder}"

    def _where(self) -> dict[str, Any]:
        return {"host": self.host, "port": self.port, "user": self.user, "folder": self.folder}


def _reason(task: asyncio.Future[Any], done: set[Any], watch: Any) -> str:
    if task in done:
        exc = task.exception()
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return "the connection was lost" if watch in done else "timed out"


def _lines(lines: list[Any]) -> list[bytes]:
    return [bytes(line) for line in lines if isinstance(line, bytes | bytearray)]


def _text(lines: list[Any]) -> str:
    return b" ".join(_lines(lines)).decode(errors="replace")


def _arrived(lines: list[Any]) -> bool:
    return any(word in line for line in _lines(lines) for word in _ARRIVALS)


def _set(uids: list[int]) -> str:
    return ",".join(str(uid) for uid in uids)
