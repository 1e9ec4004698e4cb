"""What operators prove themselves with: argon2 password hashes and SHA-256 token hashes."""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher

from siyu.security import errors

passwords = PasswordHasher()
# Verified against when the email is unknown, so both paths cost one argon2 verification.
DUMMY_HASH = passwords.hash(secrets.token_urlsafe(16))
TOKEN_PREFIX = "siyu_"  # noqa: S105 - a marker for secret scanners, not a secret
MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # argon2 takes any length; the cap keeps a posted form's cost bounded
ONE_TIME_BYTES = 12  # 16 URL-safe characters, printed or shown once


def check_password(password: str, email: str) -> None:
    """The rules of a password an operator chooses: its length, and not their email."""
    if len(password) < MIN_PASSWORD:
        raise errors.WEAK_PASSWORD(
            f"a password has at least {MIN_PASSWORD} characters", min_length=MIN_PASSWORD
        )
    if len(password) > MAX_PASSWORD:
        raise errors.PASSWORD_TOO_LONG(
            f"a password has at most {MAX_PASSWORD} characters", max_length=MAX_PASSWORD
        )
    lowered, address = password.casefold(), email.strip().casefold()
    local = address.split("@")[0]
    # A local part of two letters would refuse half of all passwords; from 4 on, it is a name.
    if address and (address in lowered or (len(local) >= 4 and local in lowered)):
        raise errors.PASSWORD_IS_EMAIL("a password must not contain the sign-in email")


def one_time_password() -> str:
    return secrets.token_urlsafe(ONE_TIME_BYTES)


def sha256(token: str) -> str:
    """The stored form of a session or API token (and of a sign-in lockout key)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
