"""Property-based run over the notify OpenAPI spec: whatever is sent, never a 5xx.

Valid and invalid requests are generated from the spec the running process serves; half of
them are pointed at a client and a notification that exist, so they reach the queries.
The shared operations routes (/clock, /health) come from libs/platform and are left out.
Every request carries the staff credential, so each route does its work instead of a 401.
"""

from __future__ import annotations

import pytest
import schemathesis

from tests.notify.conftest import NotifyStack, mails_to, noted_call, notifications, register
from tests.support.credentials import STAFF
from tests.support.fuzz import aim_path_at, assert_no_server_error, operations_of

pytestmark = [pytest.mark.infra]


async def test_no_request_gets_a_server_error(stack: NotifyStack) -> None:
    client, inbox = await register(stack, mode="per_call", language="en")
    await noted_call(stack, client, stack.at(9, 50), "Fuzz me")
    await mails_to(stack, inbox, 1)
    [row] = await notifications(stack, client)
    known = {"client_id": str(client), "notification_id": row["notification_id"]}
    spec = (await stack.http.get("/openapi.json")).json()
    schema = schemathesis.openapi.from_dict(spec)
    schema.config.update(headers=STAFF)  # as staff: every route serves, none is only a 401/403
    operations = operations_of(schema.exclude(tag="operations"))
    assert len(operations) >= 3
    for operation in operations:
        assert_no_server_error(operation, stack.process.url, aim=aim_path_at(known))
