"""Pieces the dashboards share: client filters, quantiles, stat and hourly panels."""

from __future__ import annotations

from libs.devstack.grafana import Panel, Query, Variable

SERVICES = "intake|calls|routing|notify|billing|calendar|inbox"
CLIENTS = 'max by (client_id, company) (frontdesk_client_info{company=~"$client"})'
CLIENT_FILTER = 'max by (client_id) (frontdesk_client_info{company=~"$client"})'


def per_client(series: str) -> str:
    """Sum `series` per client and name each client by its company."""
    return f"sum by (client_id) ({series}) * on (client_id) group_left (company) {CLIENTS}"


def selected(series: str) -> str:
    """Sum `series` over the clients chosen in the dashboard's client variable."""
    return f"sum({series} * on (client_id) group_left () {CLIENT_FILTER})"


def quantile(q: float, buckets: str, by: str = "") -> str:
    """The q-quantile of a histogram's `buckets` expression, optionally kept apart `by` labels."""
    keep = f"le, {by}" if by else "le"
    return f"histogram_quantile({q}, sum by ({keep}) ({buckets}))"


def stat(title: str, description: str, expr: str, unit: str = "short") -> Panel:
    """A single number, six columns wide."""
    return Panel(title, description, (Query(expr),), kind="stat", unit=unit, width=6, height=4)


def hourly(title: str, description: str, *queries: Query, width: int = 12) -> Panel:
    """Bars of one hour each."""
    return Panel(title, description, queries, bars=True, interval="1h", width=width)


def received(window: str, selector: str = "") -> str:
    """Calls received in `window` (e.g. `1h`, `$__range`), per series."""
    return f"increase(frontdesk_calls_received_total{selector}[{window}])"


CLIENT = Variable("client", "Client", "frontdesk_client_info", "company")
