"""Mini Program login and phone binding through the API, with WeChat played over real HTTP.

WeChat is the sandbox (siyu.sandbox): wx.login and phone codes that live 5 minutes and work once
(40029, 40163), UnionIDs for apps under one Open Platform account. WeChat's 45011 rate limit
cannot be asked of the sandbox, so that one test uses the scripted stand-in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import func, select, text

from siyu.api.app import create_app
from siyu.core.clock import FrozenClock
from siyu.core.config import Settings
from siyu.core.db import Database
from siyu.identity import service as identity
from siyu.identity.models import Identity, Member, TimelineEvent
from siyu.identity.schemas import PersonRef
from siyu.sandbox.world import SandboxWorld, SimUser
from siyu.security import service as security
from siyu.wechat.models import MpSession
from siyu.workspaces.schemas import AppRead
from tests.support.names import MP_APPID, OA_APPID, openid
from tests.support.standin import ScriptedWeChat

Clients = Callable[[str], AbstractContextManager[TestClient]]


@pytest.fixture
def clients(settings: Settings, db: Database, mp_app: AppRead, oa_app: AppRead) -> Clients:
    """Clients of the application whose WeChat is at the given URL."""

    @contextmanager
    def client_for(wechat_url: str) -> Iterator[TestClient]:
        app: FastAPI = create_app(settings.model_copy(update={"wechat_api_base": wechat_url}), db)
        with TestClient(app, base_url="http://testserver") as test_client:
            yield test_client
        gateway = getattr(app.state, "wechat_gateway", None)
        if gateway is not None:
            gateway.close()

    return client_for


@pytest.fixture
def client(clients: Clients, sandbox_url: str) -> Iterator[TestClient]:
    with clients(sandbox_url) as test_client:
        yield test_client


def login_code(world: SandboxWorld, user: SimUser) -> str:
    return world.issue_code(user, MP_APPID, "login")


def phone_code(world: SandboxWorld, user: SimUser) -> str:
    return world.issue_code(user, MP_APPID, "phone")


def counts(db: Database) -> dict[str, int]:
    with db.session_scope() as session:
        return {
            model.__name__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Member, Identity, TimelineEvent, MpSession)
        }


def log_in(client: TestClient, code: str, appid: str = MP_APPID) -> Response:
    return client.post(f"/api/mp/{appid}/session", json={"code": code})


def bind(client: TestClient, token: str | None, code: str) -> Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.post(f"/api/mp/{MP_APPID}/phone", json={"code": code}, headers=headers)


def _member(db: Database, workspace_id: int, number: int) -> list[tuple[str, str | None]]:
    with db.session_scope() as session:
        member = identity.get_member_by_number(session, workspace_id, number)
    return sorted((str(i.kind), i.value) for i in member.identities)


# --- login --------------------------------------------------------------------------------------


def test_first_login_makes_a_member_and_a_session(
    client: TestClient, db: Database, world: SandboxWorld, workspace_id: int
) -> None:
    # given a wx.login code of a user siyu has never seen
    user = world.create_users(1)[0]
    # when the Mini Program sends it
    answer = log_in(client, login_code(world, user))
    # then a new member (openid + UnionID), an mp.login event and a session exist;
    # the answer holds the token, shown this once
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"token", "member_number", "expires_at"}
    assert counts(db) == {"Member": 1, "Identity": 2, "TimelineEvent": 1, "MpSession": 1}
    with db.session_scope() as session:
        row = session.scalars(select(MpSession)).one()
        event = session.scalars(select(TimelineEvent)).one()
        raw_key = session.execute(text("SELECT session_key FROM mp_sessions")).scalar_one()
    assert row.token_hash == hashlib.sha256(body["token"].encode()).hexdigest()
    assert (event.name, event.app_id) == ("mp.login", row.app_id)
    # and the session_key WeChat gave is stored encrypted and never answered
    assert row.session_key == user.session_keys[MP_APPID]
    assert row.session_key not in raw_key
    assert row.session_key not in answer.text
    assert ("openid", world.openid(user, MP_APPID)) in _member(
        db, workspace_id, body["member_number"]
    )


def test_returning_user_logs_in_as_the_same_member(
    client: TestClient, db: Database, world: SandboxWorld
) -> None:
    user = world.create_users(1)[0]
    first = log_in(client, login_code(world, user)).json()
    second = log_in(client, login_code(world, user)).json()
    assert second["member_number"] == first["member_number"]
    assert second["token"] != first["token"]
    assert counts(db) == {"Member": 1, "Identity": 2, "TimelineEvent": 2, "MpSession": 2}


def test_unionid_joins_the_member_known_from_the_official_account(
    client: TestClient, db: Database, world: SandboxWorld, oa_app: AppRead, workspace_id: int
) -> None:
    # given a follower of the OA, known by their OA openid and UnionID
    user = world.create_users(1)[0]
    with db.session_scope() as session:
        follower = identity.resolve_member(
            session,
            oa_app,
            PersonRef(appid=OA_APPID, openid=world.openid(user, OA_APPID), unionid=user.unionid),
        )
    # when they open the Mini Program (another openid, the same UnionID)
    answer = log_in(client, login_code(world, user))
    # then they are that member, now with the MP openid too
    assert answer.json()["member_number"] == follower.number
    assert counts(db)["Member"] == 1
    assert ("openid", world.openid(user, MP_APPID)) in _member(db, workspace_id, follower.number)


def test_a_reused_code_is_refused_and_nothing_is_written(
    client: TestClient, db: Database, world: SandboxWorld
) -> None:
    code = login_code(world, world.create_users(1)[0])
    assert log_in(client, code).status_code == 200
    before = counts(db)
    answer = log_in(client, code)
    assert answer.status_code == 400
    assert answer.json()["code"] == "wechat.code_used"
    assert answer.json()["data"] == {"errcode": 40163}
    assert counts(db) == before


def test_an_expired_or_unknown_code_is_refused_and_nothing_is_written(
    client: TestClient, db: Database, world: SandboxWorld, frozen_clock: FrozenClock
) -> None:
    # given a code issued 5 minutes ago
    code = login_code(world, world.create_users(1)[0])
    frozen_clock.advance(timedelta(minutes=5))
    # when it is sent (or one WeChat never issued), then WeChat's 40029 becomes a clear 400
    for attempt in (code, "not-a-code"):
        answer = log_in(client, attempt)
        assert answer.status_code == 400
        assert answer.json()["code"] == "wechat.invalid_code"
    assert counts(db) == {"Member": 0, "Identity": 0, "TimelineEvent": 0, "MpSession": 0}


def test_login_is_only_for_known_mini_programs(client: TestClient, world: SandboxWorld) -> None:
    code = login_code(world, world.create_users(1)[0])
    not_mp = log_in(client, code, appid=OA_APPID)
    assert not_mp.status_code == 400
    assert not_mp.json()["code"] == "wechat.not_mini_program"
    unknown = log_in(client, code, appid="wx00000000000000ff")
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "workspaces.unknown_app"
    assert log_in(client, "").status_code == 422
    # these refusals never spent the code on WeChat
    assert log_in(client, code).status_code == 200


def test_wechat_rate_limit_is_a_429(
    clients: Clients, db: Database, standin: ScriptedWeChat, standin_url: str
) -> None:
    # the scripted stand-in: the sandbox does not rate-limit code2session on demand
    standin.answer_next("/sns/jscode2session", {"errcode": 45011, "errmsg": "api minute-quota"})
    with clients(standin_url) as client:
        answer = log_in(client, standin.issue_code(MP_APPID, openid(1)))
    assert answer.status_code == 429
    assert answer.json()["code"] == "wechat.rate_limited"
    assert counts(db)["MpSession"] == 0


# --- phone --------------------------------------------------------------------------------------


def test_phone_binding_merges_the_oa_only_member_with_the_mp_member(
    client: TestClient, db: Database, world: SandboxWorld, oa_app: AppRead, workspace_id: int
) -> None:
    # given an OA follower known by openid and phone only (no UnionID), and the same person
    # logged into the MP (openid + UnionID) as another member
    user = world.create_users(1)[0]
    oa_openid = world.openid(user, OA_APPID)
    with db.session_scope() as session:
        follower = identity.resolve_member(
            session, oa_app, PersonRef(appid=OA_APPID, openid=oa_openid, phone=user.phone)
        )
    login = log_in(client, login_code(world, user)).json()
    assert login["member_number"] != follower.number
    # when the MP sends the getPhoneNumber code
    answer = bind(client, login["token"], phone_code(world, user))
    # then the two are one member — the one holding the UnionID survives — with both openids
    assert answer.status_code == 200, answer.text
    masked = f"{user.phone[:3]}****{user.phone[-4:]}"
    assert answer.json() == {"member_number": login["member_number"], "phone_masked": masked}
    identities = _member(db, workspace_id, login["member_number"])
    assert ("openid", oa_openid) in identities
    assert ("openid", world.openid(user, MP_APPID)) in identities
    assert counts(db)["Member"] == 2  # the merged one stays, marked merged, for undo
    with db.session_scope() as session:
        merged = identity.get_member_by_number(session, workspace_id, follower.number)
    assert merged.merged_into_id is not None
    # and the session keeps working for the surviving member
    again = bind(client, login["token"], phone_code(world, user))
    assert again.json()["member_number"] == login["member_number"]


def test_phone_binding_follows_a_merge_of_the_session_member(
    client: TestClient, db: Database, world: SandboxWorld, oa_app: AppRead, workspace_id: int
) -> None:
    # given an MP member logged in, later merged away into an older OA member
    user = world.create_users(1)[0]
    with db.session_scope() as session:
        older = identity.resolve_member(
            session, oa_app, PersonRef(appid=OA_APPID, openid=world.openid(user, OA_APPID))
        )
    login = log_in(client, login_code(world, user)).json()
    with db.session_scope() as session:
        mp_member = identity.get_member_by_number(session, workspace_id, login["member_number"])
        cli = security.principal_for_cli(session, workspace_id)
        identity.merge_members(session, cli, older.id, mp_member.id)
    # when the MP binds the phone with its old session, then the survivor gets it
    answer = bind(client, login["token"], phone_code(world, user))
    assert answer.status_code == 200, answer.text
    assert answer.json()["member_number"] == older.number


def test_phone_binding_needs_a_live_mp_session(
    client: TestClient, world: SandboxWorld, frozen_clock: FrozenClock, settings: Settings
) -> None:
    user = world.create_users(1)[0]
    code = phone_code(world, user)
    for token in (None, "forged"):
        answer = bind(client, token, code)
        assert answer.status_code == 401
        assert answer.json()["code"] == "wechat.mp_session_required"
    login = log_in(client, login_code(world, user)).json()
    frozen_clock.advance(timedelta(hours=settings.mp_session_hours, seconds=1))
    expired = bind(client, login["token"], phone_code(world, user))
    assert expired.status_code == 401
    assert expired.json()["code"] == "wechat.mp_session_expired"


def test_a_bad_phone_code_is_refused_and_nothing_is_written(
    client: TestClient, db: Database, world: SandboxWorld
) -> None:
    user = world.create_users(1)[0]
    login = log_in(client, login_code(world, user)).json()
    code = phone_code(world, user)
    assert bind(client, login["token"], code).status_code == 200
    before = counts(db)
    reused = bind(client, login["token"], code)
    assert reused.status_code == 400
    assert reused.json()["code"] == "wechat.code_used"
    invalid = bind(client, login["token"], "bogus")
    assert invalid.status_code == 400
    assert invalid.json()["code"] == "wechat.invalid_code"
    assert counts(db) == before
