"""Article reuse and the MP → OA follow conversion: OA articles registered once, opened from the
Mini Program with attribution (counted once per open), reported with their conversions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from siyu.core.clock import FrozenClock
from siyu.core.db import Database
from siyu.entries.models import Article
from siyu.identity import service as identity
from siyu.identity.models import TimelineEvent
from siyu.sandbox.world import SandboxWorld
from siyu.workspaces.schemas import AppRead
from tests.support.names import MP_APPID, OA_APPID

pytestmark = pytest.mark.usefixtures("oa_app", "mp_app")
ARTICLE = "https://mp.weixin.qq.com/s/AbCdEf123"


def linked(api: TestClient) -> None:
    made = api.post("/api/entries/associations", json={"oa_appid": OA_APPID, "mp_appid": MP_APPID})
    done = api.post(
        f"/api/entries/associations/{made.json()['id']}/status", json={"status": "linked"}
    )
    assert done.json()["status"] == "linked"


def article(api: TestClient, url: str = ARTICLE, title: str = "21 天打卡攻略") -> dict[str, object]:
    answer = api.post(
        "/api/entries/articles", json={"oa_appid": OA_APPID, "title": title, "url": url}
    )
    assert answer.status_code == 201, answer.text
    result: dict[str, object] = answer.json()
    return result


def mp_session(app_client: TestClient, world: SandboxWorld) -> tuple[dict[str, str], str]:
    """A logged-in Mini Program user: the bearer header and the user's MP openid."""
    user = world.create_users(1)[0]
    login = app_client.post(
        f"/api/mp/{MP_APPID}/session", json={"code": world.issue_code(user, MP_APPID, "login")}
    )
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['token']}"}, world.openid(user, MP_APPID)


def page_views(db: Database) -> int:
    with db.session_scope() as session:
        query = select(func.count()).where(TimelineEvent.name == "mp.page_view")
        return session.scalar(query) or 0


def test_an_article_opened_from_the_mini_program_is_attributed_once_and_reported(
    manager: TestClient,
    app_client: TestClient,
    db: Database,
    workspace_id: int,
    world: SandboxWorld,
    frozen_clock: FrozenClock,
) -> None:
    # given an OA article, the OA linked to the Mini Program, and a logged-in MP user
    linked(manager)
    made = article(manager)
    assert made["query"] == f"from=article&id={made['id']}"
    bearer, _ = mp_session(app_client, world)
    # the Mini Program lists it
    listed = app_client.get(f"/api/mp/{MP_APPID}/articles", headers=bearer).json()
    assert [(a["id"], a["url"]) for a in listed] == [(made["id"], ARTICLE)]
    # when the user opens it, and the client retries the call with the same open_id
    url = f"/api/mp/{MP_APPID}/articles/{made['id']}/open"
    first = app_client.post(url, json={"open_id": "o-1"}, headers=bearer).json()
    again = app_client.post(url, json={"open_id": "o-1"}, headers=bearer).json()
    # then one attributed page view is on the timeline
    assert (first["recorded"], again["recorded"]) == (True, False)
    assert page_views(db) == 1
    # and later, a double tap without open_id counts once; later still, again
    for _ in range(2):
        frozen_clock.advance(timedelta(minutes=2))
        app_client.post(url, headers=bearer)
        app_client.post(url, headers=bearer)
    assert page_views(db) == 3
    # and when the member pays afterwards, the report shows the opens and the conversion
    with db.session_scope() as session:
        member_id = session.scalars(select(TimelineEvent.member_id)).first()
        assert member_id is not None
        identity.record_event(session, workspace_id, member_id, "pay.paid", frozen_clock.now())
    [row] = manager.get("/api/entries/reports/articles").json()
    assert (row["opens"], row["members"], row["conversions"]) == (3, 1, 1)


def test_bad_articles_and_opens_are_refused_and_write_nothing(
    manager: TestClient, app_client: TestClient, db: Database, world: SandboxWorld
) -> None:
    # an article that is not an OA article's link, and one registered twice
    foreign = manager.post(
        "/api/entries/articles",
        json={"oa_appid": OA_APPID, "title": "外链", "url": "https://example.com/a"},
    )
    assert (foreign.status_code, foreign.json()["code"]) == (422, "request.invalid")
    made = article(manager)
    twice = manager.post(
        "/api/entries/articles", json={"oa_appid": OA_APPID, "title": "又一次", "url": ARTICLE}
    )
    assert (twice.status_code, twice.json()["code"]) == (409, "entries.article_exists")
    with db.session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Article)) == 1
    # an MP whose OA is not linked neither lists nor opens it; an unknown article is a 404
    bearer, _ = mp_session(app_client, world)
    assert app_client.get(f"/api/mp/{MP_APPID}/articles", headers=bearer).json() == []
    closed = app_client.post(f"/api/mp/{MP_APPID}/articles/{made['id']}/open", headers=bearer)
    assert (closed.status_code, closed.json()["code"]) == (409, "entries.article_oa_not_linked")
    unknown = app_client.post(f"/api/mp/{MP_APPID}/articles/999999/open", headers=bearer)
    assert (unknown.status_code, unknown.json()["code"]) == (404, "entries.article_not_found")
    # and without a session, nothing
    anonymous = app_client.post(f"/api/mp/{MP_APPID}/articles/{made['id']}/open")
    assert anonymous.status_code == 401
    assert page_views(db) == 0


def test_the_follow_conversion_counts_mp_members_who_then_followed_the_oa(
    manager: TestClient,
    app_client: TestClient,
    db: Database,
    workspace_id: int,
    oa_app: AppRead,
    world: SandboxWorld,
    frozen_clock: FrozenClock,
) -> None:
    # given the apps linked; one member followed the OA before using the Mini Program
    linked(manager)
    openids = [mp_session(app_client, world)[1] for _ in range(3)]
    with db.session_scope() as session:
        members = [identity.search_members(session, workspace_id, openid=o)[0].id for o in openids]
        before = frozen_clock.now() - timedelta(days=3)
        identity.record_event(
            session, workspace_id, members[2], "oa.subscribe", before, app_id=oa_app.id
        )
        # when another follows the OA after their visit (WeChat's UnionID joined the two)
        after = frozen_clock.now() + timedelta(hours=1)
        identity.record_event(
            session, workspace_id, members[0], "oa.subscribe", after, app_id=oa_app.id
        )
    # then the pair's conversion is one of three
    [pair] = manager.get("/api/entries/reports/follow-conversion").json()
    assert (pair["mp_appid"], pair["oa_appid"]) == (MP_APPID, OA_APPID)
    assert (pair["mp_members"], pair["followed_after"], pair["rate"]) == (3, 1, 0.3333)
