"""The identity hub tells the rest of siyu what happened through the event bus."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from siyu.core.db import Database
from siyu.core.events import DomainEvent, bus
from siyu.identity import service
from siyu.identity.schemas import PersonRef
from siyu.workspaces.schemas import AppRead
from tests.support.names import openid


@pytest.fixture
def published() -> Iterator[list[DomainEvent]]:
    seen: list[DomainEvent] = []

    def handler(_session: Session, event: DomainEvent) -> None:
        seen.append(event)

    bus.subscribe(DomainEvent, handler)
    yield seen
    bus.unsubscribe(DomainEvent, handler)


def test_creation_and_merge_are_published(
    db: Database, mp_app: AppRead, oa_app: AppRead, published: list[DomainEvent]
) -> None:
    with db.session_scope() as session:
        mp = service.resolve_member(
            session, mp_app, PersonRef(appid=mp_app.appid, openid=openid(1), unionid=openid(9, "u"))
        )
        oa = service.resolve_member(
            session, oa_app, PersonRef(appid=oa_app.appid, openid=openid(2))
        )
        service.resolve_member(
            session, oa_app, PersonRef(appid=oa_app.appid, openid=openid(2), unionid=openid(9, "u"))
        )
    ws = mp_app.workspace_id
    assert published == [
        service.MemberCreated(ws, mp.id, 10001),
        service.MemberCreated(ws, oa.id, 10002),
        service.MembersMerged(ws, mp.id, oa.id, "unionid"),
    ]


def test_rejected_resolution_publishes_nothing_lasting(
    db: Database, mp_app: AppRead, published: list[DomainEvent]
) -> None:
    with db.session_scope() as session:
        service.resolve(session, mp_app, openid(1), unionid=openid(8, "u"))
    published.clear()
    with pytest.raises(Exception, match="another UnionID"), db.session_scope() as session:
        service.resolve(session, mp_app, openid(1), unionid=openid(9, "u"))
    assert published == []
