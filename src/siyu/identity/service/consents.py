"""What a member authorized (a purpose, through an entry), withdrawn later or not; asked for
by other domains before a marketing send or before using the phone number."""

from __future__ import annotations

from sqlalchemy.orm import Session

from siyu.core import clock
from siyu.identity import repository
from siyu.identity.enums import ConsentPurpose
from siyu.identity.models import Consent
from siyu.identity.schemas import ConsentRead
from siyu.identity.service.members import get_member, member_family, workspace_of_member


def grant_consent(
    session: Session,
    workspace_id: int,
    member_id: int,
    purpose: ConsentPurpose,
    *,
    entry: str,
    actor: str,
) -> ConsentRead:
    """Record that a member authorized `purpose` through `entry` (idempotent while granted)."""
    get_member(session, workspace_id, member_id)
    active = repository.active_consent(session, [member_id], purpose)
    if active is not None:
        return ConsentRead.model_validate(active)
    row = Consent(
        workspace_id=workspace_id,
        member_id=member_id,
        purpose=purpose,
        entry=entry[:100],
        actor=actor[:100],
        granted_at=clock.now(),
    )
    repository.add(session, row)
    return ConsentRead.model_validate(row)


def withdraw_consent(
    session: Session, workspace_id: int, member_id: int, purpose: ConsentPurpose, *, via: str
) -> int:
    """Close every grant of `purpose` by this person; returns how many were open."""
    family = member_family(session, workspace_id, member_id)
    return repository.withdraw_consents(session, family, purpose, clock.now(), via[:100])


def has_consent(session: Session, member_id: int, purpose: ConsentPurpose | str) -> bool:
    """Whether the member (or one merged into it) authorized `purpose` and has not withdrawn.

    What other domains ask before a marketing send or before using the phone number.
    """
    workspace_id = workspace_of_member(session, member_id)
    if workspace_id is None:
        return False
    family = member_family(session, workspace_id, member_id)
    return repository.active_consent(session, family, ConsentPurpose(purpose)) is not None


def families_consenting(
    session: Session, families: dict[int, list[int]], purpose: ConsentPurpose | str
) -> set[int]:
    """`has_consent` for many members at once: those (keys of `families`, each with its
    family from `member_families`) of whom someone in the family authorized `purpose`."""
    everyone = {m for family in families.values() for m in family}
    granted = repository.members_consenting(session, list(everyone), ConsentPurpose(purpose))
    return {m for m, family in families.items() if granted.intersection(family)}


def list_consents(session: Session, workspace_id: int, member_id: int) -> list[ConsentRead]:
    family = member_family(session, workspace_id, member_id)
    return [ConsentRead.model_validate(c) for c in repository.list_consents(session, family)]
