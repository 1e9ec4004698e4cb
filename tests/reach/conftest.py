"""Reach fixtures: pushes that feed the ledger, templates of both channels, a served sandbox."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from siyu.autoreply import service as autoreply
from siyu.core import clock
from siyu.core.config import Settings, install_settings
from siyu.core.db import Database
from siyu.identity.models import Identity, TimelineEvent
from siyu.reach.models import ReachSend
from siyu.reach.schemas import TemplateCreate
from siyu.reach.service import add_template
from siyu.sandbox.messaging import open_grant
from siyu.sandbox.world import Follow, SandboxWorld, SimUser
from siyu.workspaces.schemas import AppRead
from tests.conftest import MP_APPID, OA_APPID, openid
from tests.wechat.conftest import (  # noqa: F401 - fixtures
    GH_ID,
    WeChat,
    cdata_xml,
    client,
    drain,
    mp,
    oa,
)
from tests.wechat.test_gateway_sandbox import (  # noqa: F401 - fixtures
    sandbox_server_fixture,
    world_fixture,
)

MP_TEMPLATE = "sub-checkin"
OA_TEMPLATE = "tpl-checkin"
_msg_ids = itertools.count(10_000)
_earlier = itertools.count(1)  # events dedupe on (sender, CreateTime, Event): one second apart


@pytest.fixture(autouse=True)
def fresh_rule_cache() -> Iterator[None]:
    """Compiled rules are cached per process by app id, which the next test reuses."""
    autoreply.forget_all()
    yield
    autoreply.forget_all()


@pytest.fixture
def jobs_call_the_sandbox(
    settings: Settings, sandbox_server: tuple[object, str], request: pytest.FixtureRequest
) -> Iterator[None]:
    """Jobs reach WeChat at the sandbox's URL (the application installed its own settings)."""
    request.getfixturevalue("client")
    install_settings(settings.model_copy(update={"wechat_api_base": sandbox_server[1]}))
    yield
    install_settings(settings)


def now_ts() -> int:
    return int(clock.now().timestamp())


def event_push(who: str, event: str, **fields: Any) -> str:
    return cdata_xml(
        {
            "ToUserName": GH_ID,
            "FromUserName": who,
            "CreateTime": fields.pop("CreateTime", now_ts()),
            "MsgType": "event",
            "Event": event,
            **fields,
        }
    )


def message_push(who: str, content: str = "你好", msg_id: int | None = None) -> str:
    return cdata_xml(
        {
            "ToUserName": GH_ID,
            "FromUserName": who,
            "CreateTime": now_ts(),
            "MsgType": "text",
            "Content": content,
            "MsgId": msg_id if msg_id is not None else next(_msg_ids),
        }
    )


def popup_push(who: str, template_id: str, status: str = "accept", at: int | None = None) -> str:
    choice = {"TemplateId": template_id, "SubscribeStatusString": status, "PopupScene": "0"}
    return event_push(
        who,
        "subscribe_msg_popup_event",
        CreateTime=at or now_ts() - next(_earlier),
        SubscribeMsgPopupEvent={"List": choice},
    )


def member_of(db: Database, who: str) -> int:
    with db.session_scope() as session:
        member_id = session.scalar(select(Identity.member_id).where(Identity.value == who))
        assert member_id is not None, who
        return member_id


def sends(db: Database) -> list[ReachSend]:
    with db.session_scope() as session:
        rows = list(session.scalars(select(ReachSend).order_by(ReachSend.id)))
        session.expunge_all()
        return rows


def send_count(db: Database) -> int:
    with db.session_scope() as session:
        return session.scalar(select(func.count()).select_from(ReachSend)) or 0


def timeline(db: Database, name_prefix: str = "message.") -> list[tuple[str, dict[str, Any]]]:
    with db.session_scope() as session:
        rows = session.scalars(
            select(TimelineEvent)
            .where(TimelineEvent.name.startswith(name_prefix))
            .order_by(TimelineEvent.id)
        ).all()
        return [(row.name, dict(row.props)) for row in rows]


@pytest.fixture
def templates(db: Database, workspace_id: int, oa_app: AppRead, mp_app: AppRead) -> None:
    """The notice `checkin` in all three forms: MP subscribe, OA template, a text."""
    with db.session_scope() as session:
        for data in (
            TemplateCreate(
                key="checkin",
                kind="mp_subscribe",
                appid=mp_app.appid,
                template_id=MP_TEMPLATE,
                title="打卡提醒",
                fields={"thing1": "course"},
                page="pages/index/index",
            ),
            TemplateCreate(
                key="checkin",
                kind="oa_template",
                appid=oa_app.appid,
                template_id=OA_TEMPLATE,
                title="打卡提醒",
                fields={"thing1": "course"},
            ),
            TemplateCreate(
                key="checkin",
                kind="customer_service",
                appid=oa_app.appid,
                title="打卡提醒",
                body="今天的{course}别忘了打卡",
            ),
        ):
            add_template(session, workspace_id, data, "test")


Deliver = Callable[[WeChat, str], None]


@pytest.fixture
def push(request: pytest.FixtureRequest) -> Deliver:
    """Deliver a push and run the jobs it queued (processing, held-send retries)."""
    run_jobs: Callable[[], int] = request.getfixturevalue("drain")

    def run(app: WeChat, body: str) -> None:
        response = app.plain(body)
        assert response.status_code == 200, response.text
        run_jobs()

    return run


class Person:
    """A sandbox user and what siyu hears of them: each action changes the sandbox's state as
    WeChat would and delivers to siyu the push WeChat would send."""

    def __init__(
        self, world: SandboxWorld, push: Deliver, oa_chat: WeChat, mp_chat: WeChat
    ) -> None:
        self.world, self.deliver, self.oa_chat, self.mp_chat = world, push, oa_chat, mp_chat
        self.user: SimUser = world.create_users(1)[0]
        self.oa_openid = world.openid(self.user, OA_APPID)
        self.mp_openid = world.openid(self.user, MP_APPID)

    def follow(self) -> None:
        self.user.follows[OA_APPID] = Follow(True, self.world.now(), "ADD_SCENE_SEARCH")
        open_grant(self.world, self.user, OA_APPID, "follow")
        self.deliver(self.oa_chat, event_push(self.oa_openid, "subscribe"))

    def unfollow(self) -> None:
        self.user.follows[OA_APPID].subscribed = False
        self.user.grants.pop(OA_APPID, None)
        self.deliver(self.oa_chat, event_push(self.oa_openid, "unsubscribe"))

    def write(self, content: str = "你好", app: str = OA_APPID) -> None:
        open_grant(self.world, self.user, app, "message")
        chat, who = (
            (self.oa_chat, self.oa_openid)
            if app == OA_APPID
            else (
                self.mp_chat,
                self.mp_openid,
            )
        )
        self.deliver(chat, message_push(who, content))

    def accept(self, template_id: str = MP_TEMPLATE) -> None:
        key = (MP_APPID, template_id)
        self.user.credits[key] = self.user.credits.get(key, 0) + 1
        self.deliver(self.mp_chat, popup_push(self.mp_openid, template_id))

    def inbox(self) -> list[tuple[str, str]]:
        return [(item.appid, item.via) for item in self.user.inbox]


@pytest.fixture
def person(
    world: SandboxWorld,
    push: Deliver,
    request: pytest.FixtureRequest,
    jobs_call_the_sandbox: None,
) -> Callable[[], Person]:
    oa_chat, mp_chat = request.getfixturevalue("oa"), request.getfixturevalue("mp")
    return lambda: Person(world, push, oa_chat, mp_chat)


__all__ = ["openid"]
