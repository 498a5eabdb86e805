"""The console's settings: where the identity provider is, and (local stack, tests) where the
services are, for the built-in reverse proxy under /api/<service>/."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICES = ("intake", "calls", "routing", "notify", "billing", "calendar", "inbox")


class ConsoleSettings(BaseSettings):
    """FRONTDESK_CONSOLE_*: the issuer the browser signs in at and the services behind /api."""

    model_config = SettingsConfigDict(env_prefix="FRONTDESK_CONSOLE_", extra="ignore")

    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8008, ge=1, le=65535)
    issuer_url: str = Field(
        default="http://127.0.0.1:8180/realms/frontdesk",
        description="The OpenID Connect issuer as the browser reaches it (Keycloak's realm URL)",
        pattern=r"^https?://[^\s]+$",
    )
    client_id: str = Field(default="frontdesk-console", pattern=r"^[A-Za-z0-9_.-]{1,100}$")
    upstreams: dict[str, str] = Field(
        default_factory=dict,
        description="service -> base URL: the console proxies /api/<service>/... there itself "
        "(the local stack and tests); empty where a reverse proxy in front routes /api/",
    )
    proxy_timeout_seconds: float = Field(default=30.0, gt=0, le=300)

    @field_validator("upstreams")
    @classmethod
    def _known_services(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(SERVICES))
        if unknown:
            raise ValueError(f"unknown services: {', '.join(unknown)}")
        for url in value.values():
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"an upstream is an http(s) URL, not {url!r}")
        return {name: url.rstrip("/") for name, url in value.items()}
