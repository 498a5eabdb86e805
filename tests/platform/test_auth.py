"""Bearer JWTs: claim mapping without I/O, the HTTP answers in-process, and a real Keycloak.

The Keycloak tests share the session's server (one start per session): tokens come from its
password grant, a second realm plays a foreign issuer, a client with one-second tokens makes
expired ones, and a key added through the admin API is a rotation.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Annotated, TypeVar
from uuid import UUID, uuid4

import httpx
import jwt
import pytest
from fastapi import Depends, FastAPI

from libs.errors import Unauthenticated
from libs.events.envelope import Actor
from libs.platform.auth import (
    ANONYMOUS,
    ClaimMapping,
    Principal,
    TokenVerifier,
    principal,
    principal_from_claims,
    require,
    role_from,
)
from libs.platform.http import ops
from libs.platform.problems import install_outages, install_problems
from libs.platform.settings import Settings
from tests.support.keycloak import FOREIGN_REALM, SHORT_LIVED_CLIENT, TENANTS, Keycloak
from tests.support.pipeline import wait_until
from tests.support.processes import free_port

KEYCLOAK = ClaimMapping()
TENANT = UUID("0b6f3a52-7d1e-4c3a-9a51-5a0c3e7f1a01")


def claims(**extra: object) -> dict[str, object]:
    """A verified token's claims as Keycloak writes them."""
    return {"sub": "user-1", "preferred_username": "daan", **extra}


# --- claim mapping, no I/O ---------------------------------------------------------------


def test_keycloak_realm_roles_give_the_role() -> None:
    found = claims(realm_access={"roles": ["offline_access", "operator"]})
    assert principal_from_claims(found, KEYCLOAK) == Principal(
        subject="user-1", name="daan", role="operator", client_id=None, via="token"
    )


def test_the_most_powerful_role_wins() -> None:
    found = claims(realm_access={"roles": ["client", "staff", "operator"]})
    assert role_from(found, KEYCLOAK) == "staff"


def test_entra_app_roles_map_through_the_configured_names() -> None:
    entra = ClaimMapping(role_claim="roles", role_names={"Frontdesk.Operator": "operator"})
    assert role_from(claims(roles=["Frontdesk.Operator"]), entra) == "operator"


def test_a_single_group_string_counts_as_one_name() -> None:
    google = ClaimMapping(role_claim="groups", role_names={"staff@bureau.example": "staff"})
    assert role_from(claims(groups="staff@bureau.example"), google) == "staff"


@pytest.mark.parametrize(
    "found",
    [
        claims(),
        claims(realm_access={"roles": ["offline_access"]}),
        claims(realm_access="operator"),
        claims(realm_access={"roles": ["telephony"]}),  # webhooks prove telephony, tokens never
    ],
)
def test_no_role_of_ours_is_no_role(found: dict[str, object]) -> None:
    assert role_from(found, KEYCLOAK) is None


def test_a_client_user_carries_its_tenant() -> None:
    found = claims(realm_access={"roles": ["client"]}, frontdesk_client_id=str(TENANT))
    assert principal_from_claims(found, KEYCLOAK).client_id == TENANT


@pytest.mark.parametrize(
    "found",
    [
        claims(realm_access={"roles": ["client"]}),
        claims(realm_access={"roles": ["client"]}, frontdesk_client_id="not-a-uuid"),
    ],
)
def test_a_client_token_without_a_valid_tenant_is_refused(found: dict[str, object]) -> None:
    with pytest.raises(Unauthenticated):
        principal_from_claims(found, KEYCLOAK)


@pytest.mark.parametrize("subject", ["", "x" * 201])
def test_a_subject_that_cannot_be_an_actor_id_is_refused(subject: str) -> None:
    with pytest.raises(Unauthenticated):
        principal_from_claims(claims(sub=subject), KEYCLOAK)


def test_the_settings_describe_the_verifier() -> None:
    settings = Settings.model_validate(
        {
            "service": "calls",
            "DATABASE_URL": "postgresql://localhost/frontdesk",
            "auth_issuer": "https://login.example/bureau/v2.0",
            "auth_role_claim": "roles",
            "auth_role_names": {"Frontdesk.Staff": "staff"},
        }
    )
    verifier = TokenVerifier.from_settings(settings)
    assert verifier is not None
    assert (verifier.issuer, verifier.audience) == (
        "https://login.example/bureau/v2.0",
        "frontdesk",
    )
    assert verifier.mapping == ClaimMapping(
        "roles", "frontdesk_client_id", {"Frontdesk.Staff": "staff"}
    )
    unset = Settings.model_validate({"service": "calls", "DATABASE_URL": "postgresql://x"})
    assert TokenVerifier.from_settings(unset) is None


def test_the_actor_is_the_principal() -> None:
    caller = principal_from_claims(claims(realm_access={"roles": ["operator"]}), KEYCLOAK)
    assert caller.actor() == Actor(kind="operator", id="user-1")
    with pytest.raises(Unauthenticated):
        ANONYMOUS.actor()


# --- the HTTP answers, in-process ---------------------------------------------------------


def api(verifier: TokenVerifier | None) -> FastAPI:
    """The shared ops routes and a staff-only route, answering refusals as every service does."""
    app = FastAPI()
    install_problems(app)
    install_outages(app)
    app.include_router(ops)
    app.state.token_verifier = verifier

    @app.get("/staff-only")
    async def staff_only(
        caller: Annotated[Principal, Depends(require("staff"))],
    ) -> dict[str, str]:
        return {"hello": caller.name}

    return app


def client_of(app: FastAPI) -> httpx.AsyncClient:
    """An HTTP client talking to the app in memory."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc")


def bearer(token: str) -> dict[str, str]:
    """The Authorization header of a bearer token."""
    return {"Authorization": f"Bearer {token}"}


async def test_without_credentials_the_caller_is_anonymous() -> None:
    async with client_of(api(None)) as http:
        response = await http.get("/whoami")
    assert response.status_code == 200
    assert response.json()["via"] == "anonymous"
    assert response.json()["role"] is None


async def test_a_role_route_asks_an_anonymous_caller_to_sign_in() -> None:
    async with client_of(api(None)) as http:
        response = await http.get("/staff-only")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json()["detail"] == "sign in first"


async def test_a_role_route_refuses_another_role_with_403() -> None:
    app = api(None)
    operator = Principal("user-1", "daan", "operator", None, "token")
    app.dependency_overrides[principal] = lambda: operator
    async with client_of(app) as http:
        response = await http.get("/staff-only")
    assert response.status_code == 403


@pytest.mark.parametrize("header", ["Basic dXNlcjpwdw==", "Bearer", "Bearer not-a-jwt"])
async def test_a_malformed_authorization_is_401_invalid_token(header: str) -> None:
    verifier = TokenVerifier("http://127.0.0.1:1/realms/x", "frontdesk", jwks_url="http://x/")
    async with client_of(api(verifier)) as http:
        response = await http.get("/whoami", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert set(response.json()) == {"detail", "errors"}


async def test_a_service_without_an_issuer_accepts_no_token(keyless_token: str) -> None:
    async with client_of(api(None)) as http:
        response = await http.get("/whoami", headers=bearer(keyless_token))
    assert response.status_code == 401


async def test_an_unreachable_identity_provider_is_503_not_500(keyless_token: str) -> None:
    away = f"http://127.0.0.1:{free_port()}"
    verifier = TokenVerifier(f"{away}/realms/frontdesk", "frontdesk")
    async with client_of(api(verifier)) as http:
        response = await http.get("/whoami", headers=bearer(keyless_token))
    assert response.status_code == 503
    assert "Retry-After" in response.headers


@pytest.fixture
def keyless_token() -> str:
    """A JWT that names an RS256 key nobody publishes (its signature is never reached)."""
    header = base64.urlsafe_b64encode(b'{"alg":"RS256","kid":"nobody","typ":"JWT"}')
    payload = base64.urlsafe_b64encode(b'{"sub":"x"}')
    return f"{header.decode().rstrip('=')}.{payload.decode().rstrip('=')}.c2ln"


# --- against the real Keycloak -------------------------------------------------------------

T = TypeVar("T")


def needs_keycloak(test: T) -> T:
    """Mark a test of the session's Keycloak: infra, with time for a first download and start."""
    marked: T = pytest.mark.timeout(900)(pytest.mark.infra(test))
    return marked


@pytest.fixture
async def whoami(keycloak: Keycloak) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of an app that trusts the session Keycloak's frontdesk realm."""
    async with client_of(api(keycloak.verifier())) as http:
        yield http


@needs_keycloak
async def test_an_operator_token_verifies_to_role_operator(
    keycloak: Keycloak, whoami: httpx.AsyncClient
) -> None:
    response = await whoami.get("/whoami", headers=bearer(await keycloak.token("operator-1")))
    assert response.status_code == 200, response.text
    assert response.json() | {"subject": "?"} == {
        "subject": "?",
        "name": "operator-1",
        "role": "operator",
        "client_id": None,
        "via": "token",
    }


@needs_keycloak
async def test_a_client_users_token_carries_its_tenant(
    keycloak: Keycloak, whoami: httpx.AsyncClient
) -> None:
    for user in ("client-a", "client-b"):
        response = await whoami.get("/whoami", headers=bearer(await keycloak.token(user)))
        assert response.json()["role"] == "client"
        assert response.json()["client_id"] == str(TENANTS[user])


@needs_keycloak
async def test_a_tenant_set_through_the_admin_api_is_in_the_next_token(
    keycloak: Keycloak,
) -> None:
    tenant = uuid4()
    async with keycloak.server.admin() as admin:
        await admin.set_attribute("frontdesk", "client-b", "frontdesk_client_id", str(tenant))
    try:
        caller = await keycloak.verifier().verify(await keycloak.token("client-b"))
        assert caller.client_id == tenant
    finally:
        async with keycloak.server.admin() as admin:
            original = str(TENANTS["client-b"])
            await admin.set_attribute("frontdesk", "client-b", "frontdesk_client_id", original)


@needs_keycloak
async def test_an_expired_token_is_401(keycloak: Keycloak) -> None:
    token = await keycloak.token("operator-1", client=SHORT_LIVED_CLIENT)
    lenient = keycloak.verifier(leeway=300)
    assert (await lenient.verify(token)).role == "operator"  # nothing wrong but its age
    strict = keycloak.verifier(leeway=0)

    async def expired() -> bool:
        try:
            await strict.verify(token)
        except Unauthenticated as exc:
            return str(exc) == "the token has expired"
        return False

    await wait_until(expired, within=10, what="the one-second token to expire")
    async with client_of(api(strict)) as http:
        response = await http.get("/whoami", headers=bearer(token))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


@needs_keycloak
async def test_a_token_of_another_issuer_is_401(
    keycloak: Keycloak, whoami: httpx.AsyncClient
) -> None:
    foreign = await keycloak.token("intruder", realm=FOREIGN_REALM, password="intruder")
    response = await whoami.get("/whoami", headers=bearer(foreign))
    assert response.status_code == 401


@needs_keycloak
async def test_a_foreign_issuers_token_is_refused_even_with_its_keys(keycloak: Keycloak) -> None:
    foreign = await keycloak.token("intruder", realm=FOREIGN_REALM, password="intruder")
    with_its_keys = keycloak.verifier(
        jwks_url=f"{keycloak.server.issuer(FOREIGN_REALM)}/protocol/openid-connect/certs"
    )
    with pytest.raises(Unauthenticated, match="Invalid issuer"):
        await with_its_keys.verify(foreign)


@needs_keycloak
async def test_a_tampered_token_is_401(keycloak: Keycloak, whoami: httpx.AsyncClient) -> None:
    header, payload, signature = (await keycloak.token("client-a")).split(".")
    claims_of_b = base64.urlsafe_b64decode(payload + "==").replace(
        str(TENANTS["client-a"]).encode(), str(TENANTS["client-b"]).encode()
    )
    forged = base64.urlsafe_b64encode(claims_of_b).decode().rstrip("=")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    for token in (f"{header}.{forged}.{signature}", f"{header}.{payload}.{flipped}"):
        response = await whoami.get("/whoami", headers=bearer(token))
        assert response.status_code == 401, token


@needs_keycloak
async def test_a_rotated_key_verifies_without_restart(keycloak: Keycloak) -> None:
    verifier = keycloak.verifier()
    before = await keycloak.token("staff")
    assert (await verifier.verify(before)).role == "staff"  # the key set is now cached
    async with keycloak.server.admin() as admin:
        await admin.add_signing_key("frontdesk", f"rotated-{uuid4().hex[:6]}")
    after = await keycloak.token("staff")
    assert _kid(after) != _kid(before)

    async def verifies() -> bool:
        try:
            return (await verifier.verify(after)).role == "staff"
        except Unauthenticated:
            return False  # within the refetch cooldown the new key is not fetched yet

    await wait_until(verifies, within=30, what="the rotated key to be fetched")
    assert (await verifier.verify(before)).role == "staff"  # the old key is still published


def _kid(token: str) -> str:
    kid: str = jwt.get_unverified_header(token)["kid"]
    return kid
