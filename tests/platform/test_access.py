"""The platform's side of access: tenants, staff keys, API key shape, /metrics, strict queries
and the wait after too many refused credentials. In-process, on apps that are never started
(no database is reached); issued API keys and real tokens are tested in tests/security.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import httpx
import pytest
from fastapi import FastAPI

from libs.errors import NotFound, Unauthenticated
from libs.events.envelope import new_id
from libs.platform import api_keys
from libs.platform.auth import Principal
from libs.platform.settings import Settings
from services.billing.app import create_app as create_billing_app
from services.calls.app import create_app as create_calls_app
from tests.support.credentials import STAFF, STAFF_KEY

A, B = UUID(int=0xA), UUID(int=0xB)
CLIENT_A = Principal("user-a", "a", "client", A, "token")
OPERATOR = Principal("op-1", "op", "operator", None, "token")
STAFF_PERSON = Principal("staff-1", "staff", "staff", A, "token")
SCRAPE = "scrape-credential-of-this-test"


def settings(service: str, **values: Any) -> Settings:
    """Settings for an app that is never started, accepting this session's staff key."""
    return Settings.model_validate(
        {
            "service": service,
            "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
            "auth_staff_keys_sha256": [api_keys.digest(STAFF_KEY)],
            "metrics_token": SCRAPE,
            **values,
        }
    )


def client(app: FastAPI) -> httpx.AsyncClient:
    """An HTTP client talking to the app in process."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc")


def test_a_client_is_bound_to_its_tenant_staff_and_operators_are_not() -> None:
    assert (CLIENT_A.tenant, OPERATOR.tenant, STAFF_PERSON.tenant) == (A, None, None)
    assert CLIENT_A.sees(A)
    assert not CLIENT_A.sees(B)
    assert OPERATOR.sees(B)
    assert STAFF_PERSON.sees(B)  # a tenant claim on a staff token does not narrow staff


def test_another_tenants_resource_is_the_not_found_of_an_unknown_one() -> None:
    assert CLIENT_A.own(A, "client") == A
    with pytest.raises(NotFound, match=f"no invoice {B}"):
        CLIENT_A.own(B, "invoice")


def test_a_list_filter_is_narrowed_to_the_callers_own_client() -> None:
    assert CLIENT_A.scope(None) == A
    assert CLIENT_A.scope(A) == A
    with pytest.raises(NotFound):
        CLIENT_A.scope(B)
    assert OPERATOR.scope(None) is None
    assert OPERATOR.scope(B) == B


def test_a_key_is_shown_once_and_kept_only_as_a_digest() -> None:
    made = api_keys.new_key(new_id())
    key_id, secret = api_keys.parse(made.key)
    assert key_id == made.key_id
    assert made.secret_sha256 == api_keys.digest(secret)
    assert secret not in made.secret_sha256
    assert api_keys.new_key(key_id).key != made.key  # 256 random bits each time


@pytest.mark.parametrize(
    "key",
    ["", "fdk_", "fdk_123_abc", f"xyz_{'1' * 32}_{'a' * 43}", f"fdk_{'1' * 32}_{'a' * 42}"],
)
def test_anything_not_shaped_like_a_key_is_refused(key: str) -> None:
    with pytest.raises(Unauthenticated):
        api_keys.parse(key)


async def test_a_configured_staff_key_is_the_bureaus_automation() -> None:
    async with client(create_calls_app(settings("calls"))) as http:
        me = (await http.get("/whoami", headers=STAFF)).json()
        assert (me["role"], me["via"], me["client_id"]) == ("staff", "api_key", None)
        other = api_keys.new_key(new_id()).key  # well-formed, but not configured
        refused = await http.get("/whoami", headers={"X-Api-Key": other})
        assert refused.status_code == 503  # an unknown key is looked up: no database here
        both = {**STAFF, "Authorization": "Bearer x.y.z"}
        assert (await http.get("/whoami", headers=both)).status_code == 401


async def test_metrics_answer_the_scrape_credential_and_staff_only() -> None:
    async with client(create_billing_app(settings("billing"))) as http:
        assert (await http.get("/metrics")).status_code == 401
        wrong = {"Authorization": "Bearer not-the-scrape-credential"}
        assert (await http.get("/metrics", headers=wrong)).status_code == 401
        scraped = await http.get("/metrics", headers={"Authorization": f"Bearer {SCRAPE}"})
        assert scraped.status_code == 200
        assert "frontdesk_http_requests" in scraped.text or "python_info" in scraped.text
        assert (await http.get("/metrics", headers=STAFF)).status_code == 200


async def test_metrics_are_staff_only_without_a_scrape_credential() -> None:
    async with client(create_billing_app(settings("billing", metrics_token=None))) as http:
        assert (await http.get("/metrics", headers={"Authorization": "Bearer "})).status_code == 401
        assert (await http.get("/metrics", headers=STAFF)).status_code == 200


async def test_the_clock_is_read_by_anyone_signed_in_and_moved_by_staff_only() -> None:
    async with client(create_calls_app(settings("calls"))) as http:
        assert (await http.get("/clock")).status_code == 401
        moved = await http.post("/clock", json={"advance_seconds": 1})
        assert moved.status_code == 401
        assert (
            await http.post("/clock", json={"advance_seconds": 1}, headers=STAFF)
        ).status_code in (
            409,  # staff may, but this app's clock is the system's
        )


async def test_a_query_parameter_the_route_does_not_take_is_refused() -> None:
    async with client(create_calls_app(settings("calls"))) as http:
        answer = await http.get("/whoami", params={"client_id[]": str(A)})
        assert answer.status_code == 422
        assert "client_id[]" in answer.json()["detail"]


async def test_an_address_sending_refused_credentials_waits_before_trying_more() -> None:
    app = create_calls_app(settings("calls", auth_failure_limit="3/minute"))
    async with client(app) as http:
        made_up = [{"X-Api-Key": api_keys.new_key(new_id()).key} for _ in range(3)]
        bearer = [{"Authorization": f"Bearer not.a.jwt{i}"} for i in range(3)]
        statuses = [(await http.get("/whoami", headers=h)).status_code for h in bearer]
        assert statuses == [401, 401, 401]
        waited = await http.get("/whoami", headers=made_up[0])
        assert waited.status_code == 429
        assert int(waited.headers["retry-after"]) >= 1
        assert (await http.get("/whoami", headers=STAFF)).status_code == 429  # credentials wait
        assert (await http.get("/whoami")).status_code == 200  # anonymous is not affected
        assert (await http.get("/health/live")).status_code in (200, 503)
