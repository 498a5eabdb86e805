"""Staff CLI: `python -m services.billing.cli replay --client ID --period YYYY-MM [--as-of T]`.

Reads the Kafka log directly (no database, nothing written or sent) and prints the month
recomputed, the invoice issued, the difference and the decision behind every call.
"""

from __future__ import annotations

import asyncio
import os
import re
from datetime import datetime
from typing import Annotated
from uuid import UUID

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from libs.events.values import PERIOD_PATTERN
from services.billing.domain.explain import explain
from services.billing.domain.money import euros
from services.billing.domain.replay import Replay
from services.billing.replays import replay_from_log

app = typer.Typer(help="Billing tools for staff.", no_args_is_help=True)
console = Console()


@app.callback()
def main() -> None:
    """Billing tools for staff."""


@app.command()
def replay(
    client: Annotated[UUID, typer.Option(help="The client's id")],
    period: Annotated[str, typer.Option(help="The month, YYYY-MM")],
    as_of: Annotated[
        str | None, typer.Option(help="Only events up to this instant (ISO 8601, with offset)")
    ] = None,
    bootstrap: Annotated[str, typer.Option(envvar="KAFKA_BOOTSTRAP_SERVERS")] = "127.0.0.1:9092",
    prefix: Annotated[str, typer.Option(envvar="FRONTDESK_TOPIC_PREFIX")] = "frontdesk",
) -> None:
    """Rebuild a client's month from the log and compare it with the invoice issued."""
    if not re.match(PERIOD_PATTERN, period):
        raise typer.BadParameter("--period is a month, YYYY-MM")
    instant = _instant(as_of) if as_of else None
    with Progress(
        TextColumn("reading the log"), BarColumn(), MofNCompleteColumn(), console=console
    ) as progress:
        task = progress.add_task("log", total=None)

        def tell(read: int, total: int) -> None:
            progress.update(task, completed=read, total=total)

        result, read = asyncio.run(
            replay_from_log(bootstrap, prefix, client, period, instant, tell)
        )
    show(result, read)
    raise typer.Exit(0 if result.issued is None or result.difference.matches else 1)


def _instant(text: str) -> datetime:
    try:
        instant = datetime.fromisoformat(text)
    except ValueError as exc:
        raise typer.BadParameter(f"--as-of: {exc}") from exc
    if instant.tzinfo is None:
        raise typer.BadParameter("--as-of needs an offset, e.g. 2026-02-01T09:00:00+01:00")
    return instant


def show(result: Replay, read: int) -> None:
    """Print the replay: totals side by side, the verdict and every call's decision."""
    recomputed, issued = result.run.invoice, result.issued
    console.print(f"{read} records read, {result.events_used} events used ({result.basis})")
    table = Table("", "recomputed", "issued")
    for name in ("subtotal_cents", "vat_cents", "total_cents"):
        mine = euros(getattr(recomputed, name)) if recomputed else "-"
        theirs = euros(getattr(issued, name)) if issued else "-"
        table.add_row(name.removesuffix("_cents"), mine, theirs)
    console.print(table)
    if issued is None:
        console.print(f"no invoice was issued for {result.period}")
    elif result.difference.matches:
        console.print(f"invoice {issued.invoice_number} matches the log")
    else:
        console.print(f"invoice {issued.invoice_number} DIFFERS from the log")
    calls = Table("call", "received", "status", "explanation")
    for decision in result.calls:
        calls.add_row(str(decision.call_id), decision.received_at.isoformat(), decision.status,
                      explain(decision))  # fmt: skip
    console.print(calls)


if __name__ == "__main__":  # pragma: no cover - `python -m services.billing.cli`
    if "COLUMNS" not in os.environ:
        os.environ["COLUMNS"] = "160"
    app()
