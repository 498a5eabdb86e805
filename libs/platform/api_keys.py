"""API keys for machine clients (a client's CRM, an integration): checked by every service.

Staff issue a key in intake; the key is `fdk_<key id>_<secret>`, shown once. Only the SHA-256
of the secret is kept (a 256-bit random secret needs no slow hash: nothing can be guessed).
Staff keys for the bureau's own automation are not issued but configured: the SHA-256 of each
whole key in FRONTDESK_AUTH_STAFF_KEYS_SHA256 (`frontdesk staff-key` makes one).

Intake's ApiKeyIssued and ApiKeyRevoked events carry id, client, role and that digest; every
service keeps them in its own `api_keys` table from intake's topic (intake in the transaction
that issues them), so each checks a key without asking another service. A revocation takes
effect in each service as soon as it has read the event (milliseconds on a healthy stack).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from uuid import UUID

from fastapi import Request

from libs.errors import Unauthenticated
from libs.events import ApiKeyIssued, ApiKeyRevoked
from libs.platform.auth import Principal
from libs.platform.consumer import Handler, projecting
from libs.platform.db import Connection
from libs.platform.runtime import ServiceRuntime

PREFIX = "fdk"
_KEY = re.compile(rf"^{PREFIX}_([0-9a-f]{{32}})_([A-Za-z0-9_-]{{43}})$")


@dataclass(frozen=True)
class NewKey:
    """A freshly made key: what is shown once, and what is kept."""

    key_id: UUID
    key: str
    secret_sha256: str


def digest(secret: str) -> str:
    """The SHA-256 of a key's secret (or of a whole configured staff key), as kept."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_key(key_id: UUID) -> NewKey:
    """A new key with 256 random bits of secret."""
    secret = secrets.token_urlsafe(32)
    return NewKey(key_id, f"{PREFIX}_{key_id.hex}_{secret}", digest(secret))


def parse(key: str) -> tuple[UUID, str]:
    """The key id and secret of a key; Unauthenticated for anything not shaped like a key."""
    match = _KEY.match(key.strip())
    if match is None:
        raise Unauthenticated(f"the API key is not a Frontdesk key ({PREFIX}_<id>_<secret>)")
    return UUID(match.group(1)), match.group(2)


async def check(request: Request, key: str) -> Principal:
    """The principal of a valid, unrevoked key, from this service's own table of keys."""
    key_id, secret = parse(key)
    runtime: ServiceRuntime = request.app.state.runtime
    whole = digest(key.strip())
    if any(hmac.compare_digest(whole, known) for known in runtime.settings.auth_staff_keys_sha256):
        return Principal(f"staff-key:{key_id}", "bureau automation", "staff", None, "api_key")
    store = runtime.require_store()
    row = await store.pool.fetchrow(
        f"SELECT client_id, role, name, secret_sha256, revoked_at FROM {store.schema}.api_keys "
        "WHERE key_id = $1",
        key_id,
    )
    # compare even when the key is unknown, so timing tells nothing about which ids exist
    expected = row["secret_sha256"] if row is not None else "0" * 64
    if not hmac.compare_digest(expected, digest(secret)) or row is None:
        raise Unauthenticated("the API key is not valid")
    if row["revoked_at"] is not None:
        raise Unauthenticated("the API key was revoked")
    return Principal(
        subject=f"api-key:{key_id}",
        name=row["name"],
        role=row["role"],
        client_id=row["client_id"],
        via="api_key",
    )


async def issued(event: ApiKeyIssued, conn: Connection, schema: str) -> None:
    """Keep an issued key (once, however often the event is read)."""
    await conn.execute(
        f"INSERT INTO {schema}.api_keys "
        "(key_id, client_id, role, name, secret_sha256, issued_at) VALUES ($1, $2, $3, $4, $5, $6) "
        "ON CONFLICT (key_id) DO NOTHING",
        event.key_id,
        event.client_id,
        event.role,
        event.name,
        event.secret_sha256,
        event.occurred_at,
    )


async def revoked(event: ApiKeyRevoked, conn: Connection, schema: str) -> None:
    """Mark a key revoked (the first revocation's time stays)."""
    await conn.execute(
        f"UPDATE {schema}.api_keys SET revoked_at = coalesce(revoked_at, $2) WHERE key_id = $1",
        event.key_id,
        event.occurred_at,
    )


HANDLERS: dict[str, Handler] = dict(
    [projecting(ApiKeyIssued, issued), projecting(ApiKeyRevoked, revoked)]
)
"""What a service's subscription to intake's topic adds to keep the keys."""
