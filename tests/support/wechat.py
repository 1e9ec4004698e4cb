"""WeChat's side of the push protocol, played by wechatpy: signed (and sealed) pushes to one
app, pushes as WeChat writes them, and what the inbox has written."""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx2
import xmltodict
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import WeChatSigner

from siyu.core import clock
from siyu.core.db import Database
from siyu.identity.models import Member, TimelineEvent
from siyu.wechat.models import PushReceipt

TOKEN = "pushtoken"  # what the workspaces fixtures give mp_app and oa_app
AES_KEY = "a" * 43
GH_ID = "gh_e136c6e50636"


def sign(*parts: str) -> str:
    """WeChat's signature, computed by wechatpy rather than by our code."""
    signer = WeChatSigner()
    signer.add_data(*parts)
    return str(signer.signature)


def cdata_xml(fields: Mapping[str, Any]) -> str:
    """A push as WeChat writes it: every text field in CDATA, numbers bare."""

    def render(value: Any) -> str:
        if isinstance(value, Mapping):
            return "".join(f"<{k}>{render(v)}</{k}>" for k, v in value.items())
        if isinstance(value, list):
            raise TypeError("write repeated elements by hand")
        if isinstance(value, int):
            return str(value)
        return "<![CDATA[" + str(value).replace("]]>", "]]]]><![CDATA[>") + "]]>"

    return f"<xml>{render(fields)}</xml>"


def text_push(
    openid: str, msg_id: int, content: str = "你好", create_time: int = 1714112445
) -> str:
    return cdata_xml(
        {
            "ToUserName": GH_ID,
            "FromUserName": openid,
            "CreateTime": create_time,
            "MsgType": "text",
            "Content": content,
            "MsgId": msg_id,
        }
    )


@dataclass
class WeChat:
    """Delivers signed (and, in secure mode, wechatpy-encrypted) pushes to one app.

    Each push is signed as WeChat signs it: at the clock's time, with a fresh nonce; a test
    that needs a given timestamp or nonce (a replay, a documentation vector) sets them.
    """

    client: TestClient
    appid: str
    token: str = TOKEN
    aes_key: str = AES_KEY
    timestamp: str | None = None
    nonce: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
    last: tuple[str, str] = ("", "")  # the (timestamp, nonce) of the latest push

    @property
    def url(self) -> str:
        return f"/wechat/push/{self.appid}"

    def stamp(self) -> tuple[str, str]:
        """The (timestamp, nonce) of the next push."""
        self.last = (
            self.timestamp or str(now_ts()),
            self.nonce or str(next(_nonces)),
        )
        return self.last

    def plain(self, body: str | bytes, **params: str) -> httpx2.Response:
        timestamp, nonce = self.stamp()
        query = {
            "signature": sign(self.token, timestamp, nonce),
            "timestamp": timestamp,
            "nonce": nonce,
            "openid": "o9AgO5Kd5ggOC-bXrbNODIiE3bGY",
            **params,
        }
        return self.client.post(self.url, params=query, content=body)

    def seal(
        self, message: str, *, aes_key: str | None = None, stamp: tuple[str, str] | None = None
    ) -> tuple[str, str]:
        """(Encrypt, msg_signature) of a message, made by wechatpy."""
        timestamp, nonce = stamp or self.stamp()
        crypto = WeChatCrypto(self.token, aes_key or self.aes_key, self.appid)
        envelope = xmltodict.parse(crypto.encrypt_message(message, nonce, timestamp))
        return envelope["xml"]["Encrypt"], envelope["xml"]["MsgSignature"]

    def sealed(self, message: str) -> tuple[dict[str, str], bytes]:
        """The query and XML body of a secure-mode push, for calling the inbox directly."""
        timestamp, nonce = stamp = self.stamp()
        encrypt, msg_signature = self.seal(message, stamp=stamp)
        params = {
            "timestamp": timestamp,
            "nonce": nonce,
            "encrypt_type": "aes",
            "msg_signature": msg_signature,
        }
        return (
            params,
            f"<xml><ToUserName>gh</ToUserName><Encrypt>{encrypt}</Encrypt></xml>".encode(),
        )

    def secure(
        self,
        message: str,
        *,
        fmt: str = "xml",
        aes_key: str | None = None,
        compatible: Mapping[str, Any] | None = None,
    ) -> httpx2.Response:
        timestamp, nonce = stamp = self.stamp()
        encrypt, msg_signature = self.seal(message, aes_key=aes_key, stamp=stamp)
        fields = {"ToUserName": GH_ID, **(compatible or {}), "Encrypt": encrypt}
        body = cdata_xml(fields) if fmt == "xml" else json.dumps(fields)
        query = {
            "signature": sign(self.token, timestamp, nonce),
            "timestamp": timestamp,
            "nonce": nonce,
            "encrypt_type": "aes",
            "msg_signature": msg_signature,
        }
        return self.client.post(self.url, params=query, content=body)

    def open_reply(self, reply: str, *, aes_key: str | None = None) -> str:
        """Our encrypted reply, checked and decrypted by wechatpy."""
        crypto = WeChatCrypto(self.token, aes_key or self.aes_key, self.appid)
        envelope = json.loads(reply) if reply.startswith("{") else xmltodict.parse(reply)["xml"]
        opened = crypto.decrypt_message(
            {"Encrypt": envelope["Encrypt"]},
            envelope["MsgSignature"],
            str(envelope["TimeStamp"]),
            envelope["Nonce"],
        )
        return str(opened)


@dataclass(frozen=True)
class Counts:
    pushes: int
    members: int
    events: int


def counts(db: Database) -> Counts:
    """What the inbox has written: pushes, members, timeline events."""
    with db.session_scope() as session:
        return Counts(
            pushes=session.scalar(select(func.count()).select_from(PushReceipt)) or 0,
            members=session.scalar(select(func.count()).select_from(Member)) or 0,
            events=session.scalar(select(func.count()).select_from(TimelineEvent)) or 0,
        )


NOTHING = Counts(0, 0, 0)


# --- pushes with the clock's time ---------------------------------------------------------

_msg_ids = itertools.count(10_000)
_nonces = itertools.count(random.SystemRandom().randrange(10**9, 2 * 10**9))
_earlier = itertools.count(1)  # events dedupe on (sender, CreateTime, Event): one second apart


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
