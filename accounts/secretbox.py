"""Secrets at rest (SNMP communities and v3 credentials, webhook signing keys):
AES-256-GCM with a key derived from RACKCARD_SECRET_KEY (HKDF-SHA256), so a
copy of the database file alone reveals none of them.

Stored form: `enc1:<key id>:<base64url(nonce | ciphertext | tag)>`. The key id
(4 hex characters of the derived key's hash) lets `rackcard secrets rotate`
tell which key sealed a value. A value without the prefix is taken as plain
text written before sealing existed; `rotate` seals those too.

    secretbox.configure(settings.secret_key)      # at start-up (app, CLI)
    stored = secretbox.seal("public")
    secretbox.open(stored) == "public"
"""

from __future__ import annotations

import base64
import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PREFIX = "enc1:"
_NONCE = 12
_INFO = b"rackcard secrets at rest v1"


class SecretError(RuntimeError):
    """A sealed value that no configured key opens (a wrong RACKCARD_SECRET_KEY)."""


class _Key:
    def __init__(self, secret_key: str):
        raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"rackcard", info=_INFO).derive(secret_key.encode())
        self.id = hashlib.sha256(raw).hexdigest()[:4]
        self.aead = AESGCM(raw)


_current: _Key | None = None
_older: list[_Key] = []


def configure(secret_key: str, older: tuple[str, ...] | list[str] = ()) -> None:
    """Seal with `secret_key`; open with it or any of `older` (during a rotation)."""
    global _current, _older
    _current = _Key(secret_key)
    _older = [_Key(k) for k in older if k and k != secret_key]


def _key() -> _Key:
    if _current is None:
        raise SecretError("the secret key is not configured (RACKCARD_SECRET_KEY)")
    return _current


def is_sealed(value: str | None) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def seal(value: str | None) -> str | None:
    """The stored form of a secret; None and "" stay as they are (no secret)."""
    if value is None or value == "" or is_sealed(value):
        return value
    key = _key()
    nonce = os.urandom(_NONCE)
    sealed = key.aead.encrypt(nonce, value.encode(), key.id.encode())
    return f"{PREFIX}{key.id}:{base64.urlsafe_b64encode(nonce + sealed).decode().rstrip('=')}"


def open(value: str | None) -> str | None:  # noqa: A001 - the counterpart of seal
    """The secret of a stored value (plain text written before sealing passes through)."""
    if not is_sealed(value):
        return value
    _, key_id, body = value.split(":", 2)
    blob = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    for key in (_key(), *_older):
        if key.id != key_id:
            continue
        try:
            return key.aead.decrypt(blob[:_NONCE], blob[_NONCE:], key_id.encode()).decode()
        except InvalidTag:
            break
    raise SecretError(f"a stored secret was sealed with another key (id {key_id}); "
                      "run 'rackcard secrets rotate' with the old key")


def sealed_length(plain_bytes: int) -> int:
    """Characters the stored form of a secret of `plain_bytes` bytes takes."""
    return len(PREFIX) + 5 + -(-(_NONCE + plain_bytes + 16) * 4 // 3)
