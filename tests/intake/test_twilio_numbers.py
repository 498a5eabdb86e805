"""Setting a number's voice webhook through the `twilio` package, against a local server that
checks the requests as Twilio's API would."""

from __future__ import annotations

import socket

import pytest

from libs.errors import Conflict
from services.intake.adapters import twilio_numbers
from services.intake.adapters.twilio_numbers import (
    TwilioAccount,
    TwilioUnreachable,
    set_voice_webhook,
)
from tests.intake.twilio_fake import ACCOUNT_SID, AUTH_TOKEN, fake_twilio

NUMBER = "+31851234567"
SID = "PN" + "a" * 32
VOICE = "https://frontdesk.example/calls/twilio/voice"


async def test_the_voice_webhook_of_the_number_is_set_by_post() -> None:
    with fake_twilio({NUMBER: SID}) as fake:
        await set_voice_webhook(TwilioAccount(ACCOUNT_SID, AUTH_TOKEN, fake.url), NUMBER, VOICE)
    assert fake.updates == [{"sid": SID, "VoiceUrl": VOICE, "VoiceMethod": "POST"}]


async def test_a_number_the_account_lacks_is_a_conflict_that_says_so() -> None:
    with fake_twilio({}) as fake, pytest.raises(Conflict, match="has no number"):
        await set_voice_webhook(TwilioAccount(ACCOUNT_SID, AUTH_TOKEN, fake.url), NUMBER, VOICE)


async def test_a_wrong_token_is_refused_by_twilio_and_changes_nothing() -> None:
    with fake_twilio({NUMBER: SID}) as fake, pytest.raises(Conflict, match="Twilio refused"):
        await set_voice_webhook(TwilioAccount(ACCOUNT_SID, "wrong", fake.url), NUMBER, VOICE)
    assert fake.updates == []


async def test_twilio_out_of_reach_is_unreachable_not_a_crash() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    account = TwilioAccount(ACCOUNT_SID, AUTH_TOKEN, f"http://127.0.0.1:{port}")
    with pytest.raises(TwilioUnreachable, match="could not be reached"):
        await set_voice_webhook(account, NUMBER, VOICE)


async def test_twilio_that_never_answers_is_given_up_after_the_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(twilio_numbers, "TIMEOUT_SECONDS", 0.5)
    with socket.socket() as silent:  # accepts the connection, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        account = TwilioAccount(
            ACCOUNT_SID, AUTH_TOKEN, f"http://127.0.0.1:{silent.getsockname()[1]}"
        )
        with pytest.raises(TwilioUnreachable):
            await set_voice_webhook(account, NUMBER, VOICE)
