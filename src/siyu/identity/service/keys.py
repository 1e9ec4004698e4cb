"""The keys a person is recognised by: (kind, scope, value) of each identity they name."""

from __future__ import annotations

from siyu.core.crypto import hasher
from siyu.identity.enums import IdentityKind
from siyu.identity.repository import IdentityKey
from siyu.identity.schemas import PersonRef


def phone_hash(phone: str) -> str:
    """The keyed lookup hash of a normalized phone number."""
    return hasher().digest(phone, "phone")


def person_keys(person: PersonRef) -> dict[IdentityKind, IdentityKey]:
    """Each identity the person names, by kind; the phone as its keyed hash (attached last)."""
    keys: dict[IdentityKind, IdentityKey] = {}
    if person.openid:
        keys[IdentityKind.openid] = (IdentityKind.openid, person.appid, person.openid)
    if person.external_id:
        keys[IdentityKind.external] = (IdentityKind.external, person.appid, person.external_id)
    if person.unionid:
        keys[IdentityKind.unionid] = (IdentityKind.unionid, "", person.unionid)
    if person.phone:
        keys[IdentityKind.phone] = (IdentityKind.phone, "", phone_hash(person.phone))
    return keys
