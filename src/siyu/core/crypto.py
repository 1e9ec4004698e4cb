"""Field encryption (AES-256-GCM with a key id stored in each value) and keyed lookup hashes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Dialect, Text
from sqlalchemy.types import TypeDecorator

from siyu.core.config import Settings

NONCE_BYTES = 12


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def generate_data_key() -> str:
    """A fresh 256-bit key as base64url, for `SIYU_DATA_KEYS`."""
    return _b64encode(os.urandom(32))


def parse_data_keys(spec: str) -> tuple[str, dict[str, bytes]]:
    """Parse `kid:key,kid:key`; the first key id is the one new values use."""
    keys: dict[str, bytes] = {}
    current = ""
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        kid, sep, encoded = part.partition(":")
        if not sep or not kid.isalnum():
            raise ValueError("SIYU_DATA_KEYS entries look like `key_id:base64url(32 bytes)`")
        key = _b64decode(encoded)
        if len(key) != 32:
            raise ValueError(f"data key {kid!r} must decode to 32 bytes, not {len(key)}")
        keys[kid] = key
        current = current or kid
    if not keys:
        raise ValueError("SIYU_DATA_KEYS holds no key")
    return current, keys


class DecryptionError(Exception):
    """A stored value that no configured key opens (wrong key, tampering, or swapped column)."""


@dataclass(frozen=True)
class FieldCipher:
    """Encrypts text as `kid$base64url(nonce‖ciphertext‖tag)`, bound to a context string."""

    current: str
    keys: dict[str, bytes]
    # One AESGCM per key, made once: building it costs as much as sealing a short value.
    _aead: dict[str, AESGCM] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_aead", {kid: AESGCM(key) for kid, key in self.keys.items()})

    def encrypt(self, plaintext: str, context: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead[self.current].encrypt(
            nonce, plaintext.encode("utf-8"), context.encode("utf-8")
        )
        return f"{self.current}${_b64encode(nonce + sealed)}"

    def decrypt(self, token: str, context: str) -> str:
        kid, sep, body = token.partition("$")
        if not sep or kid not in self.keys:
            raise DecryptionError(f"no data key {kid!r} is configured")
        raw = _b64decode(body)
        try:
            plain = self._aead[kid].decrypt(
                raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode("utf-8")
            )
        except InvalidTag as exc:
            raise DecryptionError("stored value failed authentication") from exc
        return plain.decode("utf-8")

    @staticmethod
    def key_id_of(token: str) -> str:
        return token.partition("$")[0]


@dataclass(frozen=True)
class LookupHasher:
    """HMAC-SHA256 of a normalized value: equal inputs find each other, the hash reveals nothing."""

    key: bytes

    def digest(self, value: str, context: str) -> str:
        return hmac.new(self.key, f"{context}\x00{value}".encode(), hashlib.sha256).hexdigest()


_cipher: FieldCipher | None = None
_hasher: LookupHasher | None = None


def configure_crypto(settings: Settings) -> None:
    """Install the keys of these settings for every encrypted column and lookup hash."""
    global _cipher, _hasher  # noqa: PLW0603 - keys are process-wide, like the engine
    current, keys = parse_data_keys(settings.data_keys.get_secret_value())
    _cipher = FieldCipher(current, keys)
    _hasher = LookupHasher(settings.lookup_key.get_secret_value().encode("utf-8"))


def cipher() -> FieldCipher:
    if _cipher is None:
        from siyu.core.config import get_settings

        configure_crypto(get_settings())
    assert _cipher is not None
    return _cipher


def hasher() -> LookupHasher:
    if _hasher is None:
        from siyu.core.config import get_settings

        configure_crypto(get_settings())
    assert _hasher is not None
    return _hasher


class EncryptedText(TypeDecorator[str]):
    """A column whose plaintext never reaches the database; `context` binds it to its column."""

    impl = Text
    cache_ok = True

    def __init__(self, context: str) -> None:
        super().__init__()
        self.context = context

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else cipher().encrypt(value, self.context)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else cipher().decrypt(value, self.context)
