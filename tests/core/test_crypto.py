"""Field encryption: AES-GCM bound to its column, key ids carried in values, keyed lookup hashes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from siyu.core.crypto import (
    DecryptionError,
    FieldCipher,
    LookupHasher,
    generate_data_key,
    parse_data_keys,
)
from siyu.core.db import Database
from siyu.workspaces.schemas import AppRead

KEYS = f"old:{generate_data_key()},new:{generate_data_key()}"


def _cipher(spec: str = KEYS) -> FieldCipher:
    current, keys = parse_data_keys(spec)
    return FieldCipher(current, keys)


@given(st.text(max_size=200))
def test_round_trip(plain: str) -> None:
    cipher = _cipher()
    assert cipher.decrypt(cipher.encrypt(plain, "t.c"), "t.c") == plain


def test_first_key_encrypts_and_every_key_decrypts() -> None:
    # given a value sealed under the old key
    old_only = _cipher(KEYS.split(",", maxsplit=1)[0])
    sealed = old_only.encrypt("13800000000", "identities.secret")
    # when the key list gains a new current key
    both = _cipher(KEYS.split(",")[1] + "," + KEYS.split(",", maxsplit=1)[0])
    # then old values still open and new ones use the new key id
    assert both.decrypt(sealed, "identities.secret") == "13800000000"
    assert FieldCipher.key_id_of(both.encrypt("x", "c")) == "new"


def test_value_moved_to_another_column_does_not_open() -> None:
    cipher = _cipher()
    sealed = cipher.encrypt("secret", "apps.secret")
    with pytest.raises(DecryptionError):
        cipher.decrypt(sealed, "apps.token")


def test_tampered_value_does_not_open() -> None:
    cipher = _cipher()
    sealed = cipher.encrypt("secret", "c")
    tampered = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    with pytest.raises(DecryptionError):
        cipher.decrypt(tampered, "c")


def test_unknown_key_id_is_reported() -> None:
    sealed = _cipher().encrypt("x", "c")
    stranger = _cipher(f"other:{generate_data_key()}")
    with pytest.raises(DecryptionError, match="no data key"):
        stranger.decrypt(sealed, "c")


@pytest.mark.parametrize("spec", ["", "nokey", "k1:c2hvcnQ", "bad id:" + "A" * 43])
def test_malformed_key_specs_are_refused(spec: str) -> None:
    with pytest.raises(ValueError, match=r"SIYU_DATA_KEYS|32 bytes"):
        parse_data_keys(spec)


def test_lookup_hash_is_keyed_and_contextual() -> None:
    a, b = LookupHasher(b"key-a"), LookupHasher(b"key-b")
    assert a.digest("+8613800000000", "phone") == a.digest("+8613800000000", "phone")
    assert a.digest("+8613800000000", "phone") != b.digest("+8613800000000", "phone")
    assert a.digest("+8613800000000", "phone") != a.digest("+8613800000000", "email")


def test_secrets_are_not_stored_in_clear(db: Database, mp_app: AppRead) -> None:
    # given an app registered with a secret (fixture), when we read the raw column
    with db.engine.connect() as conn:
        raw = conn.execute(text("SELECT secret, token, aes_key FROM apps")).one()
    # then no plaintext is there and each value names its key id
    assert all(value is not None and "$" in value for value in raw)
    assert "s" * 32 not in raw[0]
    assert raw[1] != "pushtoken"
