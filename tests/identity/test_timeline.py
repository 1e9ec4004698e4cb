"""Timeline paging, search, the overview, and atomic batch ingestion."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select

from siyu.core.clock import FrozenClock
from siyu.core.db import Database
from siyu.core.errors import Invalid, SiyuError
from siyu.identity import service
from siyu.identity.models import Member, TimelineEvent
from siyu.identity.schemas import PersonRef
from siyu.identity.service.importer import EventImport
from siyu.workspaces.schemas import AppRead
from tests.support.names import openid

T0 = datetime(2026, 11, 1, 0, 0, tzinfo=UTC)


def event(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "event": "mp.page_view",
        "ts": (T0 + timedelta(minutes=n)).isoformat(),
        "appid": "wx0123456789abcdef",
        "openid": openid(1),
        "props": {"page": f"pages/{n}"},
        **extra,
    }


def counts(db: Database) -> tuple[int, int]:
    with db.session_scope() as session:
        return (
            int(session.scalar(select(func.count()).select_from(Member)) or 0),
            int(session.scalar(select(func.count()).select_from(TimelineEvent)) or 0),
        )


def test_timeline_pages_newest_first_without_gaps(db: Database, mp_app: AppRead) -> None:
    with db.session_scope() as session:
        service.ingest_events(session, mp_app.workspace_id, [event(n) for n in range(25)])
        member = service.search_members(session, mp_app.workspace_id, openid=openid(1))[0]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        with db.session_scope() as session:
            page = service.get_timeline(
                session, mp_app.workspace_id, member.id, limit=10, cursor=cursor
            )
        seen += [item.props["page"] for item in page.items]
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert pages == 3
    assert seen == [f"pages/{n}" for n in reversed(range(25))]


def test_forged_cursor_is_refused(db: Database, mp_app: AppRead) -> None:
    with db.session_scope() as session:
        resolved = service.resolve(session, mp_app, openid(1))
    with pytest.raises(Invalid) as caught, db.session_scope() as session:
        service.get_timeline(session, mp_app.workspace_id, resolved.id, cursor="not-a-cursor")
    assert caught.value.code == "identity.invalid_cursor"


def test_batch_with_one_bad_event_writes_nothing(db: Database, mp_app: AppRead) -> None:
    batch = [
        event(0),
        event(1, ts="2026-11-01T08:00:00"),
        event(2, event="nope.nope"),
        event(3, appid="wxffffffffffffffff"),
        event(4, openid="o-x!"),
    ]
    with pytest.raises(Invalid) as caught, db.session_scope() as session:
        service.ingest_events(session, mp_app.workspace_id, batch)
    assert caught.value.code == "events.invalid_batch"
    errors = caught.value.data["errors"]
    assert [(e["line"], e["code"]) for e in errors] == [
        (1, "events.invalid"),
        (2, "events.invalid"),
        (3, "workspaces.unknown_app"),
        (4, "events.invalid"),
    ]
    assert "timezone" in errors[0]["reason"]
    # Names and ids are checked by pydantic's own code; the reasons still speak to a person.
    assert errors[1]["reason"] == (
        "event: unknown event 'nope.nope'; see the canonical events in the docs"
    )
    assert errors[3]["reason"] == "openid: must be 6–64 characters of letters, digits, '_' or '-'"
    assert counts(db) == (0, 0)


def test_oversized_batch_is_refused(db: Database, mp_app: AppRead) -> None:
    with pytest.raises(SiyuError) as caught, db.session_scope() as session:
        service.ingest_events(session, mp_app.workspace_id, [event(n) for n in range(1001)])
    assert (caught.value.status, caught.value.code) == (413, "events.batch_too_large")
    assert counts(db) == (0, 0)


def test_event_far_in_the_future_is_refused(
    db: Database, mp_app: AppRead, frozen_clock: FrozenClock
) -> None:
    future = (frozen_clock.now() + timedelta(days=2)).isoformat()
    almost = (frozen_clock.now() + timedelta(hours=23)).isoformat()
    with pytest.raises(Invalid) as caught, db.session_scope() as session:
        service.ingest_events(
            session, mp_app.workspace_id, [event(0, ts=almost), event(1, ts=future)]
        )
    assert [e["line"] for e in caught.value.data["errors"]] == [1]
    assert "more than a day in the future" in caught.value.data["errors"][0]["reason"]
    assert counts(db) == (0, 0)


def test_oversized_props_are_refused(db: Database, mp_app: AppRead) -> None:
    with pytest.raises(Invalid) as caught, db.session_scope() as session:
        service.ingest_events(
            session, mp_app.workspace_id, [event(0, props={"blob": "x" * 20_000})]
        )
    assert "props exceed" in caught.value.data["errors"][0]["reason"]
    assert counts(db) == (0, 0)


def test_a_number_beyond_64_bits_in_props_is_refused_not_a_crash(
    db: Database, mp_app: AppRead
) -> None:
    # given an import line whose props hold an integer JSON allows but storage cannot
    line = orjson.dumps(event(0, props={})).replace(
        b'"props":{}', b'"props":{"n":123456789012345678901234567890}'
    )
    importer = EventImport(mp_app.workspace_id)
    # when it is imported beside a good line
    with db.session_scope() as session:
        report = importer.import_chunk(session, [(1, line), (2, orjson.dumps(event(1)))])
    # then that line is rejected with the reason, and the other one kept
    assert [(r.line, r.code) for r in report.rejected] == [(1, "events.invalid")]
    assert "64-bit" in report.rejected[0].reason
    assert counts(db) == (1, 1)


def test_search_by_every_identity(db: Database, mp_app: AppRead) -> None:
    with db.session_scope() as session:
        person = PersonRef(
            appid=mp_app.appid,
            openid=openid(1),
            unionid=openid(9, "u"),
            phone="+8613912345678",
            external_id="crm-7",
        )
        member = service.resolve_member(session, mp_app, person)
        service.resolve_member(session, mp_app, PersonRef(appid=mp_app.appid, openid=openid(2)))
    ws = mp_app.workspace_id
    with db.session_scope() as session:
        found = {
            "phone": service.search_members(session, ws, phone="139 1234 5678"),
            "openid": service.search_members(session, ws, openid=openid(1)),
            "unionid": service.search_members(session, ws, unionid=openid(9, "u")),
            "external": service.search_members(session, ws, external_id="crm-7"),
            "number": service.search_members(session, ws, number=member.number),
            "q-number": service.search_members(session, ws, query=str(member.number)),
            "q-phone": service.search_members(session, ws, query="13912345678"),
            "q-openid": service.search_members(session, ws, query=openid(1)),
        }
        nobody = service.search_members(session, ws, phone="13900000000")
    assert {k: [m.id for m in v] for k, v in found.items()} == {key: [member.id] for key in found}
    assert nobody == []
    assert found["phone"][0].identities[-1].phone is None  # search never reveals the number
    assert found["phone"][0].identities[-1].phone_masked == "139****5678"


def test_overview_counts_days_in_shanghai(
    db: Database, mp_app: AppRead, frozen_clock: FrozenClock
) -> None:
    # 2026-11-20 02:00 UTC is 10:00 in Shanghai; 2026-11-19 17:00 UTC is already the 20th there
    with db.session_scope() as session:
        service.ingest_events(
            session,
            mp_app.workspace_id,
            [
                event(0, ts="2026-11-19T17:00:00+00:00"),
                event(1, ts="2026-11-19T15:00:00+00:00"),
            ],
        )
        overview = service.overview(session, mp_app.workspace_id, "Asia/Shanghai")
    assert overview.members == 1
    assert overview.new_today == 1
    assert overview.events_today == 1
    assert len(overview.days) == 30
    assert overview.days[-1].day == "2026-11-20"
    assert overview.days[-2].events == 1
