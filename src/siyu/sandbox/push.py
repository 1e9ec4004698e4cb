"""Pushes from WeChat to siyu: XML/JSON bodies, signatures, encryption, retries and replies."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from xml.etree.ElementTree import Element, ParseError

import httpx
from defusedxml.ElementTree import fromstring

from siyu.core import clock
from siyu.sandbox.world import Account
from siyu.wechat.crypto import PushCrypto, PushCryptoError

# WeChat waits 5 s for an answer, then drops the connection and sends the same push again;
# "总共重试三次" — three tries in all (fact sheet §1.4).
PUSH_TIMEOUT = 5.0
PUSH_ATTEMPTS = 3
# What the user sees when the developer's server fails to answer in time or answers garbage.
UNAVAILABLE = "该公众号暂时无法提供服务，请稍后再试"
ENVELOPE_KEYS = ("ToUserName", "FromUserName", "CreateTime", "MsgType")

Value = str | int | list[dict[str, str]]


@dataclass(frozen=True)
class Push:
    """One push about one user; `user_visible` when the user waits in the chat for an answer."""

    account: Account
    openid: str
    fields: dict[str, Value]
    user_visible: bool = True


def message(account: Account, openid: str, at: datetime, msg_type: str, **fields: Value) -> Push:
    base: dict[str, Value] = {
        "ToUserName": account.original_id,
        "FromUserName": openid,
        "CreateTime": int(at.timestamp()),
        "MsgType": msg_type,
    }
    return Push(account, openid, {**base, **fields})


def event(
    account: Account, openid: str, at: datetime, name: str, *, visible: bool = True, **fields: Value
) -> Push:
    push = message(account, openid, at, "event", Event=name, **fields)
    return Push(account, openid, push.fields, visible)


def _cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def render_xml(fields: dict[str, Value]) -> str:
    """WeChat's XML: strings in CDATA, numbers bare; a list becomes repeated `<List>` items
    inside its key (`<SubscribeMsgPopupEvent><List>…</List></SubscribeMsgPopupEvent>`)."""
    parts = ["<xml>"]
    for key, value in fields.items():
        if isinstance(value, list):
            items = "".join(
                "<List>" + "".join(f"<{k}>{_cdata(v)}</{k}>" for k, v in item.items()) + "</List>"
                for item in value
            )
            parts.append(f"<{key}>{items}</{key}>")
        elif isinstance(value, int):
            parts.append(f"<{key}>{value}</{key}>")
        else:
            parts.append(f"<{key}>{_cdata(value)}</{key}>")
    parts.append("</xml>")
    return "".join(parts)


def render_json(fields: dict[str, Value]) -> str:
    """MP JSON pushes carry a list under `List` at the top level."""
    flat = {("List" if isinstance(v, list) else k): v for k, v in fields.items()}
    return json.dumps(flat, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class Envelope:
    params: dict[str, str]
    body: bytes
    content_type: str


def seal(push: Push, timestamp: str, nonce: str) -> Envelope:
    """The request WeChat makes: signed query, and the body plain, compatible or secure."""
    spec = push.account.spec
    as_json = spec.data_format == "json"
    render = render_json if as_json else render_xml
    content_type = "application/json" if as_json else "text/xml"
    crypto = PushCrypto(spec.token, [spec.aes_key], push.account.appid)
    params = {
        "signature": crypto.signature(timestamp, nonce),
        "timestamp": timestamp,
        "nonce": nonce,
        "openid": push.openid,
    }
    plain = render(push.fields)
    if spec.mode == "plain":
        return Envelope(params, plain.encode("utf-8"), content_type)
    encrypt = crypto.encrypt(plain.encode("utf-8"))
    params |= {
        "encrypt_type": "aes",
        "msg_signature": crypto.msg_signature(timestamp, nonce, encrypt),
    }
    head: dict[str, Value] = {"ToUserName": push.account.original_id}
    outer = dict(push.fields) if spec.mode == "compatible" else head
    return Envelope(params, render({**outer, "Encrypt": encrypt}).encode("utf-8"), content_type)


@dataclass(frozen=True)
class Reply:
    """siyu's answer: nothing ("success" or empty), a message, or something WeChat rejects."""

    kind: Literal["none", "message", "invalid"]
    message: dict[str, Any] = field(default_factory=dict)
    reason: str = ""


def _element(node: Element) -> Any:
    if len(node) == 0:
        return node.text or ""
    value: dict[str, Any] = {}
    for child in node:
        item = _element(child)
        if child.tag in value:
            previous = value[child.tag]
            value[child.tag] = [*previous, item] if isinstance(previous, list) else [previous, item]
        else:
            value[child.tag] = item
    return value


def _parse(body: bytes, as_json: bool) -> dict[str, Any]:
    try:
        parsed = json.loads(body) if as_json else _element(fromstring(body))
    except (ParseError, ValueError) as exc:
        raise ValueError(f"unreadable reply: {exc}") from exc
    if not isinstance(parsed, dict):
        raise ValueError("the reply is not an object")
    return parsed


def _decrypt(account: Account, outer: dict[str, Any]) -> bytes:
    spec = account.spec
    crypto = PushCrypto(spec.token, [spec.aes_key], account.appid)
    encrypt = str(outer.get("Encrypt", ""))
    stamp, nonce = str(outer.get("TimeStamp", "")), str(outer.get("Nonce", ""))
    crypto.check_msg_signature(str(outer.get("MsgSignature", "")), stamp, nonce, encrypt)
    return crypto.decrypt(encrypt).message


def open_reply(push: Push, body: bytes) -> Reply:
    """Read a passive reply the way WeChat does; a bad one leaves the user with an error."""
    text = body.strip()
    if text in (b"", b"success"):
        return Reply("none")
    spec = push.account.spec
    as_json = spec.data_format == "json"
    try:
        outer = _parse(text, as_json)
        if "Encrypt" in outer:
            inner = _parse(_decrypt(push.account, outer), as_json)
        elif spec.mode == "secure":
            return Reply("invalid", reason="secure mode needs an encrypted reply")
        else:
            inner = outer
    except (ValueError, PushCryptoError) as exc:
        return Reply("invalid", reason=str(exc))
    if inner.get("ToUserName") != push.openid or not inner.get("MsgType"):
        return Reply("invalid", reason="the reply is not addressed to this user")
    return Reply("message", inner)


@dataclass(frozen=True)
class Delivery:
    attempts: int
    status: int | None = None
    reply: Reply | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.reply is not None and self.reply.kind != "invalid"


class PushClient:
    """Delivers pushes to the push URL of each account, retrying like WeChat."""

    def __init__(self, http: httpx.Client | None = None, attempts: int = PUSH_ATTEMPTS) -> None:
        self.http = http or httpx.Client(timeout=PUSH_TIMEOUT)
        self.attempts = attempts

    def deliver(self, push: Push) -> Delivery:
        url = push.account.spec.push_url
        if not url:
            return Delivery(0, error="the account has no push URL")
        # The signature's timestamp is the moment of sending (real time even while the
        # simulator replays past days); CreateTime inside says when the user acted.
        timestamp = str(int(clock.now().timestamp()))
        envelope = seal(push, timestamp, str(secrets.randbelow(10**10)))
        headers = {"Content-Type": envelope.content_type, "User-Agent": "Mozilla/4.0"}
        error, status = "", None
        for attempt in range(1, self.attempts + 1):
            try:
                response = self.http.post(
                    url,
                    params=envelope.params,
                    content=envelope.body,
                    headers=headers,
                    timeout=PUSH_TIMEOUT,
                )
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
                continue  # same body, same MsgId/CreateTime: siyu must dedupe
            status = response.status_code
            if response.is_success:
                return Delivery(attempt, status, open_reply(push, response.content))
            error = f"HTTP {status}"
        return Delivery(self.attempts, status, None, error)

    def close(self) -> None:
        self.http.close()
