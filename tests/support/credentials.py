"""The credentials the tests call services with.

Most tests act as staff through a configured staff key (one per test session); the tests of
roles, tenants and sign-in use real Keycloak tokens (tests/support/keycloak.py) and issued
API keys.
"""

from __future__ import annotations

import json

from libs.events.envelope import new_id
from libs.platform.api_keys import digest, new_key
from libs.platform.sealed import new_key_text

STAFF_KEY = new_key(new_id()).key
STAFF = {"X-Api-Key": STAFF_KEY}
"""Headers that make a request the bureau's own automation (role staff)."""
STAFF_KEY_ENV = {"FRONTDESK_AUTH_STAFF_KEYS_SHA256": json.dumps([digest(STAFF_KEY)])}
"""The environment that makes a service process accept STAFF."""
SECRET_KEYS = json.dumps([{"id": "test-session", "key": new_key_text()}])
"""The keys a test session's service processes seal stored secrets with."""
SECRET_KEYS_ENV = {"FRONTDESK_SECRET_KEYS": SECRET_KEYS}
