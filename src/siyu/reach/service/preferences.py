"""The workspace's sending policy and each member's preferences (one set for the person)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from siyu.core import clock
from siyu.reach import errors, repository
from siyu.reach import policy as policies
from siyu.reach.models import ReachPolicy, ReachPreference
from siyu.reach.schemas import PreferencesIn, PreferencesRead
from siyu.reach.service.common import audit, cached, family_of, forget_cached
from siyu.security.schemas import Principal


def get_policy(session: Session, workspace_id: int) -> policies.Policy:
    def load() -> policies.Policy:
        row = repository.get_policy_row(session, workspace_id)
        return policies.load(row.rules if row else None)

    return cached(session, ("policy", workspace_id), load)


def set_policy(
    session: Session, workspace_id: int, rules: dict[str, Any], actor: Principal | str
) -> policies.Policy:
    if not rules:
        raise errors.INVALID_POLICY("the policy is empty", reason="策略是空的。")
    try:
        policy = policies.Policy.model_validate(rules)
    except ValueError as exc:
        first = str(exc).splitlines()[0]
        raise errors.INVALID_POLICY(first, reason=first) from None
    forget_cached(session)
    row = repository.get_policy_row(session, workspace_id)
    stored = policy.model_dump(mode="json")
    if row is None:
        session.add(ReachPolicy(workspace_id=workspace_id, rules=stored, updated_at=clock.now()))
    else:
        row.rules, row.updated_at = stored, clock.now()
    session.flush()
    audit(session, actor, "reach.policy_set", workspace_id, ("reach_policy", workspace_id))
    return policy


def get_preferences(session: Session, workspace_id: int, member_id: int) -> PreferencesRead:
    members = family_of(session, workspace_id, member_id)
    rows = repository.list_preferences(session, members)
    muted = sorted({c for row in rows for c in row.muted})
    dnc = any(row.do_not_contact for row in rows)
    return PreferencesRead(member_id=members[0], muted=muted, do_not_contact=dnc)


def set_preferences(
    session: Session,
    workspace_id: int,
    member_id: int,
    prefs: PreferencesIn,
    actor: Principal | str,
) -> PreferencesRead:
    """One set of choices for the person, whichever app they set it from."""
    policy = get_policy(session, workspace_id)
    unknown = sorted(set(prefs.muted) - set(policy.categories))
    if unknown:
        joined = ", ".join(unknown)
        raise errors.UNKNOWN_CATEGORY(f"unknown categories: {joined}", categories=joined)
    members = family_of(session, workspace_id, member_id)
    rows = {row.member_id: row for row in repository.list_preferences(session, members)}
    for other in members[1:]:
        if other in rows:
            session.delete(rows.pop(other))
    row = rows.get(members[0])
    if row is None:
        row = ReachPreference(workspace_id=workspace_id, member_id=members[0])
        session.add(row)
    row.muted = sorted(set(prefs.muted))
    row.do_not_contact = prefs.do_not_contact
    row.updated_at = clock.now()
    session.flush()
    audit(
        session,
        actor,
        "reach.preferences_set",
        workspace_id,
        ("member", members[0]),
        detail={"muted": row.muted, "do_not_contact": row.do_not_contact},
    )
    return get_preferences(session, workspace_id, members[0])
