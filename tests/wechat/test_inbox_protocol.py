"""The push endpoint speaks WeChat's protocol: URL check, plaintext, compatible and secure modes.

Official documentation vectors (fact sheet §8.1) first; then pushes sealed by wechatpy, an
implementation none of us wrote, which also opens our encrypted replies.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

import pytest
import xmltodict
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select
from starlette.routing import Route
from starlette.types import Message, Scope

from siyu.core import clock
from siyu.core.clock import FrozenClock
from siyu.core.db import Database
from siyu.wechat.models import PushReceipt, PushStatus
from siyu.wechat.schemas import Push, TextMessage, TextReply
from siyu.workspaces import service as workspaces
from siyu.workspaces.enums import AppKind, PushMode
from siyu.workspaces.schemas import AppCreate, AppRead
from tests.support.names import openid
from tests.support.wechat import NOTHING, WeChat, counts, text_push

DOC_APPID = "wxba5fad812f8e6fb9"
DOC_TOKEN = "AAAAA"
DOC_AES_KEY = "A" * 43
DOC_OPENID = "o9AgO5Kd5ggOC-bXrbNODIiE3bGY"
DOC_ENCRYPT = (
    "+qdx1OKCy+5JPCBFWw70tm0fJGb2Jmeia4FCB7kao+/Q5c/ohsOzQHi8khUOb05JCpj0JB4RvQMkUyus8TPxLKJGQ"
    "qcvZqzDpVzazhZv6JsXUnnR8XGT740XgXZUXQ7vJVnAG+tE8NUd4yFyjPy7GgiaviNrlCTj+l5kdfMuFUPpRSrfMZ"
    "uMcp3Fn2Pede2IuQrKEYwKSqFIZoNqJ4M8EajAsjLY2km32IIjdf8YL/P50F7mStwntrA2cPDrM1kb6mOcfBgRtWy"
    "gb3VIYnSeOBrebufAlr7F9mFUPAJGj04="
)
ReplyWith = Callable[[Callable[[Push], TextReply | None]], None]


@pytest.fixture
def doc_app(db: Database, workspace_id: int) -> AppRead:
    """The app of the official message-push documentation's examples (which show both a
    plaintext and a secure push: compatible mode)."""
    with db.session_scope() as session:
        app = workspaces.add_app(
            session,
            workspace_id,
            AppCreate(
                kind=AppKind.mp,
                appid=DOC_APPID,
                name="文档示例",
                token=DOC_TOKEN,
                aes_key=DOC_AES_KEY,
                push_mode=PushMode.compatible,
            ),
        )
    return app


def signed_at(timestamp: str) -> AbstractContextManager[clock.Clock]:
    """The clock at a documentation vector's timestamp (April 2024): else its push would be
    refused as a replay of an old one."""
    return clock.use_clock(FrozenClock(datetime.fromtimestamp(int(timestamp), UTC)))


def echo(push: Push) -> TextReply | None:
    return TextReply(f"收到：{push.content}") if isinstance(push, TextMessage) else None


def stored(db: Database) -> list[PushReceipt]:
    with db.session_scope() as session:
        return list(session.scalars(select(PushReceipt).order_by(PushReceipt.id)))


# --- official vectors ----------------------------------------------------------------------


def test_a_push_is_matched_by_the_first_route_of_all(client: TestClient) -> None:
    # given the application's routes, which are matched in order
    routes = client.app.router.routes  # type: ignore[attr-defined]
    # then a push meets its own route first, before the documentation's and every router's
    first = routes[0]
    assert isinstance(first, Route)
    assert not isinstance(first, APIRoute)
    assert (first.path, first.methods) == ("/wechat/push/{appid}", {"POST"})
    # and the URL check is a route of the application itself, ahead of every router
    first_router = next(i for i, r in enumerate(routes) if not isinstance(r, Route))
    checks = [r for r in routes[:first_router] if isinstance(r, APIRoute)]
    assert ("/wechat/push/{appid}", {"GET"}) in [(r.path, r.methods) for r in checks]


def test_a_push_is_labelled_by_its_route_in_the_latency_metric(
    client: TestClient, oa_app: AppRead
) -> None:
    # given a push refused for want of a signature
    response = client.post(f"/wechat/push/{oa_app.appid}", content=b"<xml/>")
    assert response.json()["code"] == "wechat.bad_signature"
    # then its latency is counted under its route, not as unmatched
    metrics = client.get("/metrics").text
    assert 'method="POST",route="/wechat/push/{appid}",status="401"' in metrics


def test_url_check_answers_echostr(client: TestClient, doc_app: AppRead, db: Database) -> None:
    # given WeChat's documented URL check
    params = {
        "signature": "f464b24fc39322e44b38aa78f5edd27bd1441696",
        "timestamp": "1714036504",
        "nonce": "1514711492",
        "echostr": "4375120948345356249",
    }
    # when it arrives
    response = client.get(f"/wechat/push/{DOC_APPID}", params=params)
    # then the echostr comes back unchanged as plain text, and nothing is stored
    assert response.status_code == 200
    assert response.text == "4375120948345356249"
    assert response.headers["content-type"].startswith("text/plain")
    assert counts(db) == NOTHING


def test_url_check_with_a_wrong_signature_is_refused(client: TestClient, doc_app: AppRead) -> None:
    params = {"signature": "0" * 40, "timestamp": "1714036504", "nonce": "1", "echostr": "42"}
    response = client.get(f"/wechat/push/{DOC_APPID}", params=params)
    assert response.status_code == 401
    assert response.json()["code"] == "wechat.bad_signature"


def test_plaintext_json_push_of_the_documentation(
    client: TestClient, doc_app: AppRead, db: Database, drain: Callable[[], int]
) -> None:
    # given the documented plaintext-mode push (an MP JSON event)
    body = (
        '{"ToUserName":"gh_97417a04a28d","FromUserName":"o9AgO5Kd5ggOC-bXrbNODIiE3bGY",'
        '"CreateTime":1714037059,"MsgType":"event","Event":"debug_demo","debug_str":"hello world"}'
    )
    params = {
        "signature": "899cf89e464efb63f54ddac96b0a0a235f53aa78",
        "timestamp": "1714037059",
        "nonce": "486452656",
    }
    # when it arrives, at the time it was signed
    with signed_at(params["timestamp"]):
        response = client.post(f"/wechat/push/{DOC_APPID}", params=params, content=body)
    # then it is acknowledged with "success" and stored once, keyed by sender, time and event
    assert response.status_code == 200
    assert response.text == "success"
    [row] = stored(db)
    assert row.dedupe_key == f"e:{DOC_OPENID}:1714037059:debug_demo"
    assert (row.msg_type, row.event, row.openid) == ("event", "debug_demo", DOC_OPENID)
    assert json.loads(row.payload)["push"]["debug_str"] == "hello world"
    # and its job processes it: an event nobody knows makes no member and no timeline entry
    assert drain() == 1
    [row] = stored(db)
    assert row.status == PushStatus.processed
    assert row.member_id is None


def test_secure_json_push_of_the_documentation(
    client: TestClient, doc_app: AppRead, db: Database
) -> None:
    # given the documented secure-mode push, with every URL parameter WeChat sends
    params = {
        "signature": "6c5c811b55cc85e0e1b54100749188c20beb3f5d",
        "timestamp": "1714112445",
        "nonce": "415670741",
        "openid": DOC_OPENID,
        "encrypt_type": "aes",
        "msg_signature": "046e02f8204d34f8ba5fa3b1db94908f3df2e9b3",
    }
    body = json.dumps({"ToUserName": "gh_97417a04a28d", "Encrypt": DOC_ENCRYPT})
    # when it arrives, at the time it was signed
    with signed_at(params["timestamp"]):
        response = client.post(f"/wechat/push/{DOC_APPID}", params=params, content=body)
    # then it opens to the documented message, which is stored
    assert response.status_code == 200
    assert response.text == "success"
    [row] = stored(db)
    assert row.dedupe_key == f"e:{DOC_OPENID}:1714112445:debug_demo"
    assert json.loads(row.payload)["push"]["debug_str"] == "hello world"


# --- pushes sealed by wechatpy -------------------------------------------------------------


def test_secure_xml_message_gets_an_encrypted_reply_wechatpy_opens(
    oa: WeChat, db: Database, reply_with: ReplyWith
) -> None:
    # given a handler that answers text, and a secure-mode text message sealed by wechatpy
    reply_with(echo)
    # when it arrives
    response = oa.secure(text_push(openid(1), 7001, "在吗"))
    # then the reply is an encrypted envelope that wechatpy verifies and opens
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    reply = xmltodict.parse(oa.open_reply(response.text))["xml"]
    assert reply["MsgType"] == "text"
    assert reply["Content"] == "收到：在吗"
    assert (reply["ToUserName"], reply["FromUserName"]) == (openid(1), "gh_e136c6e50636")
    # and the exact answer is stored with the push
    [row] = stored(db)
    assert row.reply == response.text
    assert row.dedupe_key == "m:7001"


def test_plaintext_xml_message_gets_a_plain_reply(
    oa: WeChat, db: Database, reply_with: ReplyWith
) -> None:
    reply_with(echo)
    response = oa.plain(text_push(openid(1), 7002, "a]]>b"))
    assert response.status_code == 200
    reply = xmltodict.parse(response.text)["xml"]
    assert reply["Content"] == "收到：a]]>b"  # CDATA's terminator survives the round trip


def test_compatible_mode_uses_the_encrypted_copy(
    oa: WeChat, db: Database, reply_with: ReplyWith
) -> None:
    # given a compatible-mode push: plaintext fields beside Encrypt, and they disagree
    reply_with(echo)
    inner = text_push(openid(1), 7003, "真的")
    response = oa.secure(inner, compatible={"MsgType": "text", "Content": "假的", "MsgId": 1})
    # then only the authenticated, encrypted copy counts
    assert response.status_code == 200
    assert "收到：真的" in oa.open_reply(response.text)
    assert [r.dedupe_key for r in stored(db)] == ["m:7003"]


def test_json_mp_push_gets_a_json_envelope(mp: WeChat, db: Database, reply_with: ReplyWith) -> None:
    reply_with(echo)
    message = json.dumps(
        {
            "ToUserName": "gh_97417a04a28d",
            "FromUserName": openid(2),
            "CreateTime": 1714112445,
            "MsgType": "text",
            "Content": "hi",
            "MsgId": 23637352235060880,
        }
    )
    response = mp.secure(message, fmt="json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    reply = json.loads(mp.open_reply(response.text))
    assert (reply["MsgType"], reply["Content"]) == ("text", "收到：hi")
    assert [r.dedupe_key for r in stored(db)] == ["m:23637352235060880"]


def test_previous_aes_key_still_opens_and_seals_the_reply(
    oa: WeChat, oa_app: AppRead, db: Database, reply_with: ReplyWith
) -> None:
    # given the app's EncodingAESKey was just changed, and WeChat still uses the old one
    reply_with(echo)
    new_key = base64.b64encode(b"n" * 32).decode()[:43]
    with db.session_scope() as session:
        workspaces.rotate_aes_key(session, oa_app.appid, new_key)
    # when pushes sealed with the old and with the new key arrive
    old = oa.secure(text_push(openid(1), 8001, "old"), aes_key=oa.aes_key)
    new = oa.secure(text_push(openid(1), 8002, "new"), aes_key=new_key)
    # then both are accepted, each answered under the key that opened it
    assert (old.status_code, new.status_code) == (200, 200)
    assert "收到：old" in oa.open_reply(old.text, aes_key=oa.aes_key)
    assert "收到：new" in oa.open_reply(new.text, aes_key=new_key)
    assert len(stored(db)) == 2


def test_success_needs_no_encryption(oa: WeChat, db: Database) -> None:
    response = oa.secure(text_push(openid(1), 7004))
    assert response.status_code == 200
    assert response.text == "success"
    assert response.headers["content-type"].startswith("text/plain")


# --- refusals: status, code, and nothing written -------------------------------------------


def test_unknown_appid_is_404(client: TestClient, db: Database, oa_app: AppRead) -> None:
    wechat = WeChat(client, "wx9999999999999999")
    assert client.get(wechat.url, params={"echostr": "1"}).status_code == 404
    response = wechat.plain(text_push(openid(1), 1))
    assert response.status_code == 404
    assert response.json()["code"] == "workspaces.unknown_app"
    assert counts(db) == NOTHING


def test_app_without_a_token_takes_no_pushes(
    client: TestClient, db: Database, workspace_id: int
) -> None:
    with db.session_scope() as session:
        workspaces.add_app(
            session,
            workspace_id,
            AppCreate(kind=AppKind.oa_service, appid="wxbbbbbbbbbbbbbbbb", name="未配置"),
        )
    response = WeChat(client, "wxbbbbbbbbbbbbbbbb").plain(text_push(openid(1), 1))
    assert response.status_code == 404
    assert response.json()["code"] == "wechat.push_not_configured"
    assert counts(db) == NOTHING


@pytest.mark.parametrize(
    "tamper",
    [
        {"signature": "0" * 40},
        {"signature": ""},
        {"timestamp": ""},
    ],
)
def test_plaintext_push_with_a_bad_signature_is_401(
    oa: WeChat, db: Database, tamper: dict[str, str]
) -> None:
    response = oa.plain(text_push(openid(1), 1), **tamper)
    assert response.status_code == 401
    assert response.json()["code"] == "wechat.bad_signature"
    assert counts(db) == NOTHING


def test_secure_push_with_a_bad_msg_signature_is_401(oa: WeChat, db: Database) -> None:
    # given a push sealed with another Token: its msg_signature cannot match ours
    stranger = WeChat(oa.client, oa.appid, token="another-token")
    response = stranger.secure(text_push(openid(1), 1))
    assert response.status_code == 401
    assert response.json()["code"] == "wechat.bad_signature"
    assert counts(db) == NOTHING


def test_push_sealed_for_another_appid_is_400(oa: WeChat, db: Database) -> None:
    # given a correctly signed push whose encrypted payload names another appid
    stranger = WeChat(oa.client, oa.appid)
    stranger.appid = "wx0000000000000000"
    params, body = stranger.sealed(text_push(openid(1), 1))
    response = oa.client.post(oa.url, params=params, content=body)
    assert response.status_code == 400
    assert response.json()["code"] == "wechat.appid_mismatch"
    assert counts(db) == NOTHING


def test_push_under_an_unknown_aes_key_is_400(oa: WeChat, db: Database) -> None:
    response = oa.secure(text_push(openid(1), 1), aes_key="b" * 43)
    assert response.status_code == 400
    assert response.json()["code"] == "wechat.undecryptable"
    assert counts(db) == NOTHING


BOMB = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
    "<xml><Content>&lol2;</Content></xml>"
)
EXTERNAL = (
    '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
    "<xml><Content>&e;</Content></xml>"
)
MALFORMED = [
    pytest.param("<xml><ToUserName>gh", id="unclosed-xml"),
    pytest.param(BOMB, id="entity-expansion"),
    pytest.param(EXTERNAL, id="external-entity"),
    pytest.param("<root><MsgType>text</MsgType></root>", id="wrong-root"),
    pytest.param("<xml>text</xml>", id="no-fields"),
    pytest.param("<xml><MsgType>text</MsgType></xml>", id="missing-fields"),
    pytest.param("<xml>" + "<a>" * 50 + "x" + "</a>" * 50 + "</xml>", id="deep-nesting"),
    pytest.param('{"MsgType": "text"', id="broken-json"),
    pytest.param("[1, 2]", id="json-array"),
    pytest.param('{"ToUserName":"gh","FromUserName":"o1234567","MsgType":"text"}', id="no-time"),
    pytest.param(
        '{"ToUserName":"gh","FromUserName":"o1234567","CreateTime":"soon","MsgType":"text"}',
        id="bad-time",
    ),
    pytest.param(
        '{"ToUserName":"gh","FromUserName":"o 1","CreateTime":1,"MsgType":"text"}',
        id="bad-sender",
    ),
    pytest.param(
        '{"ToUserName":"gh","FromUserName":{"a":1},"CreateTime":1,"MsgType":"text"}',
        id="structured-sender",
    ),
    pytest.param("hello", id="neither"),
    pytest.param("", id="empty"),
    pytest.param(b"\xff\xfe<\x00x\x00", id="bad-encoding"),
]


@pytest.mark.parametrize("body", MALFORMED)
def test_malformed_plaintext_push_is_400(oa: WeChat, db: Database, body: str | bytes) -> None:
    response = oa.plain(body)
    assert response.status_code == 400
    assert response.json()["code"] == "wechat.malformed_push"
    assert counts(db) == NOTHING


@pytest.mark.parametrize("body", MALFORMED)
def test_malformed_encrypted_push_is_400(oa: WeChat, db: Database, body: str | bytes) -> None:
    # given a correctly sealed and signed message whose content is malformed
    message = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    response = oa.secure(message) if message else oa.plain("<xml><Encrypt></Encrypt></xml>")
    assert response.status_code == 400
    assert response.json()["code"] == "wechat.malformed_push"
    assert counts(db) == NOTHING


def test_encrypted_push_without_encrypt_is_400(oa: WeChat, db: Database) -> None:
    params = {"timestamp": "1", "nonce": "2", "encrypt_type": "aes", "msg_signature": "x"}
    response = oa.client.post(
        oa.url, params=params, content="<xml><ToUserName>g</ToUserName></xml>"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "wechat.malformed_push"
    assert counts(db) == NOTHING


def test_unknown_encrypt_type_is_400(oa: WeChat, db: Database) -> None:
    response = oa.plain(text_push(openid(1), 1), encrypt_type="rot13")
    assert response.status_code == 400
    assert counts(db) == NOTHING


def test_body_over_one_megabyte_is_413(oa: WeChat, db: Database) -> None:
    big = text_push(openid(1), 1, "x" * (1024 * 1024))
    response = oa.plain(big)
    assert response.status_code == 413
    assert response.json()["code"] == "request.too_large"
    assert counts(db) == NOTHING


def test_chunked_body_over_one_megabyte_is_413(oa: WeChat, db: Database) -> None:
    # given a body streamed without a Content-Length, so the middleware cannot see its size
    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b"x" * 65536

    response = oa.client.post(
        oa.url,
        params={"signature": "x", "timestamp": "1", "nonce": "2"},
        content=chunks(),
    )
    assert response.status_code == 413
    assert counts(db) == NOTHING


def test_a_sender_gone_mid_body_is_400_and_nothing_is_stored(oa: WeChat, db: Database) -> None:
    # given a push whose sender goes away after the first part of its body
    body = text_push(openid(1), 1).encode()
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": body[:20], "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return messages.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    async def call(scope: Scope) -> None:
        await oa.client.app(scope, receive, send)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": f"/wechat/push/{oa.appid}",
        "raw_path": f"/wechat/push/{oa.appid}".encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"text/xml")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    # when it reaches the endpoint
    asyncio.run(call(scope))
    # then it is refused as incomplete, not a 500, and nothing is written
    assert sent[0]["status"] == 400
    assert json.loads(sent[1]["body"])["code"] == "request.incomplete"
    assert counts(db) == NOTHING


def test_push_under_one_megabyte_is_accepted(oa: WeChat, db: Database) -> None:
    response = oa.plain(text_push(openid(1), 1, "x" * (1000 * 1000)))
    assert response.status_code == 200
    assert counts(db).pushes == 1


def test_a_key_changed_while_pushes_flow_counts_at_once(
    oa: WeChat, oa_app: AppRead, db: Database, reply_with: ReplyWith
) -> None:
    # given pushes already flowing (the app's credentials are kept in memory)
    reply_with(echo)
    assert oa.secure(text_push(openid(1), 8101)).status_code == 200
    # when the EncodingAESKey is changed and WeChat switches to the new one at once
    new_key = base64.b64encode(b"m" * 32).decode()[:43]
    with db.session_scope() as session:
        workspaces.rotate_aes_key(session, oa_app.appid, new_key)
    response = oa.secure(text_push(openid(1), 8102, "new"), aes_key=new_key)
    # then the push is opened with the new key, and answered under it
    assert response.status_code == 200
    assert "收到：new" in oa.open_reply(response.text, aes_key=new_key)
