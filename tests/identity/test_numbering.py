"""Members a batch makes are numbered just before commit, in the order they were made, as one
by one would number them; none keeps a provisional number, and concurrent batches of new
people neither deadlock nor share a number."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from siyu.core.db import Database
from siyu.core.errors import Invalid
from siyu.identity import service
from siyu.identity.models import Identity, Member
from siyu.identity.schemas import PersonRef
from siyu.workspaces.models import Workspace
from siyu.workspaces.schemas import AppRead
from tests.support.names import openid


def people(app: AppRead, whos: list[int]) -> list[PersonRef]:
    return [PersonRef(appid=app.appid, openid=openid(who)) for who in whos]


def numbers_by_openid(db: Database, workspace_id: int) -> dict[str, int]:
    with db.session_scope() as session:
        rows = session.execute(
            select(Identity.value, Member.number)
            .join(Member, Member.id == Identity.member_id)
            .where(Member.workspace_id == workspace_id)
        )
        return {str(row[0]): int(row[1]) for row in rows}


def next_number(db: Database, workspace_id: int) -> int:
    with db.session_scope() as session:
        return int(
            session.scalar(select(Workspace.next_member_number).where(Workspace.id == workspace_id))
            or 0
        )


def test_members_of_a_batch_are_numbered_at_commit_in_the_order_they_were_made(
    db: Database, oa_app: AppRead
) -> None:
    # given one member known already
    with db.session_scope() as session:
        known = service.resolve_member(session, oa_app, people(oa_app, [1])[0])
    # when a batch naming new people (one twice) and the known one is resolved for commit
    with db.session_scope() as session:
        resolved = service.resolve_member_ids(session, oa_app, people(oa_app, [3, 1, 2, 3]))
        # then, before commit, the new ones hold no real number and the counter is untouched
        provisional = session.scalars(
            select(Member.number).where(Member.number < 0).order_by(Member.id)
        ).all()
        assert len(provisional) == 2
        assert session.scalar(select(Workspace.next_member_number)) == known.number + 1
    # and after commit they carry the next numbers, in the order each first appeared
    assert [created for _, created in resolved] == [True, False, True, False]
    assert numbers_by_openid(db, oa_app.workspace_id) == {
        openid(1): known.number,
        openid(3): known.number + 1,
        openid(2): known.number + 2,
    }
    assert next_number(db, oa_app.workspace_id) == known.number + 3


def test_a_member_made_one_by_one_after_a_batch_comes_after_it(
    db: Database, oa_app: AppRead
) -> None:
    # given a batch's new members waiting for their numbers in a transaction
    with db.session_scope() as session:
        service.resolve_member_ids(session, oa_app, people(oa_app, [1, 2]))
        # when the same transaction makes a member one by one
        single = service.resolve_member(session, oa_app, people(oa_app, [3])[0])
        # then the batch's were numbered first, as they were made first
        assert single.number == 10003
    assert numbers_by_openid(db, oa_app.workspace_id) == {
        openid(1): 10001,
        openid(2): 10002,
        openid(3): 10003,
    }


def test_members_of_a_rolled_back_savepoint_take_no_number(db: Database, oa_app: AppRead) -> None:
    # given a batch resolved in a savepoint that is then rolled back
    with db.session_scope() as session:
        savepoint = session.begin_nested()
        service.resolve_member_ids(session, oa_app, people(oa_app, [1, 2]))
        savepoint.rollback()
        # when another batch is resolved and the transaction commits
        service.resolve_member_ids(session, oa_app, people(oa_app, [3]))
    # then only the member that exists was numbered, with the first number: none lost
    assert numbers_by_openid(db, oa_app.workspace_id) == {openid(3): 10001}
    assert next_number(db, oa_app.workspace_id) == 10002


def test_resolve_members_still_answers_with_real_numbers(db: Database, oa_app: AppRead) -> None:
    # when a batch is resolved the ordinary way (the API's)
    with db.session_scope() as session:
        resolved = service.resolve_members(session, oa_app, people(oa_app, [1, 2]))
    # then the answer carries each member's number, taken at once
    assert [(m.number, m.created) for m in resolved] == [(10001, True), (10002, True)]
    assert numbers_by_openid(db, oa_app.workspace_id) == {openid(1): 10001, openid(2): 10002}


@pytest.mark.postgres_only
def test_concurrent_batches_of_overlapping_new_people_number_each_once(
    db: Database, oa_app: AppRead
) -> None:
    # given eight batches sharing most of their new people, released together
    batches = [[(i * 7 + j) % 60 for j in range(40)] for i in range(8)]
    barrier = threading.Barrier(len(batches))

    def run(whos: list[int]) -> list[tuple[int, bool]]:
        barrier.wait()
        with db.session_scope() as session:
            return service.resolve_member_ids(session, oa_app, people(oa_app, whos))

    # when each commits its own transaction at the same time as the others
    with ThreadPoolExecutor(len(batches)) as pool:
        results = list(pool.map(run, batches))
    # then every person is one member, made by exactly one batch, with one number each:
    # consecutive from the first, none provisional, none skipped
    by_openid = numbers_by_openid(db, oa_app.workspace_id)
    everyone = {who for whos in batches for who in whos}
    assert set(by_openid) == {openid(who) for who in everyone}
    assert sorted(by_openid.values()) == list(range(10001, 10001 + len(everyone)))
    assert next_number(db, oa_app.workspace_id) == 10001 + len(everyone)
    made = [
        who
        for whos, resolved in zip(batches, results, strict=True)
        for who, (_, created) in zip(whos, resolved, strict=True)
        if created
    ]
    assert sorted(made) == sorted(everyone)
    with db.session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Member)) == len(everyone)


def test_a_refused_batch_for_commit_raises_and_its_transaction_leaves_nothing(
    db: Database, oa_app: AppRead
) -> None:
    # given a member known with a UnionID
    with db.session_scope() as session:
        service.resolve_member(
            session, oa_app, PersonRef(appid=oa_app.appid, openid=openid(1), unionid=openid(1, "u"))
        )
    # when a batch for commit names it with another UnionID, beside a new person
    batch = [
        PersonRef(appid=oa_app.appid, openid=openid(2)),
        PersonRef(appid=oa_app.appid, openid=openid(1), unionid=openid(9, "u")),
    ]
    with pytest.raises(Invalid) as refused, db.session_scope() as session:
        service.resolve_member_ids(session, oa_app, batch)
    # then it is refused as resolve_members refuses, and the rolled-back transaction made no
    # member and took no number
    assert refused.value.code == "identity.invalid_batch"
    assert refused.value.data["errors"][0]["code"] == "identity.unionid_mismatch"
    assert numbers_by_openid(db, oa_app.workspace_id) == {openid(1): 10001, openid(1, "u"): 10001}
    assert next_number(db, oa_app.workspace_id) == 10002
