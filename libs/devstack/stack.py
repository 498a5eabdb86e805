"""The whole local stack: PostgreSQL, Kafka, topics and the five service processes."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from libs.devstack.kafka import LocalKafka, default_cache_dir
from libs.devstack.postgres import LocalPostgres
from libs.devstack.topics import ensure_topics
from libs.events.catalogue import ALL_SERVICES, dead_letter_topic, topic_for
from libs.platform.settings import DEFAULT_PORTS

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class StackOptions:
    """Where the stack keeps its files and which ports it uses."""

    home: Path
    port_offset: int = 0
    kafka_port: int = 9092
    clock: str = "system"
    topic_prefix: str = "frontdesk"


@dataclass
class ServiceProc:
    """A running service process of the stack."""

    service: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

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
    _kafka: LocalKafka | None = None
    _postgres: LocalPostgres | None = None

    async def start(self) -> None:
        """Start (or reuse) each part and wait until every service is ready."""
        self.dsn = await asyncio.to_thread(self._start_postgres)
        self.bootstrap = await self._start_kafka()
        await ensure_topics(self.bootstrap, self.topics())
        self._start_smtp()
        for service in ALL_SERVICES:
            self.services.append(self._spawn(service))
        await self._wait_ready()

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
        env = {
            **os.environ,
            "FRONTDESK_SERVICE": service,
            "FRONTDESK_HTTP_PORT": str(port),
            "FRONTDESK_CLOCK": self.options.clock,
            "FRONTDESK_TOPIC_PREFIX": self.options.topic_prefix,
            "DATABASE_URL": self.dsn,
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
        }
        env |= self._routing_links()
        if self.smtp is not None:
            env |= {
                "FRONTDESK_NOTIFY_SMTP_HOST": "127.0.0.1",
                "FRONTDESK_NOTIFY_SMTP_PORT": str(self.smtp_port),
            }
        target = f"services.{service}.app:create_app"
        with log.open("ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "libs.platform.serve", target],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return ServiceProc(service, port, proc, log)

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
        for svc in self.services:
            if svc.proc.poll() is None:
                svc.proc.terminate()
        for svc in self.services:
            try:
                svc.proc.wait(20)
            except subprocess.TimeoutExpired:
                svc.proc.kill()
        if self.smtp is not None:
            self.smtp.terminate()
            self.smtp.wait(10)
        if self._kafka is not None:
            await self._kafka.stop()
        if self._postgres is not None:
            await asyncio.to_thread(self._postgres.stop)


async def _ready(http: httpx.AsyncClient, svc: ServiceProc) -> bool:
    try:
        return (await http.get(f"{svc.url}/health/ready")).status_code == 200
    except httpx.HTTPError:
        return False
