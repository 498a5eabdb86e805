"""Who is calling: bearer JWTs from the configured OpenID Connect issuer, verified per request.

Tokens are checked against the issuer's published keys (JWKS): signature (RS256 or ES256
only), issuer, audience, expiry, not-before and issued-at, with a small leeway for clock skew.
The keys are fetched with pyjwt's PyJWKClient and kept in its key-set cache; a key id it does
not know makes it fetch the set again once (rate-limited by its cooldown), so a key rotation
at the issuer needs no restart. Fetches run in a worker thread, never on the event loop, and
an issuer that cannot be reached makes a request 503, not 500.

The role comes from a claim path (Keycloak: `realm_access.roles`, Entra ID: `roles`), with an
optional map from the issuer's names to ours; the tenant from the `frontdesk_client_id` claim.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal
from uuid import UUID

import httpx
import jwt
from fastapi import Depends, HTTPException, Request

from libs.errors import Forbidden, NotFound, Unauthenticated
from libs.events.envelope import Actor
from libs.platform.limits_http import SignInFailures
from libs.platform.outages import ServiceUnavailable
from libs.platform.settings import Settings

Role = Literal["staff", "operator", "client", "telephony"]
Via = Literal["token", "api_key", "anonymous"]
ALGORITHMS = ("RS256", "ES256")
TOKEN_ROLES: tuple[Role, ...] = ("staff", "operator", "client")
"""The roles a token can carry, most powerful first: a person with several gets the first."""
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub"]
MAX_SUBJECT = 200


@dataclass(frozen=True)
class Principal:
    """The caller of a request: who, in which role, for which client (tenant), proven how."""

    subject: str
    name: str
    role: Role | None
    client_id: UUID | None
    via: Via

    def actor(self) -> Actor:
        """The actor events caused by this caller carry."""
        if self.role is None:
            raise Unauthenticated("an anonymous caller cannot act; sign in first")
        return Actor(kind=self.role, id=self.subject)

    @property
    def tenant(self) -> UUID | None:
        """The one client whose data this caller may reach; None for all (staff, operators).

        A client user, and an API key of any role, is bound to its client; staff never is.
        """
        return None if self.role == "staff" else self.client_id

    def sees(self, client_id: UUID | None) -> bool:
        """Whether data of `client_id` is this caller's to see."""
        return self.tenant is None or self.tenant == client_id

    def own(self, client_id: UUID, what: str) -> UUID:
        """`client_id`, if this caller may reach it; else the NotFound an unknown one gets."""
        if not self.sees(client_id):
            raise NotFound(f"no {what} {client_id}")
        return client_id

    def scope(self, client_id: UUID | None, what: str = "client") -> UUID | None:
        """The client a list is filtered by: the one asked for, narrowed to the caller's own.

        A tenant-bound caller asking for another client's list gets the NotFound of an
        unknown client; one asking for no client in particular gets only its own.
        """
        if self.tenant is None:
            return client_id
        if client_id is not None:
            self.own(client_id, what)
        return self.tenant


ANONYMOUS = Principal(subject="", name="anonymous", role=None, client_id=None, via="anonymous")


@dataclass(frozen=True)
class ClaimMapping:
    """Where a token keeps the caller's role and tenant, and what the issuer calls our roles."""

    role_claim: str = "realm_access.roles"
    tenant_claim: str = "frontdesk_client_id"
    role_names: Mapping[str, Role] = field(default_factory=dict)


def claim_at(claims: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted claim path (`realm_access.roles`), or None where it is absent."""
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def role_from(claims: Mapping[str, Any], mapping: ClaimMapping) -> Role | None:
    """The most powerful of our roles the token grants, if any."""
    found = claim_at(claims, mapping.role_claim)
    names = [found] if isinstance(found, str) else found if isinstance(found, list) else []
    granted = {mapping.role_names.get(name, name) for name in names if isinstance(name, str)}
    return next((role for role in TOKEN_ROLES if role in granted), None)


def tenant_from(claims: Mapping[str, Any], mapping: ClaimMapping) -> UUID | None:
    """The client (tenant) the token is for; a claim that is not a UUID makes the token bad."""
    value = claim_at(claims, mapping.tenant_claim)
    if value is None:
        return None
    try:
        return UUID(str(value))
    except ValueError as exc:
        raise Unauthenticated(f"the token's {mapping.tenant_claim} is not a client id") from exc


def principal_from_claims(claims: Mapping[str, Any], mapping: ClaimMapping) -> Principal:
    """The principal a verified token's claims describe (a client user must name its client)."""
    role = role_from(claims, mapping)
    tenant = tenant_from(claims, mapping)
    if role == "client" and tenant is None:
        raise Unauthenticated(f"a client's token must carry {mapping.tenant_claim}")
    subject = str(claims["sub"])
    if not 0 < len(subject) <= MAX_SUBJECT:  # it becomes the actor id of events
        raise Unauthenticated(f"the token's subject must be 1 to {MAX_SUBJECT} characters")
    name = claims.get("preferred_username") or claims.get("name") or subject
    return Principal(subject=subject, name=str(name), role=role, client_id=tenant, via="token")


class TokenVerifier:
    """Verifies bearer JWTs of one issuer and audience against the issuer's JWKS."""

    def __init__(
        self,
        issuer: str,
        audience: str,
        *,
        jwks_url: str | None = None,
        mapping: ClaimMapping | None = None,
        leeway: float = 10,
        jwks_lifespan: float = 300,
        jwks_cooldown: float = 5,
        fetch_timeout: float = 5,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.mapping = mapping or ClaimMapping()
        self.leeway = leeway
        self._jwks_url = jwks_url
        self._jwks_lifespan = jwks_lifespan
        self._jwks_cooldown = jwks_cooldown
        self._fetch_timeout = fetch_timeout
        self._client: jwt.PyJWKClient | None = None
        self._discovery = asyncio.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenVerifier | None:
        """The verifier the settings describe; None when no issuer is configured."""
        if not settings.auth_issuer:
            return None
        mapping = ClaimMapping(
            settings.auth_role_claim, settings.auth_tenant_claim, settings.auth_role_names
        )
        return cls(
            settings.auth_issuer,
            settings.auth_audience,
            jwks_url=settings.auth_jwks_url,
            mapping=mapping,
            leeway=settings.auth_leeway_seconds,
        )

    async def verify(self, token: str) -> Principal:
        """The principal of a valid token; Unauthenticated for any token that is not."""
        key = await self._signing_key(_key_id(token))
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=list(ALGORITHMS),
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("the token has expired") from exc
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"the token is not valid: {exc}") from exc
        return principal_from_claims(claims, self.mapping)

    async def _signing_key(self, kid: str) -> jwt.PyJWK:
        client = await self._jwks_client()
        known = _cached_key(client, kid)
        if known is not None:
            return known
        try:  # a miss may fetch the key set: in a thread, off the event loop
            return await asyncio.to_thread(client.get_signing_key, kid)
        except (jwt.PyJWKClientConnectionError, jwt.PyJWKSetError, ValueError) as exc:
            raise ServiceUnavailable("the identity provider's keys cannot be fetched") from exc
        except jwt.PyJWKClientError as exc:
            raise Unauthenticated(
                "the token is signed with a key the issuer does not publish"
            ) from exc

    async def _jwks_client(self) -> jwt.PyJWKClient:
        if self._client is None:
            async with self._discovery:
                if self._client is None:
                    url = self._jwks_url or await self._discover_jwks_url()
                    self._client = jwt.PyJWKClient(
                        url,
                        lifespan=self._jwks_lifespan,
                        cooldown_duration=self._jwks_cooldown,
                        timeout=self._fetch_timeout,
                    )
        return self._client

    async def _discover_jwks_url(self) -> str:
        address = f"{self.issuer.rstrip('/')}/.well-known/openid-configuration"
        try:
            async with httpx.AsyncClient(timeout=self._fetch_timeout) as http:
                response = await http.get(address)
                response.raise_for_status()
                document = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ServiceUnavailable("the identity provider's discovery document is away") from exc
        if document.get("issuer") != self.issuer or not document.get("jwks_uri"):
            raise ServiceUnavailable("the identity provider's discovery document does not fit")
        jwks_uri: str = document["jwks_uri"]
        return jwks_uri


def _key_id(token: str) -> str:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise Unauthenticated("the bearer token is not a JWT") from exc
    if header.get("alg") not in ALGORITHMS:
        raise Unauthenticated(f"tokens signed with {header.get('alg')!r} are not accepted")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise Unauthenticated("the token names no signing key")
    return kid


def _cached_key(client: jwt.PyJWKClient, kid: str) -> jwt.PyJWK | None:
    # The client's cached key set answers without I/O; only a miss goes to a thread.
    cached = client.jwk_set_cache.get() if client.jwk_set_cache is not None else None
    if cached is None:
        return None
    usable = [key for key in cached.keys if key.public_key_use in ("sig", None)]
    return client.match_kid(usable, kid)


def bearer_token(request: Request) -> str | None:
    """The bearer token of a request; None without an Authorization header."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the Authorization header must be `Bearer <token>`")
    return token.strip()


async def principal(request: Request) -> Principal:
    """The caller: anonymous without credentials, else the verified token's or key's principal.

    The principal is kept on the request, so a route's dependencies verify it once.
    """
    known: Principal | None = getattr(request.state, "principal", None)
    if known is not None:
        return known
    failures: SignInFailures | None = getattr(request.app.state, "sign_in_failures", None)
    address = request.client.host if request.client else "unknown"
    presented = API_KEY_HEADER in request.headers or "authorization" in request.headers
    if presented and failures is not None:
        wait = await failures.wait_seconds(address)
        if wait is not None:
            raise HTTPException(
                429,
                f"too many refused credentials from this address; try again in {wait} s",
                headers={"Retry-After": str(wait)},
            )
    try:
        found = await _verified(request)
    except Unauthenticated:
        if presented and failures is not None:
            await failures.failed(address)
        raise
    request.state.principal = found
    return found


async def _verified(request: Request) -> Principal:
    key = request.headers.get(API_KEY_HEADER)
    token = bearer_token(request)
    if key is not None:
        if token is not None:
            raise Unauthenticated("send a bearer token or an API key, not both")
        keys: ApiKeyCheck | None = getattr(request.app.state, "api_keys", None)
        if keys is None:
            raise Unauthenticated("this service accepts no API keys")
        return await keys(request, key)
    if token is None:
        return ANONYMOUS
    verifier: TokenVerifier | None = getattr(request.app.state, "token_verifier", None)
    if verifier is None:
        raise Unauthenticated("this service accepts no bearer tokens: no issuer is configured")
    return await verifier.verify(token)


CurrentPrincipal = Annotated[Principal, Depends(principal)]
API_KEY_HEADER = "x-api-key"
ApiKeyCheck = Callable[[Request, str], Awaitable[Principal]]
"""How a service turns an `X-Api-Key` header into a principal (libs/platform/api_keys.py)."""


def require(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency admitting only callers in one of `roles`: 401 if anonymous, else 403."""

    async def admitted(caller: CurrentPrincipal) -> Principal:
        if caller.role is None:
            raise Unauthenticated("sign in first", missing_credentials=True)
        if caller.role not in roles:
            raise Forbidden(f"a {caller.role} may not do this")
        return caller

    admitted.__name__ = f"require_{'_'.join(roles)}"
    return admitted


Staff = Annotated[Principal, Depends(require("staff"))]
"""Staff only: billing runs, settings, the clock, the roster, API keys."""
Desk = Annotated[Principal, Depends(require("staff", "operator"))]
"""The desk: staff and operators (the call lifecycle, screen pops, escalations)."""
Anyone = Annotated[Principal, Depends(require("staff", "operator", "client"))]
"""Everyone signed in; a client (user or key) only ever reaches its own data."""
StaffOrClient = Annotated[Principal, Depends(require("staff", "client"))]
"""Staff and the client itself (invoices, usage, plans): not operators."""
