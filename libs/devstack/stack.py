"""The whole local stack: PostgreSQL, Kafka, topics and the five service processes.

Besides starting and stopping everything, a Stack can break itself on purpose (kill one
service, stop and start Kafka, restart PostgreSQL) and watch its services with a
supervisor that starts again what died, for chaos runs and failure tests.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import MappingProxyType

import asyncpg
import httpx

from libs.devstack.kafka import LocalKafka, default_cache_dir
from libs.devstack.keycloak import CLIENT, REALM, LocalKeycloak
from libs.devstack.postgres import LocalPostgres
from libs.devstack.supervisor import Supervisor, SupervisorPolicy
from libs.devstack.topics import ensure_topics
from libs.events.catalogue import ALL_SERVICES, dead_letter_topic, topic_for
from libs.events.envelope import new_id
from libs.platform.api_keys import digest, new_key
from libs.platform.clock import CLOCK_SCHEMA, ensure_clock_table
from libs.platform.sealed import new_key_text
from libs.platform.settings import DEFAULT_PORTS

ROOT = Path(__file__).resolve().parents[2]
CONSOLE_PORT = 8008
"""The console's port in the local stack (plus the port offset)."""
INBOUND_SMTP_PORT = 2525
"""The inbox's inbound SMTP listener in the local stack (plus the port offset)."""


@dataclass(frozen=True)
class StackOptions:
    """Where the stack keeps its files and which ports it uses."""

    home: Path
    port_offset: int = 0
    kafka_port: int = 9092
    clock: str = "system"
    topic_prefix: str = "frontdesk"
    clock_start: datetime | None = None
    """Where a simulated clock starts when the database has none yet (may be in the past)."""
    service_env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """Extra environment for every service process (e.g. shorter timeouts for chaos runs)."""
    keycloak: bool = False
    """Run a local Keycloak (port 8180 plus the offset) whose tokens the services accept."""


@dataclass
class ServiceProc:
    """A service process of the stack; `proc` is replaced when the service is restarted."""

    service: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path
    env: dict[str, str]
    started_at: float = field(default_factory=time.monotonic)

    @property
    def url(self) -> str:
        """Base URL of the service's HTTP API."""
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Stack:
    """The running local stack; `start()` brings it up, `stop()` takes it down."""

    options: StackOptions
    dsn: str = ""
    bootstrap: str = ""
    services: list[ServiceProc] = field(default_factory=list)
    smtp: subprocess.Popen[bytes] | None = None
    supervisor: Supervisor | None = None
    _kafka: LocalKafka | None = None
    _postgres: LocalPostgres | None = None
    keycloak: LocalKeycloak | None = None
    console: subprocess.Popen[bytes] | None = None
    """The operator console and client portal (with --keycloak), in front of the services."""
    staff_key: str = field(default_factory=lambda: new_key(new_id()).key)
    """A staff key of this run, for the demo seeder, chaos runs and scripts (see README)."""
    metrics_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    """The credential Prometheus scrapes /metrics with in this run."""

    @property
    def staff_headers(self) -> dict[str, str]:
        """Headers that make a request the bureau's own automation (role staff)."""
        return {"X-Api-Key": self.staff_key}

    @property
    def metrics_headers(self) -> dict[str, str]:
        """Headers that let a scrape read a service's /metrics."""
        return {"Authorization": f"Bearer {self.metrics_token}"}

    async def start(self) -> None:
        """Start (or reuse) each part and wait until every service is ready."""
        identity = asyncio.create_task(self._start_keycloak())  # the slowest part: in parallel
        try:
            self.dsn = await asyncio.to_thread(self._start_postgres)
            if self.options.clock_start is not None:
                await start_clock_at(self.dsn, self.options.clock_start)
            self.bootstrap = await self._start_kafka()
            await ensure_topics(self.bootstrap, self.topics())
            self._start_smtp()
            for service in ALL_SERVICES:
                self.services.append(self._spawn(service))
            await self._wait_ready()
        finally:
            await identity  # the services find the issuer's keys lazily, once it answers
        if self.options.keycloak:
            self.console = self._start_console()
            if self.keycloak is not None:  # the local realm: let the console's pages sign in
                async with self.keycloak.admin() as admin:
                    await admin.allow_origin(REALM, CLIENT, self.console_url)

    @property
    def console_port(self) -> int:
        """Where the console listens (8008 plus the port offset)."""
        return CONSOLE_PORT + self.options.port_offset

    @property
    def console_url(self) -> str:
        """The one address of the operator console (/) and the client portal (/portal)."""
        return f"http://127.0.0.1:{self.console_port}"

    def _start_console(self) -> subprocess.Popen[bytes]:
        issuer = os.environ.get("FRONTDESK_AUTH_ISSUER") or (
            f"http://127.0.0.1:{self.keycloak_port}/realms/{REALM}"
        )
        env = {
            **os.environ,
            "FRONTDESK_CONSOLE_HTTP_PORT": str(self.console_port),
            "FRONTDESK_CONSOLE_ISSUER_URL": issuer,
            "FRONTDESK_CONSOLE_UPSTREAMS": json.dumps({s.service: s.url for s in self.services}),
        }
        log = self.options.home / "logs" / "console.log"
        with log.open("ab") as out:
            return subprocess.Popen([sys.executable, "-m", "services.console"], cwd=ROOT, env=env,
                                    stdout=out, stderr=subprocess.STDOUT)  # fmt: skip

    async def _start_keycloak(self) -> None:
        if not self.options.keycloak or os.environ.get("FRONTDESK_AUTH_ISSUER"):
            return
        self.keycloak = LocalKeycloak(
            self.options.home / "keycloak", port=self.keycloak_port, cache_dir=default_cache_dir()
        )
        await self.keycloak.start()

    @property
    def keycloak_port(self) -> int:
        """The local Keycloak's port (8180 plus the port offset)."""
        return 8180 + self.options.port_offset

    def _start_postgres(self) -> str:
        external = os.environ.get("DATABASE_URL")
        if external:
            return external
        self._postgres = LocalPostgres(self.options.home / "postgres")
        self._postgres.start()
        return self._postgres.create_database("frontdesk")

    async def _start_kafka(self) -> str:
        external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if external:
            return external
        port = self.options.kafka_port
        self._kafka = LocalKafka(
            self.options.home / "kafka",
            port=port,
            controller_port=port + 1,
            cache_dir=default_cache_dir(),
        )
        await self._kafka.start(reuse=True)
        return self._kafka.bootstrap_servers

    @property
    def smtp_port(self) -> int:
        """The local SMTP server's port (1025 plus the port offset)."""
        return 1025 + self.options.port_offset

    @property
    def maildir(self) -> Path:
        """Where the local SMTP server keeps every mail it accepted."""
        return self.options.home / "mail"

    def _start_smtp(self) -> None:
        if os.environ.get("FRONTDESK_NOTIFY_SMTP_HOST"):
            return  # an external relay is configured
        log = self.options.home / "logs" / "smtp.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "libs.devstack.smtp", "--port", str(self.smtp_port)]
        with log.open("ab") as out:
            self.smtp = subprocess.Popen(
                [*command, "--maildir", str(self.maildir)],
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def _routing_links(self) -> dict[str, str]:
        """Signed acknowledgement links that work on this machine (a secret kept per home)."""
        secret_file = self.options.home / "ack-secret"
        if not secret_file.exists():
            secret_file.write_text(secrets.token_urlsafe(32))
            secret_file.chmod(0o600)
        routing = f"http://127.0.0.1:{DEFAULT_PORTS['routing'] + self.options.port_offset}"
        local = {
            "FRONTDESK_ROUTING_ACK_SECRET": secret_file.read_text().strip(),
            "FRONTDESK_ROUTING_PUBLIC_BASE_URL": routing,
        }
        return {k: v for k, v in local.items() if k not in os.environ}

    def url(self, service: str) -> str:
        """Base URL of a running service of the stack."""
        return next(svc.url for svc in self.services if svc.service == service)

    def topics(self) -> list[str]:
        """Every event topic and dead-letter topic of the stack."""
        prefix = self.options.topic_prefix
        return [topic_for(s, prefix) for s in ALL_SERVICES] + [
            dead_letter_topic(s, prefix) for s in ALL_SERVICES
        ]

    def _spawn(self, service: str) -> ServiceProc:
        port = DEFAULT_PORTS[service] + self.options.port_offset
        logs = self.options.home / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log = logs / f"{service}.log"
        env = self._service_env(service, port)
        return ServiceProc(service, port, _launch(service, env, log), log, env)

    def _service_env(self, service: str, port: int) -> dict[str, str]:
        env = {
            **os.environ,
            **self.options.service_env,
            "FRONTDESK_SERVICE": service,
            "FRONTDESK_HTTP_PORT": str(port),
            "FRONTDESK_CLOCK": self.options.clock,
            "FRONTDESK_TOPIC_PREFIX": self.options.topic_prefix,
            "DATABASE_URL": self.dsn,
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "FRONTDESK_AUTH_STAFF_KEYS_SHA256": json.dumps([digest(self.staff_key)]),
            "FRONTDESK_METRICS_TOKEN": self.metrics_token,
            "FRONTDESK_SECRET_KEYS": self.secret_keys(),
        }
        env |= self._routing_links()
        if self.options.keycloak and "FRONTDESK_AUTH_ISSUER" not in os.environ:
            env["FRONTDESK_AUTH_ISSUER"] = f"http://127.0.0.1:{self.keycloak_port}/realms/{REALM}"
        if self.smtp is not None:
            env |= {
                "FRONTDESK_NOTIFY_SMTP_HOST": "127.0.0.1",
                "FRONTDESK_NOTIFY_SMTP_PORT": str(self.smtp_port),
                "FRONTDESK_INBOX_RELAY_HOST": "127.0.0.1",
                "FRONTDESK_INBOX_RELAY_PORT": str(self.smtp_port),
            }
            if "FRONTDESK_BILLING_SMTP_HOST" not in os.environ:  # billing's mail: same server
                env["FRONTDESK_BILLING_SMTP_HOST"] = "127.0.0.1"
                env["FRONTDESK_BILLING_SMTP_PORT"] = str(self.smtp_port)
        if service == "inbox":
            env["FRONTDESK_INBOX_SMTP_PORT"] = str(self.inbound_smtp_port)
        return env

    @property
    def inbound_smtp_port(self) -> int:
        """Where the inbox listens for forwarded mail (2525 plus the port offset)."""
        return INBOUND_SMTP_PORT + self.options.port_offset

    def secret_keys(self) -> str:
        """The keys sealing stored secrets (calendar credentials): made once per stack home and
        kept there, so a restarted stack still opens what it sealed before."""
        path = self.options.home / "secret-keys.json"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            keys = json.dumps([{"id": f"local-{new_id().hex[:8]}", "key": new_key_text()}])
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(keys)
        return path.read_text()

    def service(self, name: str) -> ServiceProc:
        """The process of one service of the stack."""
        return next(svc for svc in self.services if svc.service == name)

    def kill(self, service: str) -> bool:
        """SIGKILL one service, as a crash would; tell whether it was running."""
        proc = self.service(service).proc
        if proc.poll() is not None:
            return False
        proc.kill()
        proc.wait(10)  # reaped at once: SIGKILL cannot be ignored
        return True

    def restart(self, service: str) -> ServiceProc:
        """Start one service again (killing it first if it runs): same port, same environment."""
        self.kill(service)
        svc = self.service(service)
        svc.proc = _launch(service, svc.env, svc.log)
        svc.started_at = time.monotonic()
        return svc

    def supervise(self, policy: SupervisorPolicy | None = None) -> Supervisor:
        """Start the supervisor: exited or unresponsive services are started again."""
        if self.supervisor is None:
            self.supervisor = Supervisor(self, policy or SupervisorPolicy())
            self.supervisor.start()
        return self.supervisor

    async def stop_kafka(self) -> None:
        """Stop the local broker (SIGTERM, as an orderly shutdown); its data is kept."""
        await self._local_kafka().stop()

    async def start_kafka(self) -> float:
        """Start the local broker again on its ports and data; return the seconds it took."""
        return await self._local_kafka().start()

    async def restart_postgres(self, down_seconds: float = 0.0) -> None:
        """Stop the local PostgreSQL (fast shutdown), wait, start it again on the same data."""
        postgres = self._postgres
        if postgres is None:
            raise RuntimeError("PostgreSQL is external (DATABASE_URL): it is not ours to restart")
        await asyncio.to_thread(postgres.stop)
        await asyncio.sleep(down_seconds)
        dsn = await asyncio.to_thread(postgres.dsn, "frontdesk")
        if dsn != self.dsn:  # the services were started with the old address
            raise RuntimeError(f"PostgreSQL came back at {dsn}, not at {self.dsn}")

    def _local_kafka(self) -> LocalKafka:
        if self._kafka is None:
            raise RuntimeError("Kafka is external (KAFKA_BOOTSTRAP_SERVERS): it is not ours")
        return self._kafka

    async def _wait_ready(self, within: float = 120) -> None:
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(timeout=2) as http:
            for svc in self.services:
                while not await _ready(http, svc):
                    if svc.proc.poll() is not None or time.monotonic() > deadline:
                        tail = svc.log.read_text(errors="replace")[-2000:]
                        raise RuntimeError(f"{svc.service} did not become ready:\n{tail}")
                    await asyncio.sleep(0.3)

    async def stop(self) -> None:
        """Stop the services, then the mail server, broker and database this stack started."""
        if self.supervisor is not None:
            await self.supervisor.stop()
        for svc in self.services:
            if svc.proc.poll() is None:
                svc.proc.terminate()
        for svc in self.services:
            try:
                svc.proc.wait(20)
            except subprocess.TimeoutExpired:
                svc.proc.kill()
        if self.console is not None:
            self.console.terminate()
            self.console.wait(10)
        if self.smtp is not None:
            self.smtp.terminate()
            self.smtp.wait(10)
        if self.keycloak is not None:
            await self.keycloak.stop()
        if self._kafka is not None:
            await self._kafka.stop()
        if self._postgres is not None:
            await asyncio.to_thread(self._postgres.stop)


def _launch(service: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    target = f"services.{service}.app:create_app"
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "libs.platform.serve", target],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def start_clock_at(dsn: str, instant: datetime) -> bool:
    """Create the shared simulated clock at `instant` unless it exists; True when created."""
    # Once it exists the clock only moves forward: a start in the past is written first.
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            exists = await conn.fetchval("SELECT to_regclass($1)", f"{CLOCK_SCHEMA}.clock")
            await ensure_clock_table(conn)
            if exists is None:
                await conn.execute(f"UPDATE {CLOCK_SCHEMA}.clock SET now = $1", instant)
        return exists is None
    finally:
        await conn.close()


async def _ready(http: httpx.AsyncClient, svc: ServiceProc) -> bool:
    try:
        return (await http.get(f"{svc.url}/health/ready")).status_code == 200
    except httpx.HTTPError:
        return False
