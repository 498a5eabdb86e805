"""API keys, given these events, when this command, then these events (or this refusal). No I/O.

A key belongs to one client: issued only for a client that is registered and has not left,
revoked once; the events carry the secret's digest, never the secret.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from libs.errors import Conflict, NotFound, Rejected
from libs.events import Actor, ApiKeyIssued, ApiKeyRevoked, ClientOffboarded
from libs.platform.api_keys import digest, new_key
from services.intake.domain.commands import IssueApiKey, RevokeApiKey
from services.intake.domain.state import KeyState, fold
from tests.intake.history import (
    AT,
    CLIENT,
    CORRELATION,
    OTHER,
    envelope,
    refused,
    registered,
    then,
    when,
)

KEY = UUID("01890a5d-ac96-774b-bcce-b30209911111")
DIGEST = digest("the secret")
STAFF_KEY = Actor(kind="staff", id="staff-key:1")


def issue(client: UUID = CLIENT, key_id: UUID = KEY, **fields: Any) -> IssueApiKey:
    """Staff issue the key KEY for the client, role client."""
    values: dict[str, Any] = {"role": "client", "name": "CRM", "secret_sha256": DIGEST, **fields}
    return IssueApiKey(client_id=client, at=AT, correlation_id=CORRELATION, key_id=key_id, **values)


def issued(client: UUID = CLIENT, key_id: UUID = KEY) -> ApiKeyIssued:
    """The key KEY was issued for the client."""
    return ApiKeyIssued(
        **envelope(client), key_id=key_id, role="client", name="CRM", secret_sha256=DIGEST
    )


def revoke(client: UUID = CLIENT, key_id: UUID = KEY) -> RevokeApiKey:
    """Staff revoke the key."""
    return RevokeApiKey(client_id=client, at=AT, correlation_id=CORRELATION, key_id=key_id)


def test_a_key_is_issued_for_a_registered_client_with_only_the_digest() -> None:
    assert when([registered()], issue()) == then(issued())


def test_the_issued_event_carries_the_commands_actor() -> None:
    [event] = when([registered()], issue(role="operator", actor=STAFF_KEY))
    assert (event["actor"], event["role"]) == (STAFF_KEY.model_dump(), "operator")


def test_a_key_for_an_unknown_client_is_not_found() -> None:
    refused([], issue(), NotFound, "no client")
    refused([registered(OTHER)], issue(), NotFound, "no client")


def test_a_client_that_left_gets_no_key() -> None:
    left = ClientOffboarded(**envelope())
    refused([registered(), left], issue(), Conflict, "offboarded")


def test_a_key_id_is_issued_once() -> None:
    refused([registered(), issued()], issue(), Conflict, "issued already")


def test_a_malformed_digest_is_refused_before_it_is_stored() -> None:
    refused([registered()], issue(secret_sha256="not a digest"), Rejected, "secret_sha256")


def test_a_key_is_revoked_once() -> None:
    history = [registered(), issued()]
    assert when(history, revoke()) == then(ApiKeyRevoked(**envelope(), key_id=KEY))
    again = [*history, ApiKeyRevoked(**envelope(), key_id=KEY)]
    refused(again, revoke(), Conflict, "revoked already")


def test_an_unknown_key_or_another_clients_key_cannot_be_revoked() -> None:
    refused([registered()], revoke(), NotFound, "no API key")
    theirs = [registered(), registered(OTHER), issued(OTHER)]
    refused(theirs, revoke(), NotFound, "no API key")


def test_a_client_that_left_may_still_have_its_keys_revoked() -> None:
    history = [registered(), issued(), ClientOffboarded(**envelope())]
    assert [e["type"] for e in when(history, revoke())] == ["ApiKeyRevoked"]


def test_the_fold_knows_each_key_and_whether_it_was_revoked() -> None:
    other_key = UUID("01890a5d-ac96-774b-bcce-b30209922222")
    state = fold(
        [registered(), issued(), issued(key_id=other_key), ApiKeyRevoked(**envelope(), key_id=KEY)]
    )
    assert state.keys == {
        KEY: KeyState(KEY, CLIENT, revoked=True),
        other_key: KeyState(other_key, CLIENT),
    }


def test_the_event_of_a_new_key_holds_a_digest_of_its_secret_and_not_the_secret() -> None:
    made = new_key(KEY)
    secret = made.key.removeprefix(f"fdk_{KEY.hex}_")
    [event] = when([registered()], issue(secret_sha256=made.secret_sha256))
    assert event["secret_sha256"] == digest(secret)
    assert secret not in str(event)
    assert made.key not in str(event)
