"""Secrets sealed at rest: AES-GCM bound to a context, keys rotated without losing a secret."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from libs.platform.sealed import (
    SecretBox,
    SecretKey,
    SecretUnreadable,
    box_from_json,
    new_key_text,
    parse_keys,
)
from libs.platform.settings import Settings

PASSWORD = "app-password-of-bakker"
CONTEXT = "calendar:01890a5d-ac96-774b-bcce-b302099a8057"


def key(key_id: str) -> SecretKey:
    """A fresh random key."""
    return SecretKey(key_id, base64.b64decode(new_key_text()))


def test_a_sealed_secret_opens_for_its_context_only() -> None:
    box = SecretBox([key("k1")])
    sealed = box.seal(PASSWORD, CONTEXT)
    assert PASSWORD not in sealed
    assert sealed.startswith("v1.k1.")
    assert box.open(sealed, CONTEXT) == PASSWORD
    with pytest.raises(SecretUnreadable, match="context"):
        box.open(sealed, "calendar:another-client")


def test_each_seal_is_different() -> None:
    box = SecretBox([key("k1")])
    assert box.seal(PASSWORD, CONTEXT) != box.seal(PASSWORD, CONTEXT)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda s: s[:-2] + ("A" if s[-2] != "A" else "B") + s[-1],  # ciphertext or tag changed
        lambda s: s.replace("v1.", "v2.", 1),
        lambda s: s.replace(".k1.", ".k9.", 1),
        lambda s: s.rsplit(".", 1)[0],
        lambda s: "not sealed at all",
        lambda s: s + "!!!",
    ],
)
def test_a_tampered_or_foreign_value_does_not_open(mangle: object) -> None:
    box = SecretBox([key("k1")])
    sealed = box.seal(PASSWORD, CONTEXT)
    with pytest.raises(SecretUnreadable):
        box.open(mangle(sealed), CONTEXT)  # type: ignore[operator]


def test_another_installations_key_does_not_open_it() -> None:
    sealed = SecretBox([key("k1")]).seal(PASSWORD, CONTEXT)
    with pytest.raises(SecretUnreadable):
        SecretBox([key("k1")]).open(sealed, CONTEXT)


def test_a_rotation_keeps_old_secrets_readable_and_reseals_them_under_the_new_key() -> None:
    old, new = key("2026-01"), key("2026-12")
    sealed_before = SecretBox([old]).seal(PASSWORD, CONTEXT)
    rotated = SecretBox([new, old])
    assert rotated.open(sealed_before, CONTEXT) == PASSWORD
    assert rotated.needs_reseal(sealed_before)
    resealed = rotated.reseal(sealed_before, CONTEXT)
    assert not rotated.needs_reseal(resealed)
    assert SecretBox([new]).open(resealed, CONTEXT) == PASSWORD  # the old key may go now


def test_keys_never_show() -> None:
    secret_key = key("k1")
    box = SecretBox([secret_key])
    shown = repr(secret_key) + repr(box)
    assert base64.b64encode(secret_key.key).decode() not in shown
    assert "k1" in shown


def test_keys_come_from_settings_as_a_json_list_the_first_sealing() -> None:
    entries = [{"id": "new", "key": new_key_text()}, {"id": "old", "key": new_key_text()}]
    settings = Settings.model_validate(
        {
            "service": "calls",
            "DATABASE_URL": "postgresql://x@y/z",
            "secret_keys": json.dumps(entries),
        }
    )
    assert settings.secret_keys is not None
    box = box_from_json(settings.secret_keys.get_secret_value())
    assert box.seal(PASSWORD, CONTEXT).startswith("v1.new.")
    assert entries[0]["key"] not in repr(settings)


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "{}",
        "[]",
        '[{"id": "k1"}]',
        '[{"id": "k1", "key": "c2hvcnQ="}]',  # five bytes
        '[{"id": "bad id!", "key": "' + base64.b64encode(bytes(32)).decode() + '"}]',
        json.dumps([{"id": "k1", "key": new_key_text()}, {"id": "k1", "key": new_key_text()}]),
    ],
)
def test_malformed_keys_are_refused_at_start_up(text: str) -> None:
    with pytest.raises(ValidationError, match="secret_keys"):
        Settings.model_validate(
            {"service": "calls", "DATABASE_URL": "postgresql://x@y/z", "secret_keys": text}
        )


def test_parse_keys_needs_an_id_and_a_base64_key() -> None:
    with pytest.raises(ValueError, match="base64"):
        parse_keys([{"id": "k1", "key": "***"}])


@given(st.text(max_size=500), st.text(max_size=100))
def test_whatever_is_sealed_opens_unchanged(secret: str, context: str) -> None:
    box = SecretBox([SecretKey("k1", b"\x01" * 32)])
    assert box.open(box.seal(secret, context), context) == secret
