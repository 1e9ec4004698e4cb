"""A member's timeline reads for people: the message's text, the channel's name instead of its
scene, the page, the amount in yuan; no raw JSON."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from siyu.core.db import Database
from siyu.entries import service as entries
from siyu.entries.schemas import ChannelCreate
from siyu.identity import service as identity
from siyu.workspaces.schemas import AppRead
from tests.support.console import Console, ingest
from tests.support.names import OA_APPID, openid
from tests.support.wechat import WeChat, event_push, message_push


def test_the_timeline_says_what_happened_in_words_and_yuan(
    console: Console,
    oa: WeChat,
    oa_app: AppRead,
    db: Database,
    workspace_id: int,
    drain: Callable[[], int],
) -> None:
    # given a channel whose codes carry the scene "metro"
    with db.session_scope() as session:
        entries.create_channel(
            session, workspace_id, ChannelCreate(name="地铁海报", slug="metro"), actor="test"
        )
    # and a follower who came through it, wrote to the account, paid and opened a page
    who = openid(7)
    assert oa.plain(event_push(who, "subscribe", EventKey="qrscene_metro")).status_code == 200
    assert oa.plain(message_push(who, "你好，想报名单词打卡")).status_code == 200
    drain()
    at = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    ingest(
        db,
        workspace_id,
        {
            "event": "pay.paid", "ts": at, "appid": OA_APPID, "openid": who,
            "props": {"amount": 990, "description": "单词打卡 押金", "out_trade_no": "T1"},
        },
        {
            "event": "mp.page_view", "ts": at, "appid": OA_APPID, "openid": who,
            "props": {"title": "打卡日历", "push_id": 3},
        },
    )  # fmt: skip
    with db.session_scope() as session:
        [member] = identity.search_members(session, workspace_id, openid=who)
    # when an operator opens the member
    page = console.client.get(f"/members/{member.id}")
    # then the timeline shows the channel's name, the text, the amount in yuan and the page
    assert page.status_code == 200
    timeline = page.text.split('class="table timeline"', 1)[1].split("</table>", 1)[0]
    assert "地铁海报" in timeline
    assert "metro" not in timeline
    assert "“你好，想报名单词打卡”" in timeline
    assert "¥9.90 · 单词打卡 押金" in timeline
    assert "页面 打卡日历" in timeline
    # and no props as JSON, no machine references
    assert "{&#34;" not in timeline
    assert '{"' not in timeline
    assert "out_trade_no" not in timeline
    assert "T1" not in timeline
    assert "push_id" not in timeline
