"""Who may call which notify route, in-process on a rolled-back PostgreSQL transaction.

The API runs as a caller each test chooses (the `principal` dependency overridden), standing in
for a verified bearer token or API key; one test goes through a real issued API key.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from uuid import UUID, uuid4

import httpx
import pytest
from fastapi import FastAPI

from libs.events import Event, NotificationPreferences
from libs.platform import api_keys
from libs.platform.auth import Principal, principal
from libs.platform.consumer import HandlerContext
from libs.platform.http import event_store
from libs.platform.problems import install_problems
from libs.platform.settings import Settings
from services.notify import api, reactions
from services.notify.migrations import MIGRATIONS
from services.notify.notifier import Notifier, bootstrap
from services.notify.settings import NotifySettings
from tests.support.access import STAFF, client_user, issued_key, misfits, stand_ins
from tests.support.builders import call_received, note_recorded, registered
from tests.support.rollback import RolledBackStore, rolled_back_store

pytestmark = [pytest.mark.infra]

T0 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)  # a Tuesday, 10:00 in Amsterdam
SETTINGS = Settings(service="notify", database_url="postgresql://unused")


class Transport:
    """A channel adapter that accepts everything."""

    async def send(self, _: object) -> None:
        """Accept the message."""


@dataclass
class Notify:
    """Notify's store with clients A (one mail queued) and B, and the API acting as `caller`."""

    store: RolledBackStore
    http: httpx.AsyncClient
    client_a: UUID
    client_b: UUID
    notification_id: UUID
    acting: dict[str, Principal] = field(default_factory=lambda: {"as": STAFF})

    def act_as(self, caller: Principal) -> None:
        """Make the following requests the caller's."""
        self.acting["as"] = caller


async def react(store: RolledBackStore, notifier: Notifier, *events: Event) -> None:
    """Hand events to notify's handlers, as its consumer would, at T0."""
    handlers = reactions.subscriptions(SETTINGS, notifier)[0].handlers
    for event in events:
        await handlers[event.type](event, HandlerContext(store.conn, store, lambda: T0))


def app_on(
    store: RolledBackStore, notifier: Notifier, acting: dict[str, Principal] | None
) -> FastAPI:
    """Notify's router on the store; as `acting["as"]`, or through real credentials if None."""
    app = FastAPI()
    install_problems(app)
    app.include_router(api.router)
    app.state.notifier = notifier
    app.state.runtime = SimpleNamespace(
        clock=SimpleNamespace(now=lambda: T0), settings=SETTINGS, require_store=lambda: store
    )
    app.state.api_keys = api_keys.check
    app.dependency_overrides[event_store] = lambda: store
    if acting is not None:
        app.dependency_overrides[principal] = lambda: acting["as"]
    return app


@pytest.fixture
def notifier() -> Notifier:
    """Notify's notifier with transports that accept everything."""
    transports = {"email": Transport(), "sms": Transport(), "chat": Transport()}
    return bootstrap(NotifySettings(), transports)  # type: ignore[arg-type]


@pytest.fixture
async def notify(database_url: str, notifier: Notifier) -> AsyncIterator[Notify]:
    """Notify in-process on a rolled-back schema: clients A and B, a per-call mail for A."""
    async with rolled_back_store(database_url, "notify", MIGRATIONS, "t") as store:
        prefs = NotificationPreferences(mode="per_call", recipients=("jan@bakker.nl",))
        a, b = (registered(at=T0 - timedelta(days=30), notification=prefs) for _ in range(2))
        call = call_received(a.client_id, T0 - timedelta(minutes=5))
        await react(store, notifier, a, b, call, note_recorded(call, "Bel terug", T0))
        found = await store.conn.fetchval(f"SELECT notification_id FROM {store.schema}.outgoing")
        acting = {"as": STAFF}
        transport = httpx.ASGITransport(app=app_on(store, notifier, acting))
        async with httpx.AsyncClient(transport=transport, base_url="http://notify") as http:
            yield Notify(store, http, a.client_id, b.client_id, found, acting)


async def answers(notify: Notify, caller: str) -> dict[str, int]:
    """The status of each route, for one of the table's callers, on client A's data, as it says."""
    notify.act_as(stand_ins(notify.client_a, notify.client_b)[caller])
    http = notify.http
    found = {
        "POST /digests/run": await http.post("/digests/run", json={}),
        "GET /clients/{client_id}/notifications": await http.get(
            f"/clients/{notify.client_a}/notifications"
        ),
        "GET /notifications/{notification_id}": await http.get(
            f"/notifications/{notify.notification_id}"
        ),
    }
    statuses = {route: response.status_code for route, response in found.items()}
    assert misfits("notify", caller, statuses) == []
    return statuses


async def test_each_role_reaches_only_the_routes_the_table_gives_it(notify: Notify) -> None:
    assert set((await answers(notify, "anonymous")).values()) == {401}
    everything_but_digests = {
        "POST /digests/run": 403, "GET /clients/{client_id}/notifications": 200,
        "GET /notifications/{notification_id}": 200,
    }  # fmt: skip
    assert await answers(notify, "operator") == everything_but_digests
    assert await answers(notify, "client_a") == everything_but_digests
    assert await answers(notify, "client_b") == {
        "POST /digests/run": 403, "GET /clients/{client_id}/notifications": 404,
        "GET /notifications/{notification_id}": 404,
    }  # fmt: skip
    assert set((await answers(notify, "staff")).values()) == {200}


async def test_a_client_sees_its_own_notifications_and_anothers_as_unknown(notify: Notify) -> None:
    notify.act_as(client_user(notify.client_a))
    [own] = (await notify.http.get(f"/clients/{notify.client_a}/notifications")).json()
    assert own["notification_id"] == str(notify.notification_id)
    detail = (await notify.http.get(f"/notifications/{notify.notification_id}")).json()
    assert "Bel terug" in detail["body_text"]
    notify.act_as(client_user(notify.client_b))
    assert (await notify.http.get(f"/clients/{notify.client_b}/notifications")).json() == []
    hidden = await notify.http.get(f"/notifications/{notify.notification_id}")
    unknown_id = uuid4()
    unknown = await notify.http.get(f"/notifications/{unknown_id}")
    assert (hidden.status_code, unknown.status_code) == (404, 404)
    assert "Bel terug" not in hidden.text
    shape = unknown.json() | {"detail": unknown.json()["detail"].replace(str(unknown_id), "ID")}
    id_ = str(notify.notification_id)
    assert hidden.json() | {"detail": hidden.json()["detail"].replace(id_, "ID")} == shape
    other = await notify.http.get(f"/clients/{notify.client_a}/notifications")
    nobody = uuid4()
    never = await notify.http.get(f"/clients/{nobody}/notifications")
    assert (other.status_code, never.status_code) == (404, 404)
    assert other.json()["detail"].replace(str(notify.client_a), "ID") == never.json()[
        "detail"
    ].replace(str(nobody), "ID")


async def test_an_issued_key_is_kept_from_intakes_topic_and_makes_its_client_the_caller(
    notify: Notify, notifier: Notifier
) -> None:
    handlers = reactions.subscriptions(SETTINGS, notifier)[0].handlers
    assert {"ApiKeyIssued", "ApiKeyRevoked"} <= set(handlers)
    issued, secret = issued_key(notify.client_a, T0)
    await react(notify.store, notifier, issued)
    transport = httpx.ASGITransport(app=app_on(notify.store, notifier, None))
    async with httpx.AsyncClient(transport=transport, base_url="http://notify") as http:
        key = {"X-Api-Key": secret}
        path = f"/notifications/{notify.notification_id}"
        assert (await http.get(path, headers=key)).status_code == 200
        other = f"/clients/{notify.client_b}/notifications"
        assert (await http.get(other, headers=key)).status_code == 404
        assert (await http.post("/digests/run", json={}, headers=key)).status_code == 403
        assert (await http.get(path)).status_code == 401


async def test_staff_keep_the_forwarding_codes_and_bad_text_changes_nothing(notify: Notify) -> None:
    http = notify.http
    codes = {"name": "KPN vaste lijn", "forward_all": "*21*{number}#", "stop_all": "#21#"}
    assert (await http.put("/forwarding-codes/kpn-vast", json=codes)).status_code == 200
    for bad in ({**codes, "name": "KPN\u0000"}, {**codes, "note": "a\u0000b"},
                {**codes, "forward_all": "*21*{number}#\nBcc: x"}, {**codes, "name": ""},
                {**codes, "fax": "no"}):  # fmt: skip
        assert (await http.put("/forwarding-codes/kpn-vast", json=bad)).status_code == 422, bad
    surrogate = '{"name": "\\ud891", "forward_all": "*21*{number}#", "stop_all": "#21#"}'
    headers = {"Content-Type": "application/json"}
    answer = await http.put("/forwarding-codes/kpn-vast", content=surrogate, headers=headers)
    assert answer.status_code == 422
    listed = (await http.get("/forwarding-codes")).json()
    assert [(c["provider"], c["name"]) for c in listed] == [("kpn-vast", "KPN vaste lijn")]
