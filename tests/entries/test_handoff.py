"""The MP → OA hand-off: a Mini Program user's message is answered with a link card to a page
of the channel's OA QR code, and the follow through that code is attributed to the channel."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from siyu.autoreply.models import AutoReplyRule
from siyu.core.config import Settings, install_settings
from siyu.core.db import Database
from siyu.entries.enums import ArrivalKind
from siyu.entries.models import Arrival
from siyu.sandbox.messaging import open_grant
from siyu.sandbox.world import SandboxWorld
from tests.support.entries import channel, event_push
from tests.support.names import MP_APPID, OA_APPID
from tests.support.wechat import WeChat, message_push

PUBLIC = "https://siyu.example.com"
pytestmark = pytest.mark.usefixtures("oa_app", "mp_app")


@pytest.fixture
def settings(settings: Settings) -> Iterator[Settings]:
    """WeChat users open the hand-off page at siyu's public URL."""
    public = settings.model_copy(update={"public_url": PUBLIC})
    install_settings(public)
    yield public
    install_settings(settings)


def handoff_rule(api: TestClient, channel_id: int, appid: str = MP_APPID) -> Any:
    return api.post(
        "/api/autoreply/rules",
        json={
            "appid": appid,
            "keywords": ["公众号"],
            "reply": {"type": "handoff", "channel_id": channel_id, "title": "关注我们的公众号"},
        },
    )


def rule_count(db: Database) -> int:
    with db.session_scope() as session:
        return session.scalar(select(func.count()).select_from(AutoReplyRule)) or 0


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


def test_a_forged_or_unknown_hand_off_page_is_a_404(manager: TestClient) -> None:
    made = channel(manager, "handoff")
    code_id = made["code"]["id"]
    for path in (f"/q/{code_id}-{'0' * 24}", f"/q/{code_id + 1}-abc", f"/q/{code_id}-00/qr.png"):
        answer = manager.get(path, headers={"Accept": "application/json"})
        assert (answer.status_code, answer.json()["code"]) == (404, "entries.handoff_not_found")


def test_a_hand_off_needs_a_mini_program_and_a_channel_with_an_oa_code(
    manager: TestClient, db: Database
) -> None:
    # given a channel whose only code is a Mini Program code
    mp_only = manager.post(
        "/api/entries/channels",
        json={"name": "海报", "slug": "poster", "code": {"appid": MP_APPID, "kind": "mp_code"}},
    )
    assert mp_only.status_code == 201, mp_only.text
    with_oa = channel(manager, "handoff")
    # when rules hand off to it, or answer on the OA itself
    no_code = handoff_rule(manager, mp_only.json()["channel"]["id"])
    on_oa = handoff_rule(manager, with_oa["channel"]["id"], appid=OA_APPID)
    missing = handoff_rule(manager, 999_999)
    # then each is refused with its reason, and no rule is written
    assert (no_code.status_code, no_code.json()["code"]) == (
        409,
        "entries.handoff_without_oa_code",
    )
    assert (on_oa.status_code, on_oa.json()["code"]) == (422, "autoreply.invalid_reply")
    assert (missing.status_code, missing.json()["code"]) == (404, "entries.channel_not_found")
    assert rule_count(db) == 0
