"""Secrets kept encrypted at rest: a client's calendar password, OAuth refresh token, IMAP login.

Such secrets never travel in events or logs; a service that must use one keeps it sealed in
its own tables. Sealing is AES-256-GCM (cryptography's AESGCM) with a fresh 96-bit nonce per
seal, and the ciphertext is bound to its context (for example `calendar:<client id>`) as
associated data: a sealed secret copied into another client's row does not open there.

Keys come from settings (FRONTDESK_SECRET_KEYS, a JSON list of `{"id": ..., "key": ...}`
with 32-byte keys in base64); the first seals, every one of them opens what it sealed, so a
key is rotated by putting a new one first and resealing (`reseal`) before the old one goes.
A sealed value reads `v1.<key id>.<base64url(nonce + ciphertext)>`.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr

VERSION = "v1"
NONCE_BYTES = 12
KEY_BYTES = 32
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


class SecretUnreadable(Exception):
    """A sealed value that no configured key opens for this context (or that is not one)."""


@dataclass(frozen=True)
class SecretKey:
    """One key: its id (kept next to what it sealed) and its 32 bytes."""

    key_id: str
    key: bytes

    def __post_init__(self) -> None:
        if not _KEY_ID.match(self.key_id):
            raise ValueError("a secret key's id is 1 to 32 letters, digits, '-' or '_'")
        if len(self.key) != KEY_BYTES:
            raise ValueError(f"a secret key is {KEY_BYTES} bytes (base64 of 32 random bytes)")

    def __repr__(self) -> str:
        return f"SecretKey(key_id={self.key_id!r}, key=<hidden>)"


def parse_keys(entries: Sequence[Mapping[str, str]]) -> list[SecretKey]:
    """Keys from settings entries `{"id": ..., "key": <base64>}`, the sealing key first."""
    keys = []
    for entry in entries:
        try:
            raw = base64.b64decode(entry["key"], validate=True)
        except (KeyError, binascii.Error) as exc:
            raise ValueError("each secret key needs an id and a base64 key") from exc
        keys.append(SecretKey(entry.get("id", ""), raw))
    if len({k.key_id for k in keys}) != len(keys):
        raise ValueError("two secret keys share an id")
    return keys


def box_from_json(text: str) -> SecretBox:
    """The box of the keys in a settings value (a JSON list of `{"id", "key"}`)."""
    try:
        entries = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError("the secret keys are not JSON") from exc
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ValueError('the secret keys are a JSON list of {"id": ..., "key": ...}')
    return SecretBox(parse_keys(entries))


def box_of(keys: SecretStr | None) -> SecretBox | None:
    """The box of the configured keys (`Settings.secret_keys`), or None when none are set."""
    return box_from_json(keys.get_secret_value()) if keys is not None else None


def new_key_text() -> str:
    """A fresh key in the form settings take (base64 of 32 random bytes)."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode()


class SecretBox:
    """Seals and opens secrets with the configured keys."""

    def __init__(self, keys: Sequence[SecretKey]) -> None:
        if not keys:
            raise ValueError("no secret key is configured (FRONTDESK_SECRET_KEYS)")
        self._keys = {key.key_id: key for key in keys}
        self._current = keys[0]

    def __repr__(self) -> str:
        return f"SecretBox(sealing_key={self._current.key_id!r}, keys={len(self._keys)})"

    def seal(self, secret: str, context: str) -> str:
        """The secret encrypted under the sealing key, bound to `context`."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self._current.key).encrypt(nonce, secret.encode(), context.encode())
        body = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
        return f"{VERSION}.{self._current.key_id}.{body}"

    def open(self, sealed: str, context: str) -> str:
        """The secret a sealed value holds; SecretUnreadable if it does not open here."""
        version, key_id, body = _parts(sealed)
        key = self._keys.get(key_id)
        if version != VERSION or key is None:
            raise SecretUnreadable("sealed with a key that is not configured")
        try:
            padded = body + "=" * (-len(body) % 4)
            raw = base64.b64decode(padded, altchars=b"-_", validate=True)
            plain = AESGCM(key.key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode())
        except (binascii.Error, ValueError, InvalidTag) as exc:
            raise SecretUnreadable("the sealed value does not open for this context") from exc
        return plain.decode()

    def needs_reseal(self, sealed: str) -> bool:
        """Whether the value was sealed with a key other than the sealing key."""
        return _parts(sealed)[1] != self._current.key_id

    def reseal(self, sealed: str, context: str) -> str:
        """The same secret sealed again under the sealing key (for key rotation)."""
        return self.seal(self.open(sealed, context), context)


def _parts(sealed: str) -> tuple[str, str, str]:
    parts = sealed.split(".")
    if len(parts) != 3 or not all(parts):
        raise SecretUnreadable("not a sealed value")
    return parts[0], parts[1], parts[2]
