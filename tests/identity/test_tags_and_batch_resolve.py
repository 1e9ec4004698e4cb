"""Member tags and the batch resolve API."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from siyu.core.db import Database
from siyu.identity import service
from siyu.identity.models import Member, MemberTag
from siyu.identity.schemas import PersonRef
from siyu.security.models import AuditEntry
from siyu.workspaces.schemas import AppRead
from tests.support.names import MP_APPID, openid


def _member(db: Database, app: AppRead, n: int) -> int:
    with db.session_scope() as session:
        return service.resolve_member(session, app, PersonRef(appid=MP_APPID, openid=openid(n))).id


def _count(db: Database, model: type) -> int:
    with db.session_scope() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_a_tag_put_twice_is_one_tag(api: TestClient, db: Database, mp_app: AppRead) -> None:
    member_id = _member(db, mp_app, 1)
    for _ in range(2):  # a double click
        response = api.post(f"/api/members/{member_id}/tags", json={"tag": "黑名单"})
        assert response.status_code == 200
    assert response.json() == {"member_id": member_id, "tags": ["黑名单"]}
    assert _count(db, MemberTag) == 1
    assert api.get("/api/tags").json() == {"黑名单": 1}
    with db.session_scope() as session:
        actions = session.scalars(select(AuditEntry.action)).all()
    assert actions.count("member.tagged") == 2


def test_a_tag_comes_off(api: TestClient, db: Database, mp_app: AppRead) -> None:
    member_id = _member(db, mp_app, 1)
    api.post(f"/api/members/{member_id}/tags", json={"tag": "vip"})
    response = api.delete(f"/api/members/{member_id}/tags/vip")
    assert response.json()["tags"] == []
    assert _count(db, MemberTag) == 0


def test_a_malformed_tag_or_unknown_member_changes_nothing(
    api: TestClient, db: Database, mp_app: AppRead
) -> None:
    member_id = _member(db, mp_app, 1)
    assert api.post(f"/api/members/{member_id}/tags", json={"tag": "a\nb"}).json()["code"] == (
        "identity.invalid_tag"
    )
    assert api.post(f"/api/members/{member_id}/tags", json={"tag": "x" * 65}).status_code == 422
    assert api.post("/api/members/999999/tags", json={"tag": "vip"}).status_code == 404
    assert _count(db, MemberTag) == 0


def test_a_merge_keeps_the_tags_of_both(api: TestClient, db: Database, mp_app: AppRead) -> None:
    # given two members, each tagged
    a, b = _member(db, mp_app, 1), _member(db, mp_app, 2)
    api.post(f"/api/members/{a}/tags", json={"tag": "vip"})
    api.post(f"/api/members/{b}/tags", json={"tag": "黑名单"})
    # when staff merge b into a
    assert api.post(f"/api/members/{a}/merge", json={"merged_member_id": b}).status_code == 201
    # then the survivor carries both tags, and tagging the merged id reaches the survivor
    with db.session_scope() as session:
        assert service.member_tags(session, a) == ["vip", "黑名单"]
        assert service.members_with_tag(session, mp_app.workspace_id, "黑名单") == [a, b]
    response = api.post(f"/api/members/{b}/tags", json={"tag": "new"})
    assert response.status_code == 200
    with db.session_scope() as session:
        assert "new" in service.member_tags(session, a)


def test_resolve_a_batch_of_people(api: TestClient, db: Database, mp_app: AppRead) -> None:
    people = [{"openid": openid(n), "unionid": openid(n, "u")} for n in range(1, 4)]
    people.append({"openid": openid(1)})  # the first person again
    response = api.post("/api/members/resolve", json={"appid": MP_APPID, "people": people})
    assert response.status_code == 200
    body = response.json()
    assert [r["number"] for r in body] == [10001, 10002, 10003, 10001]
    assert [r["created"] for r in body] == [True, True, True, False]
    assert _count(db, Member) == 3


def test_a_batch_with_a_malformed_person_writes_nothing(
    api: TestClient, db: Database, mp_app: AppRead
) -> None:
    people = [{"openid": openid(1)}, {"openid": "bad id!"}]
    response = api.post("/api/members/resolve", json={"appid": MP_APPID, "people": people})
    assert response.status_code == 422
    assert response.json()["code"] == "identity.invalid_batch"
    assert [e["line"] for e in response.json()["data"]["errors"]] == [1]
    assert _count(db, Member) == 0


def test_a_batch_for_an_unknown_app_is_a_404(api: TestClient, db: Database) -> None:
    response = api.post(
        "/api/members/resolve",
        json={"appid": "wx9999999999999999", "people": [{"openid": openid(1)}]},
    )
    assert response.status_code == 404
    assert _count(db, Member) == 0


def test_a_tag_with_a_control_character_is_refused_and_changes_nothing(
    api: TestClient, db: Database, mp_app: AppRead
) -> None:
    # Given a member
    member_id = _member(db, mp_app, 1)
    # When tags carrying NUL, an escape, DEL or a lone surrogate are put on or taken off
    for tag in ("vip\x00", "a\x1bb", "\x7f"):
        put = api.post(
            f"/api/members/{member_id}/tags",
            content=json.dumps({"tag": tag}),  # escaped: \u0000, \ud800
            headers={"Content-Type": "application/json"},
        )
        # Then each is refused with the tag's code, and no tag nor audit entry is written
        assert (put.status_code, put.json()["code"]) == (422, "identity.invalid_tag"), tag
    surrogate = api.post(
        f"/api/members/{member_id}/tags",
        content=json.dumps({"tag": "a\ud800b"}),
        headers={"Content-Type": "application/json"},
    )
    assert (surrogate.status_code, surrogate.json()["code"]) == (422, "request.invalid")
    gone = api.delete(f"/api/members/{member_id}/tags/vip%00")
    assert (gone.status_code, gone.json()["code"]) == (422, "identity.invalid_tag")
    assert _count(db, MemberTag) == 0
    assert _count(db, AuditEntry) == 0
    # while an emoji sequence (joined by U+200D, a format character) and Chinese are tags
    family = "👨\u200d👩\u200d👧 家长"
    assert api.post(f"/api/members/{member_id}/tags", json={"tag": family}).status_code == 200
    assert api.get("/api/tags").json() == {family: 1}
