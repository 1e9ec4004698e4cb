"""Typed WeChat pushes (every message and event of fact sheet §1.5–1.6), wire formats, replies."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import orjson
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as parse_untrusted_xml

from siyu.core.events import DomainEvent

Raw = Mapping[str, Any]

# Senders are openids (28 base64url characters today); system pushes use other ids. The column
# holds 64 characters of printable ASCII, and anything else is not a push WeChat would send.
SENDER = re.compile(r"^[\x21-\x7e]{1,64}$")
MSG_TYPE = re.compile(r"^[A-Za-z0-9_.:-]{1,32}$")
EVENT = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
MAX_CREATE_TIME = 2**33  # seconds; far beyond any real CreateTime, still a valid datetime
MAX_XML_DEPTH = 8  # pushes nest three levels at most (SendPicsInfo/PicList/item)
XML_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")  # not allowed in XML 1.0 text


class MalformedPush(ValueError):
    """A push whose fields do not make a message WeChat would send."""


def text(raw: Raw, key: str, default: str = "") -> str:
    """A scalar field as text: XML gives strings, JSON (MP) may give numbers."""
    value = raw.get(key)
    if value is None:
        return default
    if isinstance(value, Mapping | list):
        raise MalformedPush(f"{key} must be a value, not a structure")
    return str(value)


def optional(raw: Raw, key: str) -> str | None:
    value = text(raw, key)
    return value or None


def integer(raw: Raw, key: str, default: int = 0) -> int:
    value = text(raw, key).strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise MalformedPush(f"{key} must be an integer") from exc


def number(raw: Raw, key: str) -> float:
    value = text(raw, key).strip()
    if not value:
        return 0.0
    try:
        return float(value)
    except ValueError as exc:
        raise MalformedPush(f"{key} must be a number") from exc


def section(raw: Raw, key: str) -> Raw:
    value = raw.get(key)
    return value if isinstance(value, Mapping) else {}


def items(value: Any) -> list[Raw]:
    """XML repeats an element for a list and gives a lone one as a mapping; JSON gives a list."""
    if isinstance(value, Mapping):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, Mapping)]
    return []


# --- pushes --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Push(DomainEvent):
    """Every push: who sent it (`openid` = FromUserName), to which app, when.

    `workspace_id`, `app_id`, `push_id` and `member_id` are filled in by the job that publishes
    the push on the bus, once the sender is resolved to a member.
    """

    appid: str
    openid: str
    to_user: str
    create_time: datetime
    msg_type: str
    raw: Raw = field(default_factory=dict, compare=False, repr=False)
    workspace_id: int = 0
    app_id: int = 0
    push_id: int = 0
    member_id: int | None = None

    @property
    def event_name(self) -> str | None:
        return None

    @property
    def dedupe_key(self) -> str:
        return _sender_key(self, self.event_name or self.msg_type)


def _sender_key(push: Push, name: str) -> str:
    # Events carry no id: WeChat's rule is FromUserName + CreateTime (+ Event, fact sheet §1.4).
    return f"e:{push.openid}:{int(push.create_time.timestamp())}:{name}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Message(Push):
    """A message the user sent (MsgType other than `event`)."""

    msg_id: str

    @property
    def dedupe_key(self) -> str:
        return f"m:{self.msg_id}" if self.msg_id else _sender_key(self, self.msg_type)


@dataclass(frozen=True, slots=True, kw_only=True)
class TextMessage(Message):
    content: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageMessage(Message):
    pic_url: str
    media_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class VoiceMessage(Message):
    media_id: str
    format: str
    recognition: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class VideoMessage(Message):
    media_id: str
    thumb_media_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ShortVideoMessage(VideoMessage):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class LocationMessage(Message):
    latitude: float  # Location_X
    longitude: float  # Location_Y
    scale: int
    label: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkMessage(Message):
    title: str
    description: str
    url: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MiniProgramPageMessage(Message):
    """A mini program card sent into the MP's customer-service chat."""

    mp_appid: str
    title: str
    page_path: str
    thumb_url: str
    thumb_media_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class UnknownMessage(Message):
    """A MsgType this version does not know; kept whole in `raw`."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Event(Push):
    """MsgType `event`; `event` keeps WeChat's spelling (SCAN, CLICK, subscribe…)."""

    event: str

    @property
    def event_name(self) -> str | None:
        return self.event


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscribeEvent(Event):
    """A follow; through a parametric QR code when `scene` is set (EventKey `qrscene_<scene>`)."""

    key: str
    scene: str | None
    ticket: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class UnsubscribeEvent(Event):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanEvent(Event):
    """A follower scanned a parametric QR code; EventKey is the bare scene."""

    scene: str
    ticket: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class LocationEvent(Event):
    latitude: float
    longitude: float
    precision: float


@dataclass(frozen=True, slots=True, kw_only=True)
class MenuEvent(Event):
    """A custom-menu button: `key` is the EventKey (key, URL or page path by button type)."""

    key: str
    menu_id: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ClickEvent(MenuEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class ViewEvent(MenuEvent):
    @property
    def url(self) -> str:
        return self.key


@dataclass(frozen=True, slots=True, kw_only=True)
class ViewMiniProgramEvent(MenuEvent):
    @property
    def page_path(self) -> str:
        return self.key


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanCodeEvent(MenuEvent):
    """scancode_push / scancode_waitmsg."""

    scan_type: str
    scan_result: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PictureEvent(MenuEvent):
    """pic_sysphoto / pic_photo_or_album / pic_weixin."""

    count: int
    pic_md5s: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class LocationSelectEvent(MenuEvent):
    latitude: float
    longitude: float
    scale: int
    label: str
    poiname: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class TemplateSendJobFinishEvent(Event):
    msg_id: str  # MsgID, spelled so in this event
    status: str

    @property
    def delivered(self) -> bool:
        return self.status == "success"


@dataclass(frozen=True, slots=True, kw_only=True)
class MassSendJobFinishEvent(Event):
    """Sent by the mass-send assistant, not by a member: its FromUserName is no follower."""

    msg_id: str
    status: str
    total_count: int
    filter_count: int
    sent_count: int
    error_count: int


@dataclass(frozen=True, slots=True)
class SubscribeChoice:
    template_id: str
    status: str  # accept / reject (and ban / filter on some accounts)
    popup_scene: str | None = None

    @property
    def accepted(self) -> bool:
        return self.status == "accept"


@dataclass(frozen=True, slots=True)
class SubscribeDelivery:
    template_id: str
    msg_id: str
    error_code: int
    error_status: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscribeMsgPopupEvent(Event):
    choices: tuple[SubscribeChoice, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscribeMsgChangeEvent(Event):
    choices: tuple[SubscribeChoice, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscribeMsgSentEvent(Event):
    deliveries: tuple[SubscribeDelivery, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class UserEnterTempSessionEvent(Event):
    """The user opened the MP's customer-service chat."""

    session_from: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class KfSessionEvent(Event):
    """kf_create_session / kf_close_session."""

    kf_account: str


@dataclass(frozen=True, slots=True, kw_only=True)
class KfSwitchSessionEvent(Event):
    from_kf_account: str
    to_kf_account: str


@dataclass(frozen=True, slots=True, kw_only=True)
class UnknownEvent(Event):
    """An Event this version does not know; kept whole in `raw`."""


# --- building pushes from parsed fields ------------------------------------------------------


def _subscribe(raw: Raw) -> dict[str, Any]:
    key = text(raw, "EventKey")
    scene = key.removeprefix("qrscene_") if key.startswith("qrscene_") else None
    return {"key": key, "scene": scene or None, "ticket": optional(raw, "Ticket")}


def _menu(raw: Raw) -> dict[str, Any]:
    return {"key": text(raw, "EventKey"), "menu_id": optional(raw, "MenuId")}


def _scan_code(raw: Raw) -> dict[str, Any]:
    info = section(raw, "ScanCodeInfo")
    return {
        **_menu(raw),
        "scan_type": text(info, "ScanType"),
        "scan_result": text(info, "ScanResult"),
    }


def _pictures(raw: Raw) -> dict[str, Any]:
    info = section(raw, "SendPicsInfo")
    pics = items(section(info, "PicList").get("item"))
    return {
        **_menu(raw),
        "count": integer(info, "Count"),
        "pic_md5s": tuple(text(p, "PicMd5Sum") for p in pics),
    }


def _location_select(raw: Raw) -> dict[str, Any]:
    info = section(raw, "SendLocationInfo")
    return {
        **_menu(raw),
        "latitude": number(info, "Location_X"),
        "longitude": number(info, "Location_Y"),
        "scale": integer(info, "Scale"),
        "label": text(info, "Label"),
        "poiname": optional(info, "Poiname"),
    }


def _list_of(raw: Raw, wrapper: str) -> list[Raw]:
    # XML nests the list in <SubscribeMsg…Event><List>; the MP's JSON puts "List" at the top.
    container = section(raw, wrapper)
    return items(container.get("List") if container else raw.get("List"))


def _choices(wrapper: str) -> Callable[[Raw], dict[str, Any]]:
    def build(raw: Raw) -> dict[str, Any]:
        return {
            "choices": tuple(
                SubscribeChoice(
                    text(item, "TemplateId"),
                    text(item, "SubscribeStatusString"),
                    optional(item, "PopupScene"),
                )
                for item in _list_of(raw, wrapper)
            )
        }

    return build


def _deliveries(raw: Raw) -> dict[str, Any]:
    return {
        "deliveries": tuple(
            SubscribeDelivery(
                text(item, "TemplateId"),
                text(item, "MsgID"),
                integer(item, "ErrorCode"),
                text(item, "ErrorStatus"),
            )
            for item in _list_of(raw, "SubscribeMsgSentEvent")
        )
    }


Builder = Callable[[Raw], dict[str, Any]]


def _none(_raw: Raw) -> dict[str, Any]:
    return {}


MESSAGE_TYPES: dict[str, tuple[type[Message], Builder]] = {
    "text": (TextMessage, lambda r: {"content": text(r, "Content")}),
    "image": (
        ImageMessage,
        lambda r: {"pic_url": text(r, "PicUrl"), "media_id": text(r, "MediaId")},
    ),
    "voice": (
        VoiceMessage,
        lambda r: {
            "media_id": text(r, "MediaId"),
            "format": text(r, "Format"),
            "recognition": optional(r, "Recognition"),
        },
    ),
    "video": (
        VideoMessage,
        lambda r: {"media_id": text(r, "MediaId"), "thumb_media_id": text(r, "ThumbMediaId")},
    ),
    "shortvideo": (
        ShortVideoMessage,
        lambda r: {"media_id": text(r, "MediaId"), "thumb_media_id": text(r, "ThumbMediaId")},
    ),
    "location": (
        LocationMessage,
        lambda r: {
            "latitude": number(r, "Location_X"),
            "longitude": number(r, "Location_Y"),
            "scale": integer(r, "Scale"),
            "label": text(r, "Label"),
        },
    ),
    "link": (
        LinkMessage,
        lambda r: {
            "title": text(r, "Title"),
            "description": text(r, "Description"),
            "url": text(r, "Url"),
        },
    ),
    "miniprogrampage": (
        MiniProgramPageMessage,
        lambda r: {
            "mp_appid": text(r, "AppId"),
            "title": text(r, "Title"),
            "page_path": text(r, "PagePath"),
            "thumb_url": text(r, "ThumbUrl"),
            "thumb_media_id": text(r, "ThumbMediaId"),
        },
    ),
}

# Keyed by the lower-cased Event: WeChat writes SCAN, CLICK, VIEW, LOCATION in capitals.
EVENT_TYPES: dict[str, tuple[type[Event], Builder]] = {
    "subscribe": (SubscribeEvent, _subscribe),
    "unsubscribe": (UnsubscribeEvent, _none),
    "scan": (
        ScanEvent,
        lambda r: {"scene": text(r, "EventKey"), "ticket": optional(r, "Ticket")},
    ),
    "location": (
        LocationEvent,
        lambda r: {
            "latitude": number(r, "Latitude"),
            "longitude": number(r, "Longitude"),
            "precision": number(r, "Precision"),
        },
    ),
    "click": (ClickEvent, _menu),
    "view": (ViewEvent, _menu),
    "view_miniprogram": (ViewMiniProgramEvent, _menu),
    "scancode_push": (ScanCodeEvent, _scan_code),
    "scancode_waitmsg": (ScanCodeEvent, _scan_code),
    "pic_sysphoto": (PictureEvent, _pictures),
    "pic_photo_or_album": (PictureEvent, _pictures),
    "pic_weixin": (PictureEvent, _pictures),
    "location_select": (LocationSelectEvent, _location_select),
    "templatesendjobfinish": (
        TemplateSendJobFinishEvent,
        lambda r: {"msg_id": text(r, "MsgID"), "status": text(r, "Status")},
    ),
    "masssendjobfinish": (
        MassSendJobFinishEvent,
        lambda r: {
            "msg_id": text(r, "MsgID"),
            "status": text(r, "Status"),
            "total_count": integer(r, "TotalCount"),
            "filter_count": integer(r, "FilterCount"),
            "sent_count": integer(r, "SentCount"),
            "error_count": integer(r, "ErrorCount"),
        },
    ),
    "subscribe_msg_popup_event": (SubscribeMsgPopupEvent, _choices("SubscribeMsgPopupEvent")),
    "subscribe_msg_change_event": (SubscribeMsgChangeEvent, _choices("SubscribeMsgChangeEvent")),
    "subscribe_msg_sent_event": (SubscribeMsgSentEvent, _deliveries),
    "user_enter_tempsession": (
        UserEnterTempSessionEvent,
        lambda r: {"session_from": optional(r, "SessionFrom")},
    ),
    "kf_create_session": (KfSessionEvent, lambda r: {"kf_account": text(r, "KfAccount")}),
    "kf_close_session": (KfSessionEvent, lambda r: {"kf_account": text(r, "KfAccount")}),
    "kf_switch_session": (
        KfSwitchSessionEvent,
        lambda r: {
            "from_kf_account": text(r, "FromKfAccount"),
            "to_kf_account": text(r, "ToKfAccount"),
        },
    ),
}


def _required(raw: Raw, key: str, pattern: re.Pattern[str]) -> str:
    value = text(raw, key).strip()
    if not pattern.match(value):
        raise MalformedPush(f"{key} is missing or not a WeChat value")
    return value


def build_push(appid: str, raw: Raw) -> Push:
    """The typed push of these parsed fields; MalformedPush when WeChat would not send them."""
    msg_type = _required(raw, "MsgType", MSG_TYPE)
    common: dict[str, Any] = {
        "appid": appid,
        "openid": _required(raw, "FromUserName", SENDER),
        "to_user": _required(raw, "ToUserName", SENDER),
        "create_time": _create_time(raw),
        "msg_type": msg_type,
        "raw": raw,
    }
    if msg_type == "event":
        event = _required(raw, "Event", EVENT)
        event_cls, build = EVENT_TYPES.get(event.lower(), (UnknownEvent, _none))
        return event_cls(**common, event=event, **build(raw))
    message_cls, build = MESSAGE_TYPES.get(msg_type, (UnknownMessage, _none))
    msg_id = text(raw, "MsgId").strip()
    if msg_id and not SENDER.match(msg_id):
        raise MalformedPush("MsgId is not a WeChat message id")
    return message_cls(**common, msg_id=msg_id, **build(raw))


def _create_time(raw: Raw) -> datetime:
    if not text(raw, "CreateTime").strip():
        raise MalformedPush("CreateTime is missing")
    seconds = integer(raw, "CreateTime")
    if not 0 <= seconds < MAX_CREATE_TIME:
        raise MalformedPush("CreateTime is out of range")
    return datetime.fromtimestamp(seconds, UTC)


# --- wire formats: XML (OA and MP) and JSON (MP) ------------------------------------------


def format_of(data: bytes) -> str:
    head = data.lstrip()[:1]
    if head == b"<":
        return "xml"
    if head == b"{":
        return "json"
    raise MalformedPush("the body is neither XML nor JSON")


def parse_body(data: bytes, fmt: str) -> dict[str, Any]:
    return parse_xml(data) if fmt == "xml" else parse_json(data)


def parse_xml(data: bytes) -> dict[str, Any]:
    """The fields of an `<xml>` push; DTDs, entities and external references are refused."""
    try:
        root = parse_untrusted_xml(data, forbid_dtd=True)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise MalformedPush("the body is not well-formed XML without a DTD") from exc
    fields = _element(root, 0)
    if root.tag != "xml" or not isinstance(fields, dict):
        raise MalformedPush("a push is an <xml> element holding fields")
    return fields


def _element(element: Element, depth: int) -> str | dict[str, Any]:
    children = list(element)
    if not children:
        return element.text or ""
    if depth >= MAX_XML_DEPTH:
        raise MalformedPush("the XML nests deeper than any push")
    fields: dict[str, Any] = {}
    repeated: set[str] = set()
    for child in children:
        value = _element(child, depth + 1)
        if child.tag not in fields:
            fields[child.tag] = value
        elif child.tag in repeated:
            fields[child.tag].append(value)
        else:  # a repeated element is a list (<item>, <List>)
            fields[child.tag] = [fields[child.tag], value]
            repeated.add(child.tag)
    return fields


def parse_json(data: bytes) -> dict[str, Any]:
    try:
        fields = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise MalformedPush("the body is not valid JSON") from exc
    if not isinstance(fields, dict):
        raise MalformedPush("a JSON push is an object")
    return fields


def to_xml(fields: Mapping[str, Any]) -> str:
    return f"<xml>{_xml_fields(fields)}</xml>"


def _xml_fields(fields: Mapping[str, Any]) -> str:
    parts = []
    for tag, value in fields.items():
        for one in value if isinstance(value, list) else [value]:
            parts.append(f"<{tag}>{_xml_value(one)}</{tag}>")
    return "".join(parts)


def _xml_value(value: Any) -> str:
    if isinstance(value, Mapping):
        return _xml_fields(value)
    if isinstance(value, int):
        return str(value)
    # "]]>" would close the section early: it is split across two sections.
    safe = XML_FORBIDDEN.sub("", str(value)).replace("]]>", "]]]]><![CDATA[>")
    return f"<![CDATA[{safe}]]>"


def media_type_of(body: str) -> str:
    if body.startswith("<"):
        return "application/xml"
    if body.startswith("{"):
        return "application/json"
    return "text/plain"


# --- passive replies -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TextReply:
    content: str

    def fields(self) -> dict[str, Any]:
        return {"MsgType": "text", "Content": self.content}


@dataclass(frozen=True, slots=True)
class ImageReply:
    media_id: str

    def fields(self) -> dict[str, Any]:
        return {"MsgType": "image", "Image": {"MediaId": self.media_id}}


@dataclass(frozen=True, slots=True)
class VoiceReply:
    media_id: str

    def fields(self) -> dict[str, Any]:
        return {"MsgType": "voice", "Voice": {"MediaId": self.media_id}}


@dataclass(frozen=True, slots=True)
class VideoReply:
    media_id: str
    title: str = ""
    description: str = ""

    def fields(self) -> dict[str, Any]:
        video = {"MediaId": self.media_id, "Title": self.title, "Description": self.description}
        return {"MsgType": "video", "Video": video}


@dataclass(frozen=True, slots=True)
class MusicReply:
    thumb_media_id: str
    title: str = ""
    description: str = ""
    music_url: str = ""
    hq_music_url: str = ""

    def fields(self) -> dict[str, Any]:
        music = {
            "Title": self.title,
            "Description": self.description,
            "MusicUrl": self.music_url,
            "HQMusicUrl": self.hq_music_url,
            "ThumbMediaId": self.thumb_media_id,
        }
        return {"MsgType": "music", "Music": music}


@dataclass(frozen=True, slots=True)
class Article:
    title: str
    url: str
    description: str = ""
    pic_url: str = ""


@dataclass(frozen=True, slots=True)
class NewsReply:
    articles: tuple[Article, ...]

    def fields(self) -> dict[str, Any]:
        return {
            "MsgType": "news",
            "ArticleCount": len(self.articles),
            "Articles": {
                "item": [
                    {
                        "Title": a.title,
                        "Description": a.description,
                        "PicUrl": a.pic_url,
                        "Url": a.url,
                    }
                    for a in self.articles
                ]
            },
        }


@dataclass(frozen=True, slots=True)
class TransferCustomerServiceReply:
    """Hand the conversation to the customer-service staff (a given account, or any)."""

    kf_account: str | None = None

    def fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {"MsgType": "transfer_customer_service"}
        if self.kf_account:
            fields["TransInfo"] = {"KfAccount": self.kf_account}
        return fields


Reply = (
    TextReply
    | ImageReply
    | VoiceReply
    | VideoReply
    | MusicReply
    | NewsReply
    | TransferCustomerServiceReply
)
