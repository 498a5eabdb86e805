"""`frontdesk`: run the local stack, move the simulation clock, create topics."""

from __future__ import annotations

import asyncio
import functools
import os
import signal
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import asyncpg
import typer
from rich.console import Console
from rich.table import Table

from libs.devstack.dashboards import DASHBOARDS
from libs.devstack.demo import Demo, demo_operators, seed_demo
from libs.devstack.grafana import stale, write
from libs.devstack.kafka import LocalKafka
from libs.devstack.keycloak import CLIENT, REALM, TENANT_CLAIM, LocalKeycloak
from libs.devstack.postgres import LocalPostgres
from libs.devstack.stack import Stack, StackOptions
from libs.devstack.topics import ensure_topics
from libs.platform.clock import advance_clock, read_clock, set_clock

if TYPE_CHECKING:
    from libs.devstack.chaos import ChaosOptions, ChaosRun

app = typer.Typer(help="Frontdesk on a developer machine: no Docker needed.", no_args_is_help=True)
console = Console()
Home = Annotated[Path, typer.Option(envvar="FRONTDESK_HOME", help="Where the stack keeps data.")]
DEFAULT_HOME = Path(".frontdesk")
DASHBOARD_DIR = Path("deploy/grafana/dashboards")


@app.command()
def up(
    home: Home = DEFAULT_HOME,
    port_offset: Annotated[int, typer.Option(help="Added to the services' ports.")] = 0,
    kafka_port: Annotated[int, typer.Option(help="Kafka's port (controller: +1).")] = 9092,
    simulated_clock: Annotated[bool, typer.Option(help="Share one settable clock.")] = False,
    check: Annotated[bool, typer.Option(help="Start, report, and stop again.")] = False,
    keycloak: Annotated[bool, typer.Option(help="Run Keycloak to log in (port 8180).")] = True,
) -> None:
    """Start PostgreSQL, Kafka, Keycloak, the topics and the five services; stop with Ctrl-C."""
    options = StackOptions(
        home=home.absolute(),
        port_offset=port_offset,
        kafka_port=kafka_port,
        clock="simulated" if simulated_clock else "system",
        keycloak=keycloak,
    )
    asyncio.run(_run_stack(Stack(options), check=check))


async def _run_stack(stack: Stack, *, check: bool) -> None:
    try:
        with console.status("starting PostgreSQL, Kafka, Keycloak and the services..."):
            await stack.start()
            demo = await seed_demo(
                stack.url("intake"),
                stack.url("calls"),
                stack.staff_headers,
                routing_url=stack.url("routing"),
            )
            if stack.keycloak is not None:
                async with stack.keycloak.admin() as admin:  # client-a logs in as the demo client
                    await admin.set_attribute(REALM, "client-a", TENANT_CLAIM, demo.client_id)
        _print_stack(stack)
        _print_demo(stack, demo)
        if stack.keycloak is not None:
            _print_login(stack, stack.keycloak)
        if not check:
            await _wait_for_signal()
    finally:
        with console.status("stopping..."):
            await stack.stop()
        console.print("stopped.")


def _print_stack(stack: Stack) -> None:
    table = Table(title="Frontdesk is running")
    table.add_column("what")
    table.add_column("where")
    if stack.console is not None:
        table.add_row("operator console (sign in as operator-1)", f"{stack.console_url}/")
        table.add_row("client portal (sign in as client-a)", f"{stack.console_url}/portal")
    for svc in stack.services:
        table.add_row(f"{svc.service} API (OpenAPI)", f"{svc.url}/docs")
    table.add_row("metrics", f"<service>/metrics (Authorization: Bearer {stack.metrics_token})")
    table.add_row("Kafka", stack.bootstrap)
    table.add_row("PostgreSQL", stack.dsn)
    if stack.keycloak is not None:
        admin = f"{stack.keycloak.url}/admin (admin / {stack.keycloak.admin_password})"
        table.add_row("Keycloak (admin console)", admin)
    if stack.smtp is not None:
        table.add_row(
            "SMTP (mail kept in a Maildir)", f"127.0.0.1:{stack.smtp_port} -> {stack.maildir}"
        )
    table.add_row("inbox SMTP (clients' forwarded mail)", f"127.0.0.1:{stack.inbound_smtp_port}")
    table.add_row("logs", str(stack.options.home / "logs"))
    console.print(table)


def _print_demo(stack: Stack, demo: Demo) -> None:
    state = "registered" if demo.created else "already registered"
    say = functools.partial(console.print, soft_wrap=True)  # commands must stay copyable
    say(f"Demo client {demo.client_id} ({state}) holds {demo.number}.")
    say(f"This run's staff key (for scripts; people sign in below): {stack.staff_key}. Try:")
    key = f"-H 'X-Api-Key: {stack.staff_key}'"
    say(f"  curl {key} {stack.url('intake')}/numbers/{demo.number}")
    body = f'{{"dialled_number": "{demo.number}", "caller_number": "+31612345678"}}'
    say(
        f"  curl -X POST {stack.url('calls')}/calls {key} -H 'content-type: application/json' "
        f"-d '{body}'"
    )


def _print_login(stack: Stack, keycloak: LocalKeycloak) -> None:
    say = functools.partial(console.print, soft_wrap=True)
    say(
        f"Log in as staff, operator-1, operator-2, client-a (the demo client) or client-b in "
        f"realm {REALM} (demo passwords in README.md). A token for operator-1:"
    )
    token_url = f"{keycloak.issuer()}/protocol/openid-connect/token"
    say(
        f"  TOKEN=$(curl -s {token_url} -d grant_type=password -d client_id={CLIENT} "
        "-d username=operator-1 -d password=operator-demo | jq -r .access_token)"
    )
    say(f'  curl -H "Authorization: Bearer $TOKEN" {stack.url("calls")}/whoami')
    operator_1 = demo_operators()[0][0]
    say("operator-1 goes on duty (routing then puts calls through to them):")
    say(
        f"  curl -X PUT {stack.url('routing')}/operators/{operator_1}/presence "
        "-H \"Authorization: Bearer $TOKEN\" -H 'content-type: application/json' "
        '-d \'{"presence": "available"}\''
    )


async def _wait_for_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    console.print("Press Ctrl-C to stop.")
    await stop.wait()


@app.command()
def down(home: Home = DEFAULT_HOME) -> None:
    """Stop a broker and database left running by an earlier `up`."""
    home = home.absolute()
    stopped = asyncio.run(LocalKafka.stop_pidfile(home / "kafka"))
    LocalPostgres(home / "postgres").stop()
    console.print(f"Kafka {'stopped' if stopped else 'was not running'}; PostgreSQL stopped.")


@app.command()
def topics(
    bootstrap: Annotated[str, typer.Option(envvar="KAFKA_BOOTSTRAP_SERVERS")] = "127.0.0.1:9092",
    prefix: Annotated[str, typer.Option(envvar="FRONTDESK_TOPIC_PREFIX")] = "frontdesk",
) -> None:
    """Create the event and dead-letter topics (6 partitions, kept forever) if missing."""
    stack = Stack(StackOptions(home=DEFAULT_HOME, topic_prefix=prefix))
    created = asyncio.run(ensure_topics(bootstrap, stack.topics()))
    console.print(f"created: {', '.join(created) or 'nothing, all topics exist'}")


@app.command()
def dashboards(
    directory: Annotated[Path, typer.Option(help="Where the JSON files go.")] = DASHBOARD_DIR,
    check: Annotated[bool, typer.Option(help="Only report files that are out of date.")] = False,
) -> None:
    """Render the Grafana dashboards to JSON (or check that the committed JSON is current)."""
    if check:
        outdated = stale(DASHBOARDS, directory)
        for path in outdated:
            console.print(f"out of date: {path}")
        raise typer.Exit(1 if outdated else 0)
    changed = write(DASHBOARDS, directory)
    for path in changed:
        console.print(f"written: {path}")
    if not changed:
        console.print("nothing written, every dashboard is current")


@app.command()
def chaos(
    seed: Annotated[int, typer.Option(help="Seeds every choice of the run.")] = 1,
    calls: Annotated[int, typer.Option(min=1, help="Calls to drive.")] = 300,
    kills: Annotated[int, typer.Option(min=0, help="Services to SIGKILL.")] = 50,
    broker_stops: Annotated[int, typer.Option(min=0, help="Times Kafka is stopped.")] = 5,
    pg_restarts: Annotated[int, typer.Option(min=0, help="PostgreSQL restarts.")] = 5,
    concurrency: Annotated[int, typer.Option(min=1, help="Calls in progress at once.")] = 4,
    day: Annotated[str | None, typer.Option(help="Working day of the calls.")] = None,
    home: Annotated[Path | None, typer.Option(help="A new folder (default: a temp one).")] = None,
    port_offset: Annotated[int, typer.Option(help="Added to the default ports.")] = 600,
    kafka_port: Annotated[int | None, typer.Option(help="Default 9092 + offset.")] = None,
) -> None:
    """Drive calls through a stack of its own while breaking it; check the invariants."""
    # Imported here: the chaos suite needs the development tools (the SMTP server), and the
    # other commands run in a service image without them.
    from libs.devstack.chaos import ChaosOptions
    from libs.devstack.chaos.plan import DEFAULT_DAY
    from libs.devstack.chaos.scenario import fresh_home, refuse_external

    try:
        refuse_external()
        options = ChaosOptions(
            seed=seed, calls=calls, kills=kills, broker_stops=broker_stops,
            pg_restarts=pg_restarts, concurrency=concurrency,
            day=date.fromisoformat(day) if day else DEFAULT_DAY,
            home=home, port_offset=port_offset, kafka_port=kafka_port,
        )  # fmt: skip
        options.check()
        options = replace(options, home=fresh_home(home))
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    _chaos(options, options.home or Path())


def _chaos(options: ChaosOptions, home: Path) -> None:
    from libs.devstack.chaos import run_chaos
    from libs.devstack.chaos.report import log_errors

    try:
        run = asyncio.run(run_chaos(options, progress=lambda phase: console.log(f"{phase}...")))
    except Exception:
        console.print(log_errors(home / "logs"))
        raise
    _print_chaos(run)
    raise typer.Exit(0 if run.ok else 1)


def _print_chaos(run: ChaosRun) -> None:
    from libs.devstack.chaos.report import figures, invariants, log_errors

    console.print(figures(run))
    console.print(invariants(run))
    if not run.ok:
        console.print(log_errors(run.home / "logs"))


clock_app = typer.Typer(help="The shared simulation clock.", no_args_is_help=True)
app.add_typer(clock_app, name="clock")
ClockDsn = Annotated[str, typer.Option(envvar="DATABASE_URL", help="Where the clock lives.")]


@clock_app.command("show")
def clock_show(dsn: ClockDsn) -> None:
    """Print the simulated time."""
    console.print(asyncio.run(_with_conn(dsn, read_clock)).isoformat())


@clock_app.command("set")
def clock_set(instant: datetime, dsn: ClockDsn) -> None:
    """Move the simulated time forward to INSTANT (ISO 8601 with offset)."""
    console.print(asyncio.run(_with_conn(dsn, lambda c: set_clock(c, instant))).isoformat())


@clock_app.command("advance")
def clock_advance(seconds: float, dsn: ClockDsn) -> None:
    """Move the simulated time forward by SECONDS."""
    delta = timedelta(seconds=seconds)
    console.print(asyncio.run(_with_conn(dsn, lambda c: advance_clock(c, delta))).isoformat())


async def _with_conn(
    dsn: str, action: Callable[[asyncpg.Connection], Awaitable[datetime]]
) -> datetime:
    conn = await asyncpg.connect(dsn)
    try:
        return await action(conn)
    finally:
        await conn.close()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    app()
