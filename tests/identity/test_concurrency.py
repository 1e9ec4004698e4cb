"""Simultaneous first logins never make two members (PostgreSQL, real concurrent connections)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import pytest
from sqlalchemy import func, select

from siyu.core.db import Database
from siyu.core.errors import Conflict
from siyu.identity import service
from siyu.identity.models import Identity, Member, MemberMerge
from siyu.identity.schemas import PersonRef
from siyu.security.enums import Role
from siyu.security.schemas import Principal
from siyu.workspaces.schemas import AppRead
from tests.support.names import openid

T = TypeVar("T")
THREADS = 8
pytestmark = pytest.mark.parametrize("backend_url", ["postgresql"], indirect=True)


def at_once(count: int, work: Callable[[int], T]) -> list[T | BaseException]:
    """Run `work(i)` in `count` threads released together by a barrier."""
    barrier = threading.Barrier(count)

    def run(i: int) -> T | BaseException:
        barrier.wait()
        try:
            return work(i)
        except Exception as exc:  # collected so the test can assert on it
            return exc

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def scalar(db: Database, query) -> int:  # type: ignore[no-untyped-def]
    with db.session_scope() as session:
        return int(session.scalar(query) or 0)


def test_simultaneous_first_logins_of_one_person_make_one_member(
    db: Database, mp_app: AppRead
) -> None:
    person = PersonRef(appid=mp_app.appid, openid=openid(1), unionid=openid(9, "u"))

    def login(_i: int) -> int:
        with db.session_scope() as session:
            return service.resolve_member(session, mp_app, person).id

    results = at_once(THREADS, login)
    assert all(isinstance(r, int) for r in results), results
    assert len(set(results)) == 1
    assert scalar(db, select(func.count()).select_from(Member)) == 1
    assert scalar(db, select(func.count()).select_from(Identity)) == 2


def test_one_person_on_two_apps_at_once_is_one_member(
    db: Database, mp_app: AppRead, oa_app: AppRead
) -> None:
    apps = [mp_app, oa_app] * (THREADS // 2)

    def login(i: int) -> int:
        app = apps[i]
        person = PersonRef(appid=app.appid, openid=openid(i % 2), unionid=openid(9, "u"))
        with db.session_scope() as session:
            return service.resolve_member(session, app, person).id

    results = at_once(THREADS, login)
    assert all(isinstance(r, int) for r in results), results
    assert (
        scalar(db, select(func.count()).select_from(Member).where(Member.status == "active")) == 1
    )
    assert scalar(db, select(func.count()).select_from(Identity)) == 3


def test_concurrent_new_members_get_distinct_consecutive_numbers(
    db: Database, mp_app: AppRead
) -> None:
    per_thread = 25

    def logins(i: int) -> list[int]:
        numbers = []
        for n in range(per_thread):
            with db.session_scope() as session:
                person = PersonRef(appid=mp_app.appid, openid=openid(i * 1000 + n))
                numbers.append(service.resolve_member(session, mp_app, person).number)
        return numbers

    results = at_once(THREADS, logins)
    numbers = sorted(n for r in results if isinstance(r, list) for n in r)
    assert numbers == list(range(10001, 10001 + THREADS * per_thread))


def test_two_staff_merging_the_same_pair_merge_once(db: Database, mp_app: AppRead) -> None:
    with db.session_scope() as session:
        a = service.resolve(session, mp_app, openid(1))
        b = service.resolve(session, mp_app, openid(2))

    staff = Principal(
        operator_id=1,
        workspace_id=mp_app.workspace_id,
        email="staff@example.com",
        name="staff",
        role=Role.admin,
        via="test",
    )

    def merge(_i: int) -> int:
        with db.session_scope() as session:
            return service.merge_members(session, staff, a.id, b.id).id

    results = at_once(2, merge)
    assert sum(isinstance(r, int) for r in results) == 1
    refused = [r for r in results if isinstance(r, Conflict)]
    assert [r.code for r in refused] == ["identity.member_merged"]
    assert scalar(db, select(func.count()).select_from(MemberMerge)) == 1
