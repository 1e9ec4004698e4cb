"""What operators prove themselves with: argon2 password hashes and SHA-256 token hashes."""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher

passwords = PasswordHasher()
# Verified against when the email is unknown, so both paths cost one argon2 verification.
DUMMY_HASH = passwords.hash(secrets.token_urlsafe(16))
TOKEN_PREFIX = "siyu_"  # noqa: S105 - a marker for secret scanners, not a secret
MIN_PASSWORD = 10


def sha256(token: str) -> str:
    """The stored form of a session or API token (and of a sign-in lockout key)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
