"""Chat webhooks and the SMS provider never reach the bureau's own network unless allowed.

The finding: a chat webhook URL pointing at 127.0.0.1 made notify connect to an internal
port. A listening socket that records every connection shows that nothing connected.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from libs.events import new_id
from libs.platform import outbound
from libs.platform.outbound import OutboundPolicy, internal
from services.notify.adapters.chat import ChatTransport, chat_text
from services.notify.adapters.sms import SmsTransport
from services.notify.delivery import DeliveryError, Outgoing
from services.notify.settings import NotifySettings
from tests.notify.stand_in import StandIn


class Listener:
    """A TCP server on 127.0.0.1 that counts the connections made to it."""

    def __init__(self) -> None:
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        """Listen on a free port; returns it."""
        self.server = await asyncio.start_server(self._accepted, "127.0.0.1", 0)
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def _accepted(self, _: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        writer.close()


@pytest.fixture
async def listener() -> AsyncIterator[tuple[Listener, int]]:
    """A counting listener and its port."""
    found = Listener()
    port = await found.start()
    yield found, port
    assert found.server is not None
    found.server.close()
    await found.server.wait_closed()


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    """The SMS and chat stand-in, on 127.0.0.1."""
    server = StandIn().start()
    yield server
    server.stop()


def message(channel: str, *recipients: str) -> Outgoing:
    """A notification to send on a channel."""
    return Outgoing(
        notification_id=new_id(), dedupe_key="k", client_id=new_id(), channel=channel,  # type: ignore[arg-type]
        kind="escalation", recipients=recipients, language="nl", subject="Spoed",
        body_text="Bel de klant terug", body_html=None, call_ids=(), message_id="<m@x>",
        attempts=0, created_at=datetime.now(UTC),
    )  # fmt: skip


def settings(**values: Any) -> NotifySettings:
    """Notify's settings with plain-http webhooks allowed (the guard is what is tested)."""
    return NotifySettings(chat_allow_http=True, http_timeout_seconds=2, **values)


async def test_a_chat_webhook_on_loopback_is_refused_for_good_and_nothing_connects(
    listener: tuple[Listener, int],
) -> None:
    counting, port = listener
    with pytest.raises(DeliveryError, match="not allowed") as refused:
        await ChatTransport(settings()).send(message("chat", f"http://127.0.0.1:{port}/hook"))
    assert refused.value.permanent
    assert counting.connections == 0


@pytest.mark.parametrize(
    "host",
    [
        "localhost", "[::1]", "[::ffff:127.0.0.1]", "10.1.2.3", "192.168.1.10", "172.16.0.1",
        "169.254.169.254", "[fe80::1]", "0.0.0.0", "224.0.0.1", "100.64.0.1", "[fc00::1]",
    ],
)  # fmt: skip
async def test_private_local_and_special_addresses_are_refused_before_connecting(
    host: str, listener: tuple[Listener, int]
) -> None:
    counting, port = listener
    with pytest.raises(DeliveryError, match="not allowed") as refused:
        await ChatTransport(settings()).send(message("chat", f"http://{host}:{port}/hook"))
    assert refused.value.permanent
    assert counting.connections == 0


async def test_the_sms_provider_is_guarded_too(listener: tuple[Listener, int]) -> None:
    counting, port = listener
    sms = SmsTransport(settings(sms_url=f"http://127.0.0.1:{port}/sms"))
    with pytest.raises(DeliveryError, match="SMS provider not allowed") as refused:
        await sms.send(message("sms", "+31612345678"))
    assert refused.value.permanent
    assert counting.connections == 0


async def test_a_network_the_settings_allow_is_reached(stand_in: StandIn) -> None:
    allowed = settings(outbound_allow="127.0.0.0/8, sms.internal")
    await ChatTransport(allowed).send(message("chat", f"{stand_in.url}/hook"))
    [posted] = stand_in.requests("/hook")
    assert posted.body == {"text": "Bel de klant terug"}


async def test_the_request_goes_to_the_address_that_was_checked(
    stand_in: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Resolved once, checked, connected to: a second DNS answer has no say."""
    answers = [[ipaddress.ip_address("127.0.0.1")]]

    async def resolve_once(host: str, port: int) -> list[Any]:
        assert host == "hooks.test"
        return answers.pop()  # a second lookup would fail the test with IndexError

    monkeypatch.setattr(outbound, "resolve", resolve_once)
    port = stand_in.url.rsplit(":", 1)[1]
    allowed = settings(outbound_allow="hooks.test")
    await ChatTransport(allowed).send(message("chat", f"http://hooks.test:{port}/hook"))
    [posted] = stand_in.requests("/hook")
    assert posted.headers["Host"] == f"hooks.test:{port}"


@pytest.mark.parametrize("address", ["8.8.8.8", "2001:4860:4860::8888", "93.184.215.14"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert not internal(ipaddress.ip_address(address))
    assert OutboundPolicy().permits("hooks.example.com", ipaddress.ip_address(address))


def test_the_allowed_list_takes_host_names_and_networks() -> None:
    policy = OutboundPolicy.parse(["10.0.0.0/8", " SMS.Internal. ", "", "::1"])
    assert policy.permits("sms.internal", ipaddress.ip_address("192.168.0.1"))
    assert policy.permits("x", ipaddress.ip_address("10.9.9.9"))
    assert policy.permits("x", ipaddress.ip_address("::1"))
    assert not policy.permits("x", ipaddress.ip_address("127.0.0.1"))


# What a chat shows: typed text, never markup or mentions


@pytest.mark.parametrize(
    ("typed", "shown"),
    [
        ("<!channel> lekkage", "&lt;!channel&gt; lekkage"),
        ("<https://evil.example|Klik hier>", "&lt;https://evil.example|Klik hier&gt;"),
        ("<@U024BE7LH> bel terug", "&lt;@\u2060U024BE7LH&gt; bel terug"),
        ("<at>Jan</at>", "&lt;at&gt;Jan&lt;/at&gt;"),
        ("@channel @here @everyone", "@\u2060channel @\u2060here @\u2060everyone"),
        ("(@jan) zei: Bakker & Zn", "(@\u2060jan) zei: Bakker &amp; Zn"),
        ("mail jan@bakker.nl", "mail jan@bakker.nl"),
        ("&lt; al geschreven", "&amp;lt; al geschreven"),
    ],
)
def test_chat_text_escapes_markup_and_defuses_mentions(typed: str, shown: str) -> None:
    assert chat_text(typed) == shown


async def test_a_chat_webhook_is_posted_the_typed_text_escaped(stand_in: StandIn) -> None:
    allowed = settings(outbound_allow="127.0.0.0/8")
    typed = "Lekkage! <!channel> @here zie <https://evil.example|dit> & bel jan@bakker.nl"
    sent = replace(message("chat", f"{stand_in.url}/hook"), body_text=f"  {typed}\n")
    await ChatTransport(allowed).send(sent)
    [posted] = stand_in.requests("/hook")
    text = posted.body["text"]
    assert ("<" in text, ">" in text, "@here" in text) == (False, False, False)
    assert text == (
        "Lekkage! &lt;!channel&gt; @\u2060here zie &lt;https://evil.example|dit&gt; "
        "&amp; bel jan@bakker.nl"
    )


@pytest.mark.parametrize("host", ["a..b.example", "x" * 64 + ".example", ".example"])
async def test_a_host_that_is_not_a_name_is_refused_not_an_error(host: str) -> None:
    with pytest.raises(outbound.OutboundRefused, match="cannot be resolved"):
        await outbound.resolve(host, 443)
