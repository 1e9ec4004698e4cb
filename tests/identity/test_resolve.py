"""resolve(app, openid, unionid, phone): one member per person, created or linked by evidence."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, text, update

from siyu.core.db import Database
from siyu.core.errors import Conflict, Invalid
from siyu.identity import service
from siyu.identity.enums import ConflictStatus, MemberStatus
from siyu.identity.models import Identity, Member, MemberMerge, MergeConflict, TimelineEvent
from siyu.identity.schemas import PersonRef
from siyu.workspaces.models import Workspace
from siyu.workspaces.schemas import AppRead
from tests.support.names import openid

TS = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def resolve(db: Database, app: AppRead, **person: str | None):  # type: ignore[no-untyped-def]
    with db.session_scope() as session:
        return service.resolve_member(session, app, PersonRef(appid=app.appid, **person))


def count(db: Database, model: type) -> int:
    with db.session_scope() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_first_login_creates_member_10001(db: Database, mp_app: AppRead) -> None:
    first = resolve(db, mp_app, openid=openid(1))
    second = resolve(db, mp_app, openid=openid(2))
    assert (first.number, first.created) == (10001, True)
    assert (second.number, second.created) == (10002, True)


def test_same_openid_twice_is_one_member(db: Database, mp_app: AppRead) -> None:
    first = resolve(db, mp_app, openid=openid(1), unionid=openid(9, "u"))
    again = resolve(db, mp_app, openid=openid(1), unionid=openid(9, "u"))
    assert again.id == first.id
    assert again.created is False
    assert count(db, Member) == 1
    assert count(db, Identity) == 2


def test_openid_seen_without_unionid_later_gains_it(db: Database, mp_app: AppRead) -> None:
    before = resolve(db, mp_app, openid=openid(1))
    after = resolve(db, mp_app, openid=openid(1), unionid=openid(9, "u"))
    assert after.id == before.id
    assert after.merged_ids == []
    with db.session_scope() as session:
        member = service.get_member(session, mp_app.workspace_id, after.id)
    assert {(i.kind, i.value) for i in member.identities} == {
        ("openid", openid(1)),
        ("unionid", openid(9, "u")),
    }


def test_openid_without_unionid_joins_the_unionids_member(
    db: Database, mp_app: AppRead, oa_app: AppRead
) -> None:
    # given an MP member known by UnionID, and an OA follower seen without one
    mp_member = resolve(db, mp_app, openid=openid(1), unionid=openid(9, "u"))
    oa_member = resolve(db, oa_app, openid=openid(2))
    with db.session_scope() as session:
        service.record_event(
            session, oa_app.workspace_id, oa_member.id, "oa.subscribe", TS, app_id=oa_app.id
        )
    assert oa_member.id != mp_member.id
    # when the OA openid is later seen with the UnionID
    joined = resolve(db, oa_app, openid=openid(2), unionid=openid(9, "u"))
    # then it joins the UnionID's member, taking its identities and events along
    assert joined.id == mp_member.id
    assert joined.merged_ids == [oa_member.id]
    with db.session_scope() as session:
        merged = session.get(Member, oa_member.id)
        assert merged is not None
        assert merged.status == MemberStatus.merged
        assert merged.merged_into_id == mp_member.id
        assert session.scalar(select(TimelineEvent.member_id)) == mp_member.id
        assert session.scalar(select(MemberMerge.reason)) == "unionid"
        owners = set(session.scalars(select(Identity.member_id)))
    assert owners == {mp_member.id}


def test_openids_of_two_apps_with_one_unionid_are_one_member(
    db: Database, mp_app: AppRead, oa_app: AppRead
) -> None:
    mp_member = resolve(db, mp_app, openid=openid(1), unionid=openid(9, "u"))
    oa_member = resolve(db, oa_app, openid=openid(2), unionid=openid(9, "u"))
    assert oa_member.id == mp_member.id
    assert count(db, Member) == 1


def test_binding_a_phone_joins_oa_only_and_mp_only_members(
    db: Database, mp_app: AppRead, oa_app: AppRead
) -> None:
    # given an OA-only member whose phone we know, and an MP-only member
    oa_member = resolve(db, oa_app, openid=openid(1), phone="13800000000")
    mp_member = resolve(db, mp_app, openid=openid(2))
    # when the MP member binds the same phone
    with db.session_scope() as session:
        bound = service.bind_phone(session, mp_app.workspace_id, mp_member.id, "+8613800000000")
    # then the older member survives with both openids and the merge is recorded
    assert bound.id == oa_member.id
    assert bound.merged_ids == [mp_member.id]
    with db.session_scope() as session:
        member = service.get_member(session, oa_app.workspace_id, oa_member.id)
        record = session.scalars(select(MemberMerge)).one()
    assert {i.value for i in member.identities if i.kind == "openid"} == {openid(1), openid(2)}
    assert record.reason == "phone"
    assert "13800000000" not in str(record.evidence)


def test_phone_on_a_new_openid_links_to_the_phones_member(
    db: Database, mp_app: AppRead, oa_app: AppRead
) -> None:
    known = resolve(db, oa_app, openid=openid(1), phone="13800000000")
    linked = resolve(db, mp_app, openid=openid(2), phone="138 0000 0000")
    assert linked.id == known.id
    assert linked.created is False
    assert count(db, Member) == 1
    assert count(db, MemberMerge) == 0


def test_unionid_member_survives_a_phone_merge(
    db: Database, mp_app: AppRead, oa_app: AppRead
) -> None:
    older = resolve(db, oa_app, openid=openid(1), phone="13800000000")
    newer = resolve(db, mp_app, openid=openid(2), unionid=openid(9, "u"))
    with db.session_scope() as session:
        bound = service.bind_phone(session, mp_app.workspace_id, newer.id, "13800000000")
    assert bound.id == newer.id
    assert bound.merged_ids == [older.id]


def test_same_phone_on_two_unionids_goes_to_review(
    db: Database, mp_app: AppRead, oa_app: AppRead
) -> None:
    # given two members with different UnionIDs
    a = resolve(db, mp_app, openid=openid(1), unionid=openid(8, "u"), phone="13800000000")
    b = resolve(db, oa_app, openid=openid(2), unionid=openid(9, "u"))
    # when the second one presents the first one's phone
    again = resolve(db, oa_app, openid=openid(2), unionid=openid(9, "u"), phone="13800000000")
    # then nothing merges and the pair lands on the review list once
    assert again.id == b.id
    assert again.merged_ids == []
    resolve(db, oa_app, openid=openid(2), unionid=openid(9, "u"), phone="13800000000")
    with db.session_scope() as session:
        conflicts = service.list_conflicts(session, mp_app.workspace_id)
        assert session.scalar(select(func.count()).select_from(MemberMerge)) == 0
    assert [(c.member_a_id, c.member_b_id, c.reason) for c in conflicts] == [
        (a.id, b.id, "phone_on_two_unionids")
    ]
    assert conflicts[0].status == ConflictStatus.open


def test_new_person_with_a_phone_of_another_unionid_is_a_new_member(
    db: Database, mp_app: AppRead
) -> None:
    a = resolve(db, mp_app, openid=openid(1), unionid=openid(8, "u"), phone="13800000000")
    b = resolve(db, mp_app, openid=openid(2), unionid=openid(9, "u"), phone="13800000000")
    assert b.id != a.id
    assert b.created is True
    assert count(db, MergeConflict) == 1


def test_openid_claiming_a_second_unionid_is_refused(db: Database, mp_app: AppRead) -> None:
    resolve(db, mp_app, openid=openid(1), unionid=openid(8, "u"))
    with pytest.raises(Conflict) as caught:
        resolve(db, mp_app, openid=openid(1), unionid=openid(9, "u"))
    assert caught.value.code == "identity.unionid_mismatch"
    assert count(db, Identity) == 2


def test_member_numbers_are_never_reused(db: Database, mp_app: AppRead, oa_app: AppRead) -> None:
    first = resolve(db, oa_app, openid=openid(1))
    resolve(db, mp_app, openid=openid(2), unionid=openid(9, "u"))
    resolve(db, oa_app, openid=openid(1), unionid=openid(9, "u"))  # merges 10001 away
    third = resolve(db, mp_app, openid=openid(3))
    assert first.number == 10001
    assert third.number == 10003
    with db.session_scope() as session:
        merged = service.get_member_by_number(session, mp_app.workspace_id, 10001)
    assert merged.status == MemberStatus.merged


def test_numbers_grow_past_five_digits(db: Database, mp_app: AppRead) -> None:
    with db.session_scope() as session:
        session.execute(update(Workspace).values(next_member_number=99999))
    assert resolve(db, mp_app, openid=openid(1)).number == 99999
    assert resolve(db, mp_app, openid=openid(2)).number == 100000


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("openid", "has space in it"),
        ("openid", "short"),
        ("openid", "x" * 65),
        ("unionid", "bad/char-unionid-xxxxxxxxxx"),
        ("phone", "12345"),
        ("phone", "+0861380000000"),
        ("phone", "23800000000"),
    ],
)
def test_malformed_identifiers_are_refused_and_nothing_written(
    db: Database, mp_app: AppRead, field: str, value: str
) -> None:
    person = {"openid": openid(1), field: value}
    with pytest.raises(Invalid) as caught, db.session_scope() as session:
        service.resolve(session, mp_app, **person)
    assert caught.value.code == "identity.invalid_person"
    assert field in caught.value.message
    assert count(db, Member) == 0


def test_phone_is_stored_encrypted_with_a_hash_for_lookup(db: Database, mp_app: AppRead) -> None:
    resolve(db, mp_app, openid=openid(1), phone="13800000000")
    with db.engine.connect() as conn:
        value, secret = conn.execute(
            text("SELECT value, secret FROM identities WHERE kind = 'phone'")
        ).one()
    assert "13800000000" not in value
    assert "13800000000" not in secret
    assert value == service.phone_hash("+8613800000000")


def test_external_id_identifies_a_web_user(db: Database, mp_app: AppRead) -> None:
    first = resolve(db, mp_app, openid=openid(1), external_id="shop-user-42")
    with db.session_scope() as session:
        found = service.search_members(session, mp_app.workspace_id, external_id="shop-user-42")
    assert [m.id for m in found] == [first.id]


def test_member_from_history_is_dated_by_its_first_event(
    db: Database, mp_app: AppRead, frozen_clock: object
) -> None:
    with db.session_scope() as session:
        old = service.resolve_member(
            session, mp_app, PersonRef(appid=mp_app.appid, openid=openid(1)), seen_at=TS
        )
        live = service.resolve_member(
            session, mp_app, PersonRef(appid=mp_app.appid, openid=openid(2))
        )
        future = service.resolve_member(
            session,
            mp_app,
            PersonRef(appid=mp_app.appid, openid=openid(3)),
            seen_at=datetime(2030, 1, 1, tzinfo=UTC),
        )
    with db.session_scope() as session:
        created = {m.id: m.created_at for m in session.scalars(select(Member))}
    assert created[old.id] == TS
    assert created[live.id] == created[future.id] == datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
