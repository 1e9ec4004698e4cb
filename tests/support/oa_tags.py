"""Audience in tests: followers of the workspace's OA in the sandbox and in siyu (members, and
the reach ledger that knows they follow), and what the OA tag sync wrote."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from siyu.audience.models import OaTagMember, OaTagSync
from siyu.core import clock
from siyu.core.db import Database
from siyu.entries.models import ConditionalMenu
from siyu.identity import service as identity
from siyu.identity.schemas import PersonRef
from siyu.reach.models import ReachLedger
from siyu.sandbox.world import Follow, SandboxWorld, SimUser
from siyu.workspaces.schemas import AppRead


@dataclass(frozen=True)
class Fan:
    user: SimUser
    openid: str
    member_id: int


def fans(
    db: Database, world: SandboxWorld, app: AppRead, count: int, *, following: bool = True
) -> list[Fan]:
    """`count` sandbox users following `app` (or having left it), known to siyu as members with
    a ledger row saying so."""
    users = world.create_users(count, seed=len(world.users))
    now = clock.now()
    made: list[Fan] = []
    with db.session_scope() as session:
        openids = [world.openid(user, app.appid) for user in users]
        people = [PersonRef(appid=app.appid, openid=openid) for openid in openids]
        resolved = identity.resolve_member_ids(session, app, people)
        identity.number_new_members(session, app.workspace_id)
        for user, openid, (member_id, _new) in zip(users, openids, resolved, strict=True):
            user.follows[app.appid] = Follow(following, world.now(), "ADD_SCENE_SEARCH")
            session.add(
                ReachLedger(
                    workspace_id=app.workspace_id, member_id=member_id, app_id=app.id,
                    openid=openid, following=following, follow_changed_at=now,
                    window_used=0, mass_month="", mass_count=0, updated_at=now,
                )
            )  # fmt: skip
            made.append(Fan(user, openid, member_id))
    return made


def tag(db: Database, workspace_id: int, people: list[Fan], name: str) -> None:
    with db.session_scope() as session:
        identity.tag_members(session, workspace_id, [f.member_id for f in people], name, actor="t")


def synced_members(db: Database) -> set[int]:
    with db.session_scope() as session:
        return set(session.scalars(select(OaTagMember.member_id)))


def sync_count(db: Database) -> int:
    with db.session_scope() as session:
        return session.scalar(select(func.count()).select_from(OaTagSync)) or 0


def on_tag(world: SandboxWorld, appid: str, name: str) -> set[str]:
    """The openids carrying the OA tag `name` in the sandbox."""
    account = world.account(appid)
    ids = [i for i, n in account.tags.items() if n == name]
    if not ids:
        return set()
    return {
        user.openids[appid]
        for user in world.users.values()
        if ids[0] in user.tags.get(appid, set()) and appid in user.openids
    }


def number_of(db: Database, workspace_id: int, member_id: int) -> int:
    with db.session_scope() as session:
        return identity.numbers_of(session, workspace_id, [member_id])[member_id]


def conditional_menu_count(db: Database) -> int:
    with db.session_scope() as session:
        return session.scalar(select(func.count()).select_from(ConditionalMenu)) or 0
