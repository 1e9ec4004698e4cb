"""The statements of the identity hub's hot paths, pinned: resolving a member (every push and
login does) and the console's member page, which must not grow with the member's history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from siyu.core import clock
from siyu.core.db import Database
from siyu.identity import service
from siyu.identity.enums import IdentityKind
from siyu.identity.models import Identity
from siyu.identity.schemas import PersonRef
from siyu.workspaces.schemas import AppRead
from tests.support.names import openid
from tests.support.queries import count_queries

TS = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def _person(app: AppRead, n: int) -> PersonRef:
    return PersonRef(appid=app.appid, openid=openid(n), unionid=openid(n, "u"))


def test_resolving_a_returning_member_reads_twice_and_writes_nothing(
    db: Database, mp_app: AppRead
) -> None:
    # given a member who logged in before
    with db.session_scope() as session:
        known = service.resolve_member(session, mp_app, _person(mp_app, 1))
    # when they come back
    with count_queries(db.engine) as sent, db.session_scope() as session:
        again = service.resolve_member(session, mp_app, _person(mp_app, 1))
    # then their identities are looked up in one query, the member read in a second
    assert again.id == known.id
    assert not again.created
    assert sent.count == 2, str(sent)
    assert sent.matching("insert") == sent.matching("update") == [], str(sent)


def test_resolving_a_first_time_member(db: Database, mp_app: AppRead) -> None:
    # when someone is seen for the first time (openid and UnionID)
    with count_queries(db.engine) as sent, db.session_scope() as session:
        created = service.resolve_member(session, mp_app, _person(mp_app, 1))
    # then: one lookup, a member number taken, the member inserted, both identities in one
    # INSERT (SQLite's driver sends one per row: it cannot return ids of a multi-row INSERT
    # in order), and the coupons' new-member gift looks for a gift template (one read)
    assert created.created
    identities = 1 if db.dialect == "postgresql" else 2
    assert len(sent.matching("insert into identities")) == identities, str(sent)
    assert sent.count == 4 + identities, str(sent)


def _member_with_history(db: Database, app: AppRead, n: int, size: int) -> int:
    """A member with `size` identities and `size` timeline events."""
    with db.session_scope() as session:
        member = service.resolve_member(
            session, app, PersonRef(appid=app.appid, external_id=f"crm-{n}")
        )
        session.add_all(
            Identity(
                workspace_id=app.workspace_id,
                member_id=member.id,
                kind=IdentityKind.openid,
                scope=app.appid,
                value=openid(n * 1000 + i),
                secret=None,
                created_at=clock.now(),
            )
            for i in range(size - 1)
        )
        for i in range(size):
            service.record_event(
                session,
                app.workspace_id,
                member.id,
                "mp.page_view",
                TS + timedelta(minutes=i),
                app_id=app.id,
                props={"page": "pages/index/index"},
            )
    return member.id


def test_the_member_page_costs_the_same_for_a_long_history(
    db: Database, mp_app: AppRead, api: TestClient
) -> None:
    # given a member with 3 identities and events, and one with 30
    small = _member_with_history(db, mp_app, 1, 3)
    large = _member_with_history(db, mp_app, 2, 30)
    api.get(f"/members/{small}")  # the first request loads what every request shares
    # when an operator opens each profile
    with count_queries(db.engine) as few:
        shown = api.get(f"/members/{small}")
    with count_queries(db.engine) as many:
        shown_large = api.get(f"/members/{large}")
    # then both pages are complete, and cost the same statements
    assert shown.status_code == shown_large.status_code == 200
    assert shown_large.text.count("mp.page_view") >= 30
    assert few.count == many.count, f"{few}\n---\n{many}"
