"""The MP → OA hand-off, whole: a Mini Program user's message in the sandbox WeChat is answered
by an auto-reply rule with a link card, sent through the customer-service API, to siyu's page
of the channel's OA QR code; the user's follow through that code is attributed to the channel."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from siyu.core.config import Settings
from siyu.core.db import Database
from siyu.entries.enums import ArrivalKind
from siyu.entries.models import Arrival
from siyu.sandbox.messaging import open_grant
from siyu.sandbox.world import SandboxWorld
from tests.support.entries import channel, event_push, handoff_rule
from tests.support.names import MP_APPID, OA_APPID
from tests.support.settings import installed
from tests.support.wechat import WeChat, message_push

PUBLIC = "https://siyu.example.com"
pytestmark = pytest.mark.usefixtures("oa_app", "mp_app")


@pytest.fixture
def settings(settings: Settings, sandbox_url: str) -> Iterator[Settings]:
    """WeChat at the sandbox for the app and for jobs (as for every entries test), and users
    open the hand-off page at siyu's public URL."""
    with installed(settings, wechat_api_base=sandbox_url, public_url=PUBLIC) as pointed:
        yield pointed


def test_a_mini_program_message_hands_the_user_off_to_the_oa_and_the_follow_is_attributed(
    manager: TestClient,
    mp: WeChat,
    oa: WeChat,
    db: Database,
    drain: Callable[[], int],
    world: SandboxWorld,
) -> None:
    # given a channel with an OA QR code, and an MP rule handing "公众号" off to it
    made = channel(manager, "handoff")
    assert handoff_rule(manager, made["channel"]["id"]).status_code == 201
    user = world.create_users(1)[0]
    mp_openid, oa_openid = world.openid(user, MP_APPID), world.openid(user, OA_APPID)
    # when the user writes "公众号" in the Mini Program's customer-service chat
    open_grant(world, user, MP_APPID, "message")
    mp.plain(message_push(mp_openid, "公众号"))
    drain()
    # then a link card arrives through the customer-service API, to siyu's public page
    [card] = [i for i in user.inbox if i.via == "custom"]
    assert (card.appid, card.msgtype) == (MP_APPID, "link")
    assert card.content["title"] == "关注我们的公众号"
    assert card.content["url"].startswith(f"{PUBLIC}/q/{made['code']['id']}-")
    assert card.content["thumb_url"] == card.content["url"] + "/qr.png"
    # and the page shows the OA's QR code, which is a PNG
    path = card.content["url"].removeprefix(PUBLIC)
    page = manager.get(path)
    assert page.status_code == 200
    assert f'<img src="{path}/qr.png"' in page.text
    image = manager.get(f"{path}/qr.png")
    assert (image.status_code, image.content[:8]) == (200, b"\x89PNG\r\n\x1a\n")
    # when the user long-presses it and follows
    scene = made["code"]["scene"]
    oa.plain(event_push(oa_openid, "subscribe", f"qrscene_{scene}", Ticket=made["code"]["ticket"]))
    drain()
    # then the follow is attributed to the hand-off channel
    with db.session_scope() as session:
        [arrival] = session.scalars(select(Arrival)).all()
    assert (arrival.kind, arrival.channel_id) == (ArrivalKind.subscribe, made["channel"]["id"])
