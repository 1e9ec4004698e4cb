"""Typed WeChat pushes: every message and event of fact sheet §1.5–1.6, built from fields.

One vocabulary: every push type WeChat sends, with the table that builds each; kept together
(about 520 lines) because a new push type is a class and a row of the same table.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from siyu.core.events import DomainEvent
from siyu.wechat.schemas.fields import (
    EVENT,
    MAX_CREATE_TIME,
    MSG_TYPE,
    SENDER,
    MalformedPush,
    Raw,
    integer,
    items,
    number,
    optional,
    section,
    text,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Push(DomainEvent):
    """Every push: who sent it (`openid` = FromUserName), to which app, when.

    `workspace_id`, `app_id`, `push_id`, `member_id` and `member_created` (this push made the
    member) are filled in by the job that publishes the push on the bus, once the sender is
    resolved to a member.
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
    member_created: bool = False

    @property
    def event_name(self) -> str | None:
        return None

    @property
    def dedupe_key(self) -> str:
        return _sender_key(self, self.event_name or self.msg_type)


def _sender_key(push: Push, name: str) -> str:
    # Events carry no id: WeChat's rule is FromUserName + CreateTime (+ Event, fact sheet §1.4).
    return f"e:{push.openid}:{int(push.create_time.timestamp())}:{name}"


def _job_key(push: Event, msg_id: str) -> str:
    # A job-finish event names its send (MsgID, fact sheet §1.6): two sends to one user that
    # finish within one second are two events with the same sender and CreateTime, which the
    # sender's key alone would take for a retry of one (the second send then never learnt it
    # was delivered). WeChat's retry repeats the MsgID, so it is still one push.
    return f"{_sender_key(push, push.event)}:{msg_id}" if msg_id else _sender_key(push, push.event)


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
    def dedupe_key(self) -> str:
        return _job_key(self, self.msg_id)

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

    @property
    def dedupe_key(self) -> str:
        return _job_key(self, self.msg_id)


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
