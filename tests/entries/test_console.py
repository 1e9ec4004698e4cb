"""Console pages for entries: an operator makes a channel with its code, downloads it, watches
arrivals in the report and chart; the menu editor refuses what WeChat would refuse."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from sqlalchemy import func, select

from siyu.core.db import Database
from siyu.entries import service
from siyu.entries.models import Article, MenuVersion
from siyu.entries.schemas import ChannelCreate
from siyu.sandbox.world import SandboxWorld
from siyu.workspaces.schemas import AppRead
from tests.support.console import Console
from tests.support.entries import event_push
from tests.support.names import OA_APPID, openid
from tests.support.wechat import WeChat


def test_an_operator_makes_a_channel_downloads_its_qr_and_sees_arrivals(
    console: Console,
    oa: WeChat,
    oa_app: AppRead,
    world: SandboxWorld,
    drain: Callable[[], int],
) -> None:
    client = console.client
    made = client.post(
        "/channels",
        data={
            "csrf_token": console.csrf,
            "name": "地铁海报",
            "slug": "metro",
            "tags": "地铁，线下",
            "welcome": "欢迎！",
            "appid": OA_APPID,
            "kind": "oa_qr_temp",
            "days": "7",
        },
        follow_redirects=False,
    )
    assert made.status_code == 303, made.text
    page = client.get(made.headers["location"])
    assert "地铁海报" in page.text
    download = re.search(r'href="(/api/entries/codes/\d+/image\?size=860)"', page.text)
    assert download is not None
    assert client.get(download.group(1)).content.startswith(b"\x89PNG")
    # sandbox users scan it: the report and its chart show them
    for n in (1, 2):
        oa.plain(event_push(openid(n), "subscribe", "qrscene_metro"))
    drain()
    report = client.get("/channels")
    assert "data-bar-chart" in report.text
    chart = json.loads(
        re.search(r"data-bar-chart='([^']+)'", report.text).group(1)  # type: ignore[union-attr]
    )
    assert chart["names"] == ["地铁海报"]
    assert chart["series"][1]["data"] == [2]
    csv_text = client.get("/channels.csv").text
    assert ",metro,,active,2,2,2,0,2,0,0.0" in csv_text


def test_the_menu_editor_refuses_what_wechat_would_and_saves_nothing(
    console: Console,
    oa_app: AppRead,
    db: Database,
) -> None:
    too_long = {"button": [{"type": "click", "name": "这个名字太长了啊", "key": "k"}]}
    answer = console.client.post(
        "/menus",
        data={
            "csrf_token": console.csrf,
            "appid": OA_APPID,
            "menu": json.dumps(too_long, ensure_ascii=False),
            "action": "save",
        },
    )
    assert answer.status_code == 422
    assert "button[1]" in answer.text
    assert "name" in answer.text
    with db.session_scope() as session:
        assert session.scalar(select(func.count()).select_from(MenuVersion)) == 0
    good = {"button": [{"type": "view", "name": "官网", "url": "https://example.com/"}]}
    preview = console.client.post(
        "/menus",
        data={"csrf_token": console.csrf, "appid": OA_APPID, "menu": json.dumps(good)},
    )
    assert preview.status_code == 200
    assert "from=menu&amp;key=b1" in preview.text


def test_an_operator_registers_an_article_and_a_bad_link_changes_nothing(
    console: Console,
    oa_app: AppRead,
    db: Database,
) -> None:
    client = console.client
    # when the operator registers an OA article
    made = client.post(
        "/articles",
        data={
            "csrf_token": console.csrf,
            "oa_appid": OA_APPID,
            "title": "打卡攻略",
            "url": "https://mp.weixin.qq.com/s/AbC",
        },
        follow_redirects=False,
    )
    # then the report lists it with its attribution, next to the follow conversion
    assert made.status_code == 303, made.text
    page = client.get("/channels").text
    assert "打卡攻略" in page
    assert re.search(r"from=article&amp;id=\d+", page)
    assert "小程序 → 公众号关注转化" in page
    # and a link that is not an OA article's is refused; nothing more is written
    bad = client.post(
        "/articles",
        data={"csrf_token": console.csrf, "oa_appid": OA_APPID, "title": "x", "url": "https://e.x"},
        follow_redirects=False,
    )
    assert bad.status_code == 422
    with db.session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Article)) == 1


def test_forty_channels_chart_the_top_ones_and_group_the_rest(
    console: Console,
    oa: WeChat,
    db: Database,
    workspace_id: int,
    drain: Callable[[], int],
) -> None:
    client = console.client
    # given 15 channels with a QR code each and 25 more without one (40 in all)
    for n in range(15):
        made = client.post(
            "/channels",
            data={
                "csrf_token": console.csrf,
                "name": f"海报{n:02d}",
                "slug": f"poster{n:02d}",
                "appid": OA_APPID,
                "kind": "oa_qr_temp",
                "days": "7",
            },
            follow_redirects=False,
        )
        assert made.status_code == 303, made.text
    with db.session_scope() as session:
        for n in range(25):
            service.create_channel(
                session, workspace_id, ChannelCreate(name=f"社群{n:02d}"), actor="test"
            )
    # and followers arriving: three through 海报00, one through each of the 14 others
    user = 0
    for n in range(15):
        for _ in range(3 if n == 0 else 1):
            user += 1
            oa.plain(event_push(openid(user), "subscribe", f"qrscene_poster{n:02d}"))
    drain()
    # when the operator opens the channel report
    page = client.get("/channels")
    assert page.status_code == 200
    chart = json.loads(
        re.search(r"data-bar-chart='([^']+)'", page.text).group(1)  # type: ignore[union-attr]
    )
    # then the chart shows the top 12 (the busiest first) and one bar for the 28 others
    assert len(chart["names"]) == 13
    assert chart["names"][0] == "海报00"
    assert chart["names"][-1] == "其他（28 个渠道）"
    followers = chart["series"][1]["data"]
    assert followers[0] == 3
    assert followers[-1] == 3  # 海报12–14's one each, with the 25 silent ones
    assert sum(followers) == 17
    assert "其余合并为“其他”" in page.text
    # and the table lists every channel, inside a panel that scrolls
    table = page.text.split('<div class="table-wrap scroll">', 1)[1].split("</table>", 1)[0]
    assert len(re.findall(r'<a href="/channels/\d+">', table)) == 40
