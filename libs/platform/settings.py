"""Configuration of a Frontdesk service process, read from the environment."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from limits import parse_many
from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from libs.events.envelope import Service
from libs.platform.sealed import box_from_json

DEFAULT_PORTS: dict[str, int] = {
    "intake": 8001,
    "calls": 8002,
    "routing": 8003,
    "notify": 8004,
    "billing": 8005,
    "calendar": 8006,
    "inbox": 8007,
}
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class Settings(BaseSettings):
    """Everything a service needs to connect to its database, Kafka and its clock."""

    model_config = SettingsConfigDict(env_prefix="FRONTDESK_", extra="ignore")

    service: Service
    database_url: SecretStr = Field(
        validation_alias=AliasChoices("DATABASE_URL", "FRONTDESK_DATABASE_URL"),
    )
    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092",
        validation_alias=AliasChoices(
            "KAFKA_BOOTSTRAP_SERVERS", "FRONTDESK_KAFKA_BOOTSTRAP_SERVERS"
        ),
    )
    topic_prefix: str = Field(default="frontdesk", pattern=r"^[a-z][a-z0-9_-]{0,40}$")
    db_schema: str = ""
    clock: Literal["system", "simulated"] = "system"
    clock_database_url: SecretStr | None = None
    http_host: str = "127.0.0.1"
    http_port: int = 0
    relay_batch_size: int = Field(default=500, ge=1, le=10_000)
    relay_poll_seconds: float = Field(default=1.0, gt=0)
    kafka_probe_seconds: float = Field(default=5.0, gt=0, le=60)
    kafka_stale_seconds: float = Field(
        default=15.0, gt=0, description="Not ready once Kafka has not answered for this long"
    )
    consumer_max_attempts: int = Field(default=5, ge=1)
    task_max_failures: int = Field(
        default=5, ge=1, description="Liveness fails once a task failed this often in a row"
    )
    consumer_retry_base_seconds: float = Field(default=0.2, gt=0)
    log_level: str = "INFO"
    auth_issuer: str | None = Field(
        default=None, description="OpenID Connect issuer whose bearer JWTs are accepted"
    )
    auth_audience: str = Field(default="frontdesk", min_length=1)
    auth_jwks_url: str | None = Field(
        default=None, description="The issuer's JWKS (default: from its discovery document)"
    )
    auth_role_claim: str = Field(default="realm_access.roles", min_length=1)
    auth_tenant_claim: str = Field(default="frontdesk_client_id", min_length=1)
    auth_role_names: dict[str, Literal["staff", "operator", "client"]] = Field(
        default_factory=dict, description="The issuer's role or group names mapped to ours"
    )
    auth_leeway_seconds: float = Field(default=10, ge=0, le=300)
    auth_staff_keys_sha256: list[Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]] = Field(
        default_factory=list,
        description="SHA-256 of staff keys for the bureau's own automation (invoice runs, "
        "seeding); issued keys are never staff",
    )
    auth_failure_limit: str = Field(
        default="30/minute",
        description="Refused credentials an address may send before its credentials wait (429)",
    )
    secret_keys: SecretStr | None = Field(
        default=None,
        description='Keys sealing stored secrets: a JSON list of {"id": ..., "key": <base64 of '
        "32 bytes>}, the first seals (libs/platform/sealed.py)",
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="Bearer credential Prometheus scrapes /metrics with (else staff only)",
    )
    idempotency_hours: float = Field(
        default=24, ge=24, le=24 * 90, description="How long an Idempotency-Key's answer is kept"
    )
    idempotency_lease_seconds: float = Field(
        default=300,
        gt=0,
        le=86400,
        description="How long a reserved Idempotency-Key of a crashed run blocks a repeat (409)",
    )
    max_body_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="Largest request body a route takes by default"
    )
    header_timeout_seconds: float = Field(
        default=10, gt=0, le=300, description="Time a client has to send a request's headers"
    )
    body_timeout_seconds: float = Field(
        default=30, gt=0, le=600, description="Time a client has to send a request's body (408)"
    )
    keep_alive_seconds: int = Field(
        default=5, ge=1, le=300, description="An idle keep-alive connection is closed after this"
    )
    rate_limit: str = Field(
        default="100/second;3000/minute",
        description="Requests per credential (or client address), in the `limits` notation",
    )
    max_event_bytes: int = Field(
        default=900 * 1024,
        ge=1024,
        description="Largest event an append accepts: below what Kafka takes in one record",
    )

    @field_validator("secret_keys")
    @classmethod
    def _valid_secret_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            box_from_json(value.get_secret_value())  # raises ValueError for bad keys
        return value

    @field_validator("rate_limit", "auth_failure_limit")
    @classmethod
    def _valid_rate_limit(cls, value: str) -> str:
        parse_many(value)  # raises ValueError for a malformed limit
        return value

    @field_validator("db_schema")
    @classmethod
    def _valid_identifier(cls, value: str) -> str:
        if value and not _IDENTIFIER.match(value):
            raise ValueError("db_schema must be a lower-case SQL identifier")
        return value

    @property
    def pg_schema(self) -> str:
        """The PostgreSQL schema of this service (defaults to the service name)."""
        return self.db_schema or self.service

    @property
    def port(self) -> int:
        """The HTTP port (defaults to the service's fixed local port)."""
        return self.http_port or DEFAULT_PORTS[self.service]

    @property
    def clock_dsn(self) -> str:
        """Where the shared simulation clock lives (defaults to the service's database)."""
        url = self.clock_database_url or self.database_url
        return url.get_secret_value()
