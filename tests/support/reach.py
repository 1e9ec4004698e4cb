"""Reach in tests: a sandbox user and what siyu hears of them (each action changes the sandbox
as WeChat would and delivers the push WeChat would send), and what reach has written."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select

from siyu.core.db import Database
from siyu.identity.models import Identity, TimelineEvent
from siyu.reach.models import ReachSend
from siyu.sandbox.messaging import open_grant
from siyu.sandbox.world import Follow, SandboxWorld, SimUser
from tests.support.names import MP_APPID, OA_APPID
from tests.support.wechat import WeChat, event_push, message_push, popup_push

MP_TEMPLATE = "sub-checkin"
OA_TEMPLATE = "tpl-checkin"


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


Deliver = Callable[[WeChat, str], None]


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
