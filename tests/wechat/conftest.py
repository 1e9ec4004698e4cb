"""WeChat's side of the push protocol, played by wechatpy, and a private job queue per test."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import xmltodict
from fastapi.testclient import TestClient
from huey.storage import MemoryStorage
from sqlalchemy import func, select
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import WeChatSigner

from siyu.core.db import Database
from siyu.core.jobs import queue
from siyu.identity.models import Member, TimelineEvent
from siyu.wechat import inbox
from siyu.wechat.models import PushReceipt
from siyu.wechat.schemas import Push, Reply
from siyu.workspaces.schemas import AppRead

TOKEN = "pushtoken"  # what tests/conftest.py gives mp_app and oa_app
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
    """Delivers signed (and, in secure mode, wechatpy-encrypted) pushes to one app."""

    client: TestClient
    appid: str
    token: str = TOKEN
    aes_key: str = AES_KEY
    timestamp: str = "1714112445"
    nonce: str = "415670741"
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"/wechat/push/{self.appid}"

    def plain(self, body: str | bytes, **params: str) -> httpx.Response:
        query = {
            "signature": sign(self.token, self.timestamp, self.nonce),
            "timestamp": self.timestamp,
            "nonce": self.nonce,
            "openid": "o9AgO5Kd5ggOC-bXrbNODIiE3bGY",
            **params,
        }
        return self.client.post(self.url, params=query, content=body)

    def seal(self, message: str, *, aes_key: str | None = None) -> tuple[str, str]:
        """(Encrypt, msg_signature) of a message, made by wechatpy."""
        crypto = WeChatCrypto(self.token, aes_key or self.aes_key, self.appid)
        envelope = xmltodict.parse(crypto.encrypt_message(message, self.nonce, self.timestamp))
        return envelope["xml"]["Encrypt"], envelope["xml"]["MsgSignature"]

    def sealed(self, message: str) -> tuple[dict[str, str], bytes]:
        """The query and XML body of a secure-mode push, for calling the inbox directly."""
        encrypt, msg_signature = self.seal(message)
        params = {
            "timestamp": self.timestamp,
            "nonce": self.nonce,
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
    ) -> httpx.Response:
        encrypt, msg_signature = self.seal(message, aes_key=aes_key)
        fields = {"ToUserName": GH_ID, **(compatible or {}), "Encrypt": encrypt}
        body = cdata_xml(fields) if fmt == "xml" else json.dumps(fields)
        query = {
            "signature": sign(self.token, self.timestamp, self.nonce),
            "timestamp": self.timestamp,
            "nonce": self.nonce,
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


@pytest.fixture
def client(app_client: TestClient) -> Iterator[TestClient]:
    """The application with its job queue in memory, private to this test."""
    previous = queue.storage
    queue.storage = MemoryStorage(f"siyu-test-{uuid.uuid4().hex[:8]}")
    try:
        yield app_client
    finally:
        queue.storage = previous


@pytest.fixture
def drain(client: TestClient) -> Callable[[], int]:
    """Run every queued job (the push processing jobs) in this thread; how many ran."""

    def run() -> int:
        ran = 0
        while (task := queue.dequeue()) is not None:
            queue.execute(task)
            ran += 1
        return ran

    return run


@pytest.fixture
def oa(client: TestClient, oa_app: AppRead) -> WeChat:
    return WeChat(client, oa_app.appid)


@pytest.fixture
def mp(client: TestClient, mp_app: AppRead) -> WeChat:
    return WeChat(client, mp_app.appid)


@pytest.fixture
def reply_with() -> Iterator[Callable[[Callable[[Push], Reply | None]], None]]:
    """Install a passive-reply handler for this test only."""
    installed: list[inbox.ReplyHandler] = []

    def install(answer: Callable[[Push], Reply | None]) -> None:
        def handler(_session: Any, _app: AppRead, push: Push) -> Reply | None:
            return answer(push)

        inbox.register_reply_handler(handler)
        installed.append(handler)

    yield install
    for handler in installed:
        inbox.unregister_reply_handler(handler)


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
