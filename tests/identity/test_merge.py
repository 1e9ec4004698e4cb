"""Staff merges, undo while nothing conflicting happened since, and the review list."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from siyu.core.db import Database
from siyu.core.errors import Conflict, Invalid, NotFound
from siyu.identity import service
from siyu.identity.enums import ConflictStatus, MemberStatus
from siyu.identity.models import Identity, Member, TimelineEvent
from siyu.identity.schemas import PersonRef, ResolvedMember
from siyu.security.enums import Role
from siyu.security.schemas import Principal
from siyu.workspaces.schemas import AppRead
from tests.support.names import openid

TS = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
STAFF = "operator:1"


def staff(workspace_id: int) -> Principal:
    """The operator 1 of this workspace, who merges (and is audited as `STAFF`)."""
    return Principal(
        operator_id=1,
        workspace_id=workspace_id,
        email="staff@example.com",
        name="staff",
        role=Role.admin,
        via="test",
    )


def resolve(db: Database, app: AppRead, **person: str) -> ResolvedMember:
    with db.session_scope() as session:
        return service.resolve_member(session, app, PersonRef(appid=app.appid, **person))


def with_event(db: Database, app: AppRead, member: ResolvedMember, name: str) -> None:
    with db.session_scope() as session:
        service.record_event(session, app.workspace_id, member.id, name, TS, app_id=app.id)


def set_attributes(db: Database, member_id: int, attributes: dict[str, str]) -> None:
    with db.session_scope() as session:
        row = session.get(Member, member_id)
        assert row is not None
        row.attributes = attributes


def snapshot(db: Database) -> dict[str, object]:
    with db.session_scope() as session:
        return {
            "identities": sorted(session.execute(select(Identity.id, Identity.member_id)).all()),
            "events": sorted(
                session.execute(select(TimelineEvent.id, TimelineEvent.member_id)).all()
            ),
            "members": sorted(
                session.execute(
                    select(
                        Member.id,
                        Member.status,
                        Member.merged_into_id,
                        Member.attributes,
                        Member.created_at,
                    )
                ).all(),
                key=lambda r: r[0],
            ),
        }


@pytest.fixture
def pair(db: Database, mp_app: AppRead, oa_app: AppRead) -> tuple[ResolvedMember, ResolvedMember]:
    a = resolve(db, oa_app, openid=openid(1))
    b = resolve(db, mp_app, openid=openid(2))
    with_event(db, oa_app, a, "oa.subscribe")
    with_event(db, mp_app, b, "mp.login")
    set_attributes(db, a.id, {"city": "上海", "level": "gold"})
    set_attributes(db, b.id, {"city": "北京", "school": "一中"})
    return a, b


def test_manual_merge_moves_everything_and_undo_restores_it(
    db: Database, mp_app: AppRead, pair: tuple[ResolvedMember, ResolvedMember]
) -> None:
    a, b = pair
    before = snapshot(db)
    # when staff merge b into a
    with db.session_scope() as session:
        record = service.merge_members(session, staff(mp_app.workspace_id), a.id, b.id)
    # then a holds both timelines and identities; a's own attributes win, b's fill gaps
    with db.session_scope() as session:
        survivor = service.get_member(session, mp_app.workspace_id, a.id)
        page = service.get_timeline(session, mp_app.workspace_id, a.id)
    assert {i.value for i in survivor.identities} == {openid(1), openid(2)}
    assert sorted(e.event for e in page.items) == ["mp.login", "oa.subscribe"]
    assert survivor.attributes == {"city": "上海", "level": "gold", "school": "一中"}
    # when the merge is undone, then everything is as it was
    with db.session_scope() as session:
        undone = service.undo_merge(session, staff(mp_app.workspace_id), record.id)
    assert undone.undone_by == STAFF
    assert snapshot(db) == before


def test_undo_twice_is_refused(
    db: Database, mp_app: AppRead, pair: tuple[ResolvedMember, ResolvedMember]
) -> None:
    a, b = pair
    with db.session_scope() as session:
        record = service.merge_members(session, staff(mp_app.workspace_id), a.id, b.id)
    with db.session_scope() as session:
        service.undo_merge(session, staff(mp_app.workspace_id), record.id)
    after_first = snapshot(db)
    with pytest.raises(Conflict) as caught, db.session_scope() as session:
        service.undo_merge(session, staff(mp_app.workspace_id), record.id)
    assert caught.value.code == "identity.merge_already_undone"
    assert snapshot(db) == after_first


def test_undo_is_refused_after_a_later_merge(
    db: Database, mp_app: AppRead, pair: tuple[ResolvedMember, ResolvedMember]
) -> None:
    a, b = pair
    c = resolve(db, mp_app, openid=openid(3))
    with db.session_scope() as session:
        first = service.merge_members(session, staff(mp_app.workspace_id), a.id, b.id)
    with db.session_scope() as session:
        later = service.merge_members(session, staff(mp_app.workspace_id), c.id, a.id)
    before = snapshot(db)
    with pytest.raises(Conflict) as caught, db.session_scope() as session:
        service.undo_merge(session, staff(mp_app.workspace_id), first.id)
    assert caught.value.code == "identity.merge_undo_conflict"
    assert caught.value.data == {"later_merge_ids": [later.id]}
    assert snapshot(db) == before


def test_merging_a_merged_member_is_refused(
    db: Database, mp_app: AppRead, pair: tuple[ResolvedMember, ResolvedMember]
) -> None:
    a, b = pair
    with db.session_scope() as session:
        service.merge_members(session, staff(mp_app.workspace_id), a.id, b.id)
    before = snapshot(db)
    with pytest.raises(Conflict) as caught, db.session_scope() as session:
        service.merge_members(session, staff(mp_app.workspace_id), a.id, b.id)
    assert caught.value.code == "identity.member_merged"
    assert snapshot(db) == before


def test_merge_into_itself_is_refused(
    db: Database, mp_app: AppRead, pair: tuple[ResolvedMember, ResolvedMember]
) -> None:
    a, _b = pair
    with pytest.raises(Invalid) as caught, db.session_scope() as session:
        service.merge_members(session, staff(mp_app.workspace_id), a.id, a.id)
    assert caught.value.code == "identity.merge_self"


def test_another_workspaces_member_is_not_found(
    db: Database, mp_app: AppRead, pair: tuple[ResolvedMember, ResolvedMember]
) -> None:
    a, b = pair
    before = snapshot(db)
    with pytest.raises(NotFound), db.session_scope() as session:
        service.merge_members(session, staff(mp_app.workspace_id + 1), a.id, b.id)
    assert snapshot(db) == before


def test_review_list_conflict_merged_by_staff(
    db: Database, mp_app: AppRead, oa_app: AppRead
) -> None:
    # given a phone shared by two UnionIDs (on the review list)
    a = resolve(db, mp_app, openid=openid(1), unionid=openid(8, "u"), phone="13800000000")
    b = resolve(db, oa_app, openid=openid(2), unionid=openid(9, "u"), phone="13800000000")
    with db.session_scope() as session:
        (conflict,) = service.list_conflicts(session, mp_app.workspace_id)
    # when staff decide they are one person
    with db.session_scope() as session:
        service.merge_members(
            session, staff(mp_app.workspace_id), a.id, b.id, conflict_id=conflict.id
        )
    # then the conflict is closed and cannot be used again
    with db.session_scope() as session:
        assert service.list_conflicts(session, mp_app.workspace_id) == []
        (closed,) = service.list_conflicts(session, mp_app.workspace_id, ConflictStatus.merged)
        merged = session.get(Member, b.id)
    assert closed.resolved_by == STAFF
    assert merged is not None
    assert merged.status == MemberStatus.merged
    with pytest.raises(Conflict) as caught, db.session_scope() as session:
        service.dismiss_conflict(session, staff(mp_app.workspace_id), conflict.id)
    assert caught.value.code == "identity.conflict_closed"


def test_conflict_must_name_the_merged_pair(db: Database, mp_app: AppRead, oa_app: AppRead) -> None:
    resolve(db, mp_app, openid=openid(1), unionid=openid(8, "u"), phone="13800000000")
    resolve(db, oa_app, openid=openid(2), unionid=openid(9, "u"), phone="13800000000")
    other = resolve(db, mp_app, openid=openid(3))
    stranger = resolve(db, mp_app, openid=openid(4))
    with db.session_scope() as session:
        (conflict,) = service.list_conflicts(session, mp_app.workspace_id)
    before = snapshot(db)
    with pytest.raises(Invalid) as caught, db.session_scope() as session:
        service.merge_members(
            session,
            staff(mp_app.workspace_id),
            other.id,
            stranger.id,
            conflict_id=conflict.id,
        )
    assert caught.value.code == "identity.conflict_mismatch"
    assert snapshot(db) == before


def test_dismissed_conflict_leaves_members_apart(
    db: Database, mp_app: AppRead, oa_app: AppRead
) -> None:
    resolve(db, mp_app, openid=openid(1), unionid=openid(8, "u"), phone="13800000000")
    resolve(db, oa_app, openid=openid(2), unionid=openid(9, "u"), phone="13800000000")
    with db.session_scope() as session:
        (conflict,) = service.list_conflicts(session, mp_app.workspace_id)
        dismissed = service.dismiss_conflict(session, staff(mp_app.workspace_id), conflict.id)
    assert dismissed.status == ConflictStatus.dismissed
    with db.session_scope() as session:
        assert session.scalars(select(Member.status)).all() == [MemberStatus.active] * 2


def set_created(db: Database, member_id: int, created_at: datetime) -> None:
    with db.session_scope() as session:
        row = session.get(Member, member_id)
        assert row is not None
        row.created_at = created_at


def created_of(db: Database, workspace_id: int, member_id: int) -> datetime:
    with db.session_scope() as session:
        return service.get_member(session, workspace_id, member_id).created_at


def test_survivor_takes_the_earlier_created_at_and_undo_restores_its_own(
    db: Database, mp_app: AppRead, pair: tuple[ResolvedMember, ResolvedMember]
) -> None:
    # given a survivor created after the member merged into it
    a, b = pair
    own = datetime(2026, 11, 20, 9, 30, 15, 123456, tzinfo=UTC)
    earlier = datetime(2026, 10, 3, 7, 0, tzinfo=UTC)
    set_created(db, a.id, own)
    set_created(db, b.id, earlier)
    workspace_id = mp_app.workspace_id
    # when staff merge b into a
    with db.session_scope() as session:
        record = service.merge_members(session, staff(workspace_id), a.id, b.id)
    # then the survivor's 创建时间 is the earlier of the two; the merged member keeps its own
    assert created_of(db, workspace_id, a.id) == earlier
    assert created_of(db, workspace_id, b.id) == earlier
    # when the same merge is requested again, then it is refused and the date does not move
    with pytest.raises(Conflict) as caught, db.session_scope() as session:
        service.merge_members(session, staff(workspace_id), a.id, b.id)
    assert caught.value.code == "identity.member_merged"
    assert created_of(db, workspace_id, a.id) == earlier
    # when the merge is undone, then the survivor's own created_at comes back exactly
    with db.session_scope() as session:
        service.undo_merge(session, staff(workspace_id), record.id)
    assert created_of(db, workspace_id, a.id) == own
    assert created_of(db, workspace_id, b.id) == earlier


def test_an_older_survivor_keeps_its_created_at(
    db: Database, mp_app: AppRead, pair: tuple[ResolvedMember, ResolvedMember]
) -> None:
    # given a survivor created before the member merged into it
    a, b = pair
    own = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)
    set_created(db, a.id, own)
    set_created(db, b.id, datetime(2026, 11, 2, 8, 0, tzinfo=UTC))
    # when staff merge b into a, then the survivor's date stays its own
    with db.session_scope() as session:
        service.merge_members(session, staff(mp_app.workspace_id), a.id, b.id)
    assert created_of(db, mp_app.workspace_id, a.id) == own
