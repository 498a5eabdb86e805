"""The session's Keycloak for tests: the frontdesk realm, a foreign realm, and tokens on demand.

The realm's users and their demo passwords come from deploy/keycloak/frontdesk-realm.json; the
foreign realm (another issuer in the same server) and a client with one-second tokens are
added here through the admin REST API, so the committed realm stays what the stack uses.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx

from libs.devstack.keycloak import CLIENT, REALM, REALM_FILE, LocalKeycloak, password_grant
from libs.platform.auth import TokenVerifier

FOREIGN_REALM = "elsewhere"
SHORT_LIVED_CLIENT = "frontdesk-short-lived"
PASSWORDS = {
    user["username"]: user["credentials"][0]["value"]
    for user in json.loads(REALM_FILE.read_text())["users"]
}
TENANTS = {
    user["username"]: UUID(user["attributes"]["frontdesk_client_id"][0])
    for user in json.loads(REALM_FILE.read_text())["users"]
    if "attributes" in user
}
AUDIENCE_MAPPER = {
    "name": "frontdesk audience",
    "protocol": "openid-connect",
    "protocolMapper": "oidc-audience-mapper",
    "config": {"included.custom.audience": "frontdesk", "access.token.claim": "true"},
}


def _password_client(client_id: str, **attributes: str) -> dict[str, Any]:
    return {
        "clientId": client_id,
        "enabled": True,
        "publicClient": True,
        "standardFlowEnabled": False,
        "directAccessGrantsEnabled": True,
        "attributes": attributes,
        "protocolMappers": [AUDIENCE_MAPPER],
    }


def foreign_realm() -> dict[str, Any]:
    """Another issuer in the same server, with an operator whose token looks just like ours."""
    return {
        "realm": FOREIGN_REALM,
        "enabled": True,
        "roles": {"realm": [{"name": "operator"}, {"name": "staff"}]},
        "clients": [_password_client(CLIENT)],
        "users": [
            {
                "username": "intruder",
                "enabled": True,
                "email": "intruder@elsewhere.example",
                "emailVerified": True,
                "firstName": "Eve",
                "lastName": "Elsewhere",
                "credentials": [{"type": "password", "value": "intruder", "temporary": False}],
                "realmRoles": ["staff"],
            }
        ],
    }


@dataclass
class Keycloak:
    """The running server, how long it took to start, and tokens for the realm's users."""

    server: LocalKeycloak
    start_seconds: float

    @property
    def issuer(self) -> str:
        """The frontdesk realm's issuer."""
        return self.server.issuer(REALM)

    async def token(
        self, username: str, *, realm: str = REALM, client: str = CLIENT, password: str = ""
    ) -> str:
        """An access token for a user of a realm (password grant)."""
        async with httpx.AsyncClient(base_url=self.server.url, timeout=30) as http:
            secret = password or PASSWORDS[username]
            return await password_grant(http, realm, client, username, secret)

    def verifier(self, **options: Any) -> TokenVerifier:
        """A verifier of the frontdesk realm's tokens, as a service configured for it has."""
        return TokenVerifier(self.issuer, "frontdesk", **options)


async def start_keycloak(home: Path, port: int, cache_dir: Path) -> Keycloak:
    """Start the server with the frontdesk realm, then add the foreign realm and test client."""
    server = LocalKeycloak(home, port=port, cache_dir=cache_dir)
    seconds = await server.start()
    async with server.admin() as admin:
        await admin.create_realm(foreign_realm())
        short = _password_client(SHORT_LIVED_CLIENT, **{"access.token.lifespan": "1"})
        await admin.create_client(REALM, short)
    return Keycloak(server, seconds)
