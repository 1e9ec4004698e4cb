"""Every message and event type of fact sheet §1.5–1.6 becomes its typed push, bus event and
timeline entry; wechatpy's own parser is the second opinion on the fields."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import wechatpy
from fastapi.testclient import TestClient
from sqlalchemy import select

from siyu.core.db import Database
from siyu.core.events import bus
from siyu.identity.models import TimelineEvent
from siyu.wechat.models import PushReceipt
from siyu.wechat.schemas import (
    ClickEvent,
    Event,
    ImageMessage,
    KfSessionEvent,
    KfSwitchSessionEvent,
    LinkMessage,
    LocationEvent,
    LocationMessage,
    LocationSelectEvent,
    MassSendJobFinishEvent,
    Message,
    MiniProgramPageMessage,
    PictureEvent,
    Push,
    ScanCodeEvent,
    ScanEvent,
    ShortVideoMessage,
    SubscribeChoice,
    SubscribeDelivery,
    SubscribeEvent,
    SubscribeMsgChangeEvent,
    SubscribeMsgPopupEvent,
    SubscribeMsgSentEvent,
    TemplateSendJobFinishEvent,
    TextMessage,
    UnknownEvent,
    UnknownMessage,
    UnsubscribeEvent,
    UserEnterTempSessionEvent,
    VideoMessage,
    ViewEvent,
    ViewMiniProgramEvent,
    VoiceMessage,
    build_push,
    parse_json,
    parse_xml,
)
from siyu.workspaces.schemas import AppRead
from tests.support.names import openid
from tests.support.wechat import GH_ID, WeChat, cdata_xml

USER = "oMgHVjngRipVsoxg6TuX3vz6glDg"
HEAD = (
    f"<ToUserName><![CDATA[{GH_ID}]]></ToUserName><FromUserName><![CDATA[{USER}]]></FromUserName>"
)


def message(msg_type: str, msg_id: int = 1234567890123456, **fields: Any) -> str:
    return cdata_xml(
        {
            "ToUserName": GH_ID,
            "FromUserName": USER,
            "CreateTime": 1408090502,
            "MsgType": msg_type,
            **fields,
            "MsgId": msg_id,
        }
    )


def event(name: str, body: str = "", **fields: Any) -> str:
    head = cdata_xml(
        {
            "ToUserName": GH_ID,
            "FromUserName": USER,
            "CreateTime": 1408090502,
            "MsgType": "event",
            "Event": name,
            **fields,
        }
    )
    return head.replace("</xml>", body + "</xml>")


PICS = (
    "<SendPicsInfo><Count>2</Count><PicList>"
    "<item><PicMd5Sum><![CDATA[1b5f7c23b5bf75682a53e7b6d163e185]]></PicMd5Sum></item>"
    "<item><PicMd5Sum><![CDATA[5a75aaca956d97be686719218f275c6b]]></PicMd5Sum></item>"
    "</PicList></SendPicsInfo>"
)
POPUP = (
    "<SubscribeMsgPopupEvent>"
    "<List><TemplateId><![CDATA[VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc]]></TemplateId>"
    "<SubscribeStatusString><![CDATA[accept]]></SubscribeStatusString>"
    "<PopupScene>2</PopupScene></List>"
    "<List><TemplateId><![CDATA[9nLIlbOQZC5Y89AZteFEux3WCXRRRG5Wfzkpssu4bLI]]></TemplateId>"
    "<SubscribeStatusString><![CDATA[reject]]></SubscribeStatusString>"
    "<PopupScene>2</PopupScene></List>"
    "</SubscribeMsgPopupEvent>"
)
CHANGE = (
    "<SubscribeMsgChangeEvent><List>"
    "<TemplateId><![CDATA[VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc]]></TemplateId>"
    "<SubscribeStatusString><![CDATA[reject]]></SubscribeStatusString>"
    "</List></SubscribeMsgChangeEvent>"
)
SENT = (
    "<SubscribeMsgSentEvent><List>"
    "<TemplateId><![CDATA[VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc]]></TemplateId>"
    "<MsgID>1700827132819554304</MsgID><ErrorCode>0</ErrorCode>"
    "<ErrorStatus><![CDATA[success]]></ErrorStatus>"
    "</List></SubscribeMsgSentEvent>"
)
T1 = "VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc"
T2 = "9nLIlbOQZC5Y89AZteFEux3WCXRRRG5Wfzkpssu4bLI"

CASES: list[Any] = [
    pytest.param(message("text", Content="你好"), TextMessage, {"content": "你好"}, id="text"),
    pytest.param(
        message("image", PicUrl="http://mmbiz/pic", MediaId="m1"),
        ImageMessage,
        {"pic_url": "http://mmbiz/pic", "media_id": "m1"},
        id="image",
    ),
    pytest.param(
        message("voice", MediaId="m2", Format="amr", Recognition="腾讯微信团队"),
        VoiceMessage,
        {"media_id": "m2", "format": "amr", "recognition": "腾讯微信团队"},
        id="voice",
    ),
    pytest.param(
        message("video", MediaId="m3", ThumbMediaId="t3"),
        VideoMessage,
        {"media_id": "m3", "thumb_media_id": "t3"},
        id="video",
    ),
    pytest.param(
        message("shortvideo", MediaId="m4", ThumbMediaId="t4"),
        ShortVideoMessage,
        {"media_id": "m4", "thumb_media_id": "t4"},
        id="shortvideo",
    ),
    pytest.param(
        message(
            "location", Location_X="23.134521", Location_Y="113.358803", Scale=20, Label="位置"
        ),
        LocationMessage,
        {"latitude": 23.134521, "longitude": 113.358803, "scale": 20, "label": "位置"},
        id="location",
    ),
    pytest.param(
        message("link", Title="公众平台官网链接", Description="描述", Url="http://x.cn/1"),
        LinkMessage,
        {"title": "公众平台官网链接", "description": "描述", "url": "http://x.cn/1"},
        id="link",
    ),
    pytest.param(
        message(
            "miniprogrampage",
            AppId="wx0123456789abcdef",
            Title="打卡",
            PagePath="pages/index/index",
            ThumbUrl="http://thumb",
            ThumbMediaId="tm",
        ),
        MiniProgramPageMessage,
        {"mp_appid": "wx0123456789abcdef", "title": "打卡", "page_path": "pages/index/index"},
        id="miniprogrampage",
    ),
    pytest.param(
        message("unheard_of", Foo="bar"), UnknownMessage, {"msg_type": "unheard_of"}, id="unknown"
    ),
    pytest.param(
        event("subscribe"),
        SubscribeEvent,
        {"scene": None, "ticket": None, "key": ""},
        id="subscribe",
    ),
    pytest.param(
        event("subscribe", EventKey="qrscene_poster_a", Ticket="TICKET"),
        SubscribeEvent,
        {"scene": "poster_a", "ticket": "TICKET"},
        id="subscribe-qrscene",
    ),
    pytest.param(event("unsubscribe"), UnsubscribeEvent, {}, id="unsubscribe"),
    pytest.param(
        event("SCAN", EventKey="123123", Ticket="TICKET"),
        ScanEvent,
        {"scene": "123123", "ticket": "TICKET", "event": "SCAN"},
        id="SCAN",
    ),
    pytest.param(
        event("LOCATION", Latitude="23.137466", Longitude="113.352425", Precision="119.385040"),
        LocationEvent,
        {"latitude": 23.137466, "longitude": 113.352425, "precision": 119.38504},
        id="LOCATION",
    ),
    pytest.param(
        event("CLICK", EventKey="V1001_TODAY_MUSIC"),
        ClickEvent,
        {"key": "V1001_TODAY_MUSIC", "menu_id": None},
        id="CLICK",
    ),
    pytest.param(
        event("VIEW", EventKey="https://siyu.example/a", MenuId="208379533"),
        ViewEvent,
        {"url": "https://siyu.example/a", "menu_id": "208379533"},
        id="VIEW",
    ),
    pytest.param(
        event("view_miniprogram", EventKey="pages/index/index", MenuId="2"),
        ViewMiniProgramEvent,
        {"page_path": "pages/index/index", "menu_id": "2"},
        id="view_miniprogram",
    ),
    pytest.param(
        event(
            "scancode_push",
            "<ScanCodeInfo><ScanType><![CDATA[qrcode]]></ScanType>"
            "<ScanResult><![CDATA[1]]></ScanResult></ScanCodeInfo>",
            EventKey="6",
        ),
        ScanCodeEvent,
        {"key": "6", "scan_type": "qrcode", "scan_result": "1"},
        id="scancode_push",
    ),
    pytest.param(
        event(
            "scancode_waitmsg",
            "<ScanCodeInfo><ScanType><![CDATA[barcode]]></ScanType>"
            "<ScanResult><![CDATA[EAN_13,6901234567892]]></ScanResult></ScanCodeInfo>",
            EventKey="6",
        ),
        ScanCodeEvent,
        {"scan_type": "barcode", "scan_result": "EAN_13,6901234567892"},
        id="scancode_waitmsg",
    ),
    pytest.param(
        event("pic_sysphoto", PICS, EventKey="6"),
        PictureEvent,
        {
            "count": 2,
            "pic_md5s": ("1b5f7c23b5bf75682a53e7b6d163e185", "5a75aaca956d97be686719218f275c6b"),
        },
        id="pic_sysphoto",
    ),
    pytest.param(
        event("pic_photo_or_album", PICS, EventKey="6"), PictureEvent, {"count": 2}, id="album"
    ),
    pytest.param(event("pic_weixin", PICS, EventKey="6"), PictureEvent, {"count": 2}, id="weixin"),
    pytest.param(
        event(
            "location_select",
            "<SendLocationInfo><Location_X><![CDATA[23]]></Location_X>"
            "<Location_Y><![CDATA[113]]></Location_Y><Scale><![CDATA[15]]></Scale>"
            "<Label><![CDATA[广州市海珠区客村艺苑路 106号]]></Label>"
            "<Poiname><![CDATA[]]></Poiname></SendLocationInfo>",
            EventKey="6",
        ),
        LocationSelectEvent,
        {
            "latitude": 23.0,
            "longitude": 113.0,
            "scale": 15,
            "label": "广州市海珠区客村艺苑路 106号",
            "poiname": None,
        },
        id="location_select",
    ),
    pytest.param(
        event("TEMPLATESENDJOBFINISH", MsgID=200163836, Status="failed:user block"),
        TemplateSendJobFinishEvent,
        {"msg_id": "200163836", "status": "failed:user block", "delivered": False},
        id="TEMPLATESENDJOBFINISH",
    ),
    pytest.param(
        event(
            "MASSSENDJOBFINISH",
            MsgID=1000001625,
            Status="err(30003)",
            TotalCount=0,
            FilterCount=0,
            SentCount=0,
            ErrorCount=0,
        ),
        MassSendJobFinishEvent,
        {"msg_id": "1000001625", "status": "err(30003)", "total_count": 0, "error_count": 0},
        id="MASSSENDJOBFINISH",
    ),
    pytest.param(
        event("subscribe_msg_popup_event", POPUP),
        SubscribeMsgPopupEvent,
        {"choices": (SubscribeChoice(T1, "accept", "2"), SubscribeChoice(T2, "reject", "2"))},
        id="subscribe_msg_popup_event",
    ),
    pytest.param(
        event("subscribe_msg_change_event", CHANGE),
        SubscribeMsgChangeEvent,
        {"choices": (SubscribeChoice(T1, "reject"),)},
        id="subscribe_msg_change_event",
    ),
    pytest.param(
        event("subscribe_msg_sent_event", SENT),
        SubscribeMsgSentEvent,
        {"deliveries": (SubscribeDelivery(T1, "1700827132819554304", 0, "success"),)},
        id="subscribe_msg_sent_event",
    ),
    pytest.param(
        event("user_enter_tempsession", SessionFrom="card"),
        UserEnterTempSessionEvent,
        {"session_from": "card"},
        id="user_enter_tempsession",
    ),
    pytest.param(
        event("kf_create_session", KfAccount="test1@test"),
        KfSessionEvent,
        {"kf_account": "test1@test", "event": "kf_create_session"},
        id="kf_create_session",
    ),
    pytest.param(
        event("kf_close_session", KfAccount="test1@test"),
        KfSessionEvent,
        {"kf_account": "test1@test", "event": "kf_close_session"},
        id="kf_close_session",
    ),
    pytest.param(
        event("kf_switch_session", FromKfAccount="test1@test", ToKfAccount="test2@test"),
        KfSwitchSessionEvent,
        {"from_kf_account": "test1@test", "to_kf_account": "test2@test"},
        id="kf_switch_session",
    ),
    pytest.param(
        event("wxa_media_check", Result="ok"), UnknownEvent, {"event": "wxa_media_check"}, id="new"
    ),
]


# Our field → wechatpy's attribute of the same value.
ORACLE = {
    "content": "content",
    "media_id": "media_id",
    "format": "format",
    "recognition": "recognition",
    "title": "title",
    "url": "url",
    "label": "label",
    "scene": "scene_id",
    "scan_type": "scan_type",
    "scan_result": "scan_result",
    "kf_account": "account",
    "from_kf_account": "from_account",
    "to_kf_account": "to_account",
    "status": "status",
}


@pytest.mark.parametrize(("xml", "cls", "expected"), CASES)
def test_every_type_is_parsed(xml: str, cls: type[Push], expected: dict[str, Any]) -> None:
    # when the push's XML is parsed
    push = build_push("wxaaaaaaaaaaaaaaaa", parse_xml(xml.encode()))
    # then it is of its own type, with its fields, the sender and the time
    assert type(push) is cls
    for name, value in expected.items():
        assert getattr(push, name) == value, name
    assert (push.openid, push.to_user) == (USER, GH_ID)
    assert push.create_time == datetime(2014, 8, 15, 8, 15, 2, tzinfo=UTC)
    # and wechatpy, parsing the same XML, sees the same sender, time, id and fields
    theirs = wechatpy.parse_message(xml)
    assert (theirs.source, theirs.target) == (USER, GH_ID)
    assert int(theirs.time) == 1408090502
    if isinstance(push, Message):
        assert str(theirs.id) == push.msg_id
    if isinstance(push, Event) and hasattr(theirs, "event"):
        # wechatpy lower-cases events and renames a follow through a QR code subscribe_scan
        assert theirs.event.startswith(push.event.lower())
    for ours, their_name in ORACLE.items():
        if ours in expected and getattr(theirs, their_name, None) is not None:
            assert str(getattr(theirs, their_name)) == str(expected[ours]), ours


def test_dedupe_keys_follow_wechat_rules() -> None:
    text = build_push("wx", parse_xml(message("text", 42, Content="a").encode()))
    click = build_push("wx", parse_xml(event("CLICK", EventKey="k").encode()))
    assert text.dedupe_key == "m:42"
    assert click.dedupe_key == f"e:{USER}:1408090502:CLICK"


MP_JSON = [
    pytest.param(
        {
            "MsgType": "event",
            "Event": "subscribe_msg_popup_event",
            "List": [{"TemplateId": T1, "SubscribeStatusString": "accept", "PopupScene": "0"}],
        },
        SubscribeMsgPopupEvent,
        {"choices": (SubscribeChoice(T1, "accept", "0"),)},
        id="popup-list",
    ),
    pytest.param(
        {
            "MsgType": "event",
            "Event": "subscribe_msg_change_event",
            "List": {"TemplateId": T1, "SubscribeStatusString": "reject"},
        },
        SubscribeMsgChangeEvent,
        {"choices": (SubscribeChoice(T1, "reject"),)},
        id="change-object",
    ),
    pytest.param(
        {
            "MsgType": "miniprogrampage",
            "MsgId": 8,
            "AppId": "wx0123456789abcdef",
            "Title": "t",
            "PagePath": "pages/a",
            "ThumbUrl": "u",
            "ThumbMediaId": "m",
        },
        MiniProgramPageMessage,
        {"msg_id": "8", "page_path": "pages/a"},
        id="miniprogrampage",
    ),
    pytest.param(
        {"MsgType": "image", "MsgId": 23637352235060880, "PicUrl": "u", "MediaId": "m"},
        ImageMessage,
        {"msg_id": "23637352235060880"},
        id="image",
    ),
]


@pytest.mark.parametrize(("fields", "cls", "expected"), MP_JSON)
def test_mp_json_pushes_are_parsed(fields: dict[str, Any], cls: type[Push], expected: Any) -> None:
    body = {"ToUserName": GH_ID, "FromUserName": USER, "CreateTime": 1408090502, **fields}
    push = build_push("wx0123456789abcdef", parse_json(json.dumps(body).encode()))
    assert type(push) is cls
    for name, value in expected.items():
        assert getattr(push, name) == value, name


# --- through the endpoint: bus, member, timeline -------------------------------------------


@pytest.fixture
def published() -> Iterator[list[Push]]:
    seen: list[Push] = []

    def collect(_session: Any, push: Push) -> None:
        seen.append(push)

    bus.subscribe(Push, collect)
    yield seen
    bus.unsubscribe(Push, collect)


def timeline(db: Database) -> list[tuple[str, str | None, dict[str, Any]]]:
    with db.session_scope() as session:
        rows = session.scalars(select(TimelineEvent).order_by(TimelineEvent.id))
        return [(r.name, r.channel, r.props) for r in rows]


def push_xml(kind: str, **fields: Any) -> str:
    return cdata_xml(
        {
            "ToUserName": GH_ID,
            "FromUserName": openid(1),
            "CreateTime": 1714112445,
            "MsgType": kind,
            **fields,
        }
    )


OA_TIMELINE = [
    pytest.param(
        push_xml("event", Event="subscribe", EventKey="qrscene_poster_a", Ticket="T"),
        ("oa.subscribe", "poster_a", {}),
        id="subscribe-with-scene",
    ),
    pytest.param(
        push_xml("event", Event="subscribe", EventKey=""), ("oa.subscribe", None, {}), id="follow"
    ),
    pytest.param(push_xml("event", Event="unsubscribe"), ("oa.unsubscribe", None, {}), id="unsub"),
    pytest.param(
        push_xml("event", Event="SCAN", EventKey="store_qr", Ticket="T"),
        ("oa.scan", "store_qr", {}),
        id="scan",
    ),
    pytest.param(
        push_xml("event", Event="CLICK", EventKey="V1001"),
        ("oa.menu_click", None, {"type": "click", "key": "V1001"}),
        id="click",
    ),
    pytest.param(
        push_xml("event", Event="VIEW", EventKey="https://siyu.example/a"),
        ("oa.menu_click", None, {"type": "view", "key": "https://siyu.example/a"}),
        id="view",
    ),
    pytest.param(
        push_xml("text", Content="你好", MsgId=5),
        ("oa.message", None, {"msg_type": "text", "msg_id": "5", "text": "你好"}),
        id="message",
    ),
]


@pytest.mark.parametrize(("xml", "expected"), OA_TIMELINE)
def test_oa_push_lands_on_the_member_timeline(
    oa: WeChat,
    oa_app: AppRead,
    db: Database,
    drain: Callable[[], int],
    published: list[Push],
    xml: str,
    expected: tuple[str, str | None, dict[str, Any]],
) -> None:
    # given an OA push accepted by the endpoint
    assert oa.secure(xml).status_code == 200
    # when its job runs
    assert drain() == 1
    # then the sender is a member, with the canonical event on the timeline
    [(name, channel, props)] = timeline(db)
    with db.session_scope() as session:
        receipt = session.scalars(select(PushReceipt)).one()
    assert (name, channel) == expected[:2]
    assert props == {"push_id": receipt.id, **expected[2]}
    assert receipt.member_id is not None
    # and the typed push went out on the bus, naming the member, app and workspace
    [push] = published
    assert (push.member_id, push.app_id, push.push_id) == (receipt.member_id, oa_app.id, receipt.id)
    assert push.workspace_id == oa_app.workspace_id


def test_push_events_without_a_canonical_name_publish_only(
    oa: WeChat, db: Database, drain: Callable[[], int], published: list[Push]
) -> None:
    for xml in [
        push_xml("event", Event="LOCATION", Latitude="23.1", Longitude="113.3", Precision="1"),
        push_xml("event", Event="TEMPLATESENDJOBFINISH", MsgID=1, Status="success"),
        push_xml("event", Event="kf_close_session", KfAccount="a@b"),
    ]:
        assert oa.plain(xml).status_code == 200
    assert drain() == 3
    assert timeline(db) == []
    assert [type(p) for p in published] == [
        LocationEvent,
        TemplateSendJobFinishEvent,
        KfSessionEvent,
    ]
    assert all(p.member_id is not None for p in published)


def test_mass_send_report_makes_no_member(
    oa: WeChat, db: Database, drain: Callable[[], int], published: list[Push]
) -> None:
    xml = push_xml("event", Event="MASSSENDJOBFINISH", MsgID=1, Status="send success")
    assert oa.plain(xml).status_code == 200
    drain()
    [push] = published
    assert push.member_id is None
    assert timeline(db) == []


def test_mp_subscribe_accepts_are_recorded_per_template(
    mp: WeChat, db: Database, drain: Callable[[], int]
) -> None:
    # given an MP subscribe prompt where the user accepted one template and rejected another
    body = {
        "ToUserName": GH_ID,
        "FromUserName": openid(3),
        "CreateTime": 1714112445,
        "MsgType": "event",
        "Event": "subscribe_msg_popup_event",
        "List": [
            {"TemplateId": T1, "SubscribeStatusString": "accept", "PopupScene": "0"},
            {"TemplateId": T2, "SubscribeStatusString": "reject", "PopupScene": "0"},
        ],
    }
    assert mp.secure(json.dumps(body), fmt="json").status_code == 200
    drain()
    # then one mp.subscribe_accept, for the accepted template
    assert [(n, p["template_id"]) for n, _, p in timeline(db)] == [("mp.subscribe_accept", T1)]


def test_mp_message_uses_the_mp_source(mp: WeChat, db: Database, drain: Callable[[], int]) -> None:
    body = {
        "ToUserName": GH_ID,
        "FromUserName": openid(3),
        "CreateTime": 1714112445,
        "MsgType": "text",
        "Content": "客服在吗",
        "MsgId": 77,
    }
    assert mp.secure(json.dumps(body), fmt="json").status_code == 200
    drain()
    assert [name for name, _, _ in timeline(db)] == ["mp.message"]


def test_entering_mp_customer_service_is_mp_contact(
    mp: WeChat, db: Database, drain: Callable[[], int]
) -> None:
    body = {
        "ToUserName": GH_ID,
        "FromUserName": openid(4),
        "CreateTime": 1714112445,
        "MsgType": "event",
        "Event": "user_enter_tempsession",
        "SessionFrom": "order-42",
    }
    assert mp.secure(json.dumps(body), fmt="json").status_code == 200
    drain()
    assert [(n, p["session_from"]) for n, _, p in timeline(db)] == [("mp.contact", "order-42")]


def test_one_person_following_and_writing_is_one_member(
    oa: WeChat, db: Database, drain: Callable[[], int], client: TestClient
) -> None:
    oa.plain(push_xml("event", Event="subscribe", EventKey="qrscene_9"))
    oa.plain(push_xml("text", Content="hi", MsgId=1))
    drain()
    with db.session_scope() as session:
        members = {r.member_id for r in session.scalars(select(PushReceipt))}
    assert len(members) == 1
    assert [n for n, _, _ in timeline(db)] == ["oa.subscribe", "oa.message"]
