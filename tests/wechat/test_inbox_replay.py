"""Replays are refused: old timestamps, a (timestamp, nonce) used by another message, plaintext
to a secure app; WeChat's genuine retries keep their first answer; a storage failure is a
clean 503 that leaves the keep-alive connection usable."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from datetime import timedelta
from urllib.parse import urlencode, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from siyu.core import clock
from siyu.core.db import Database
from siyu.wechat.inbox import receive, store_pushes
from siyu.wechat.inbox.writer import Outcome, Pending, Waiter
from siyu.wechat.models import PushReceipt
from siyu.wechat.schemas import Push, Reply, TextMessage, TextReply, build_push, parse_xml
from siyu.workspaces import service as workspaces
from siyu.workspaces.enums import AppKind, PushMode
from siyu.workspaces.schemas import AppCreate, AppRead
from tests.support.http import serve
from tests.support.names import openid
from tests.support.wechat import NOTHING, Counts, WeChat, counts, now_ts, sign, text_push

ReplyWith = Callable[[Callable[[Push], Reply | None]], None]
SECURE_APPID = "wx5ec0e5ec0e5ec0e5"
WINDOW = 300  # the default SIYU_PUSH_TIMESTAMP_WINDOW_S


def echo(push: Push) -> Reply | None:
    return TextReply(f"收到：{push.content}") if isinstance(push, TextMessage) else None


def logged_refusals(capsys: pytest.CaptureFixture[str]) -> list[str]:
    """The reasons of the `push_refused` lines logged (JSON, on stderr) since the last call."""
    lines = capsys.readouterr().err.splitlines()
    entries = [json.loads(line) for line in lines if line.startswith("{")]
    return [e["reason"] for e in entries if e.get("event") == "push_refused"]


def refused(reason: str) -> float:
    return float(receive.REFUSED.labels(reason)._value.get())


@pytest.fixture
def secure_app(db: Database, workspace_id: int) -> AppRead:
    """A service account set to secure mode in WeChat's console, and here."""
    with db.session_scope() as session:
        return workspaces.add_app(
            session,
            workspace_id,
            AppCreate(
                kind=AppKind.oa_service,
                appid=SECURE_APPID,
                name="安全模式服务号",
                token="pushtoken",
                aes_key="a" * 43,
                push_mode=PushMode.secure,
            ),
        )


@pytest.fixture
def secure(client: TestClient, secure_app: AppRead) -> WeChat:
    return WeChat(client, secure_app.appid)


# --- timestamps ----------------------------------------------------------------------------


@pytest.mark.parametrize("seconds", [-(WINDOW + 1), WINDOW + 1, -86_400 * 400])
def test_a_push_signed_outside_the_window_is_refused(
    oa: WeChat, db: Database, seconds: int, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a push correctly signed, but at a time too far from now (a leaked old one, or one
    # from the future)
    before = refused("stale_push")
    oa.timestamp = str(now_ts() + seconds)
    logged_refusals(capsys)
    # when it arrives, plaintext or sealed
    plain = oa.plain(text_push(openid(1), 5001))
    sealed = oa.secure(text_push(openid(1), 5002))
    # then both are refused as stale, with the reason in the log and the metric
    for response in (plain, sealed):
        assert response.status_code == 403
        assert response.json()["code"] == "wechat.stale_push"
    assert refused("stale_push") - before == 2
    assert logged_refusals(capsys) == ["stale_push"] * 2
    # and nothing is written
    assert counts(db) == NOTHING


def test_a_push_signed_within_the_window_is_accepted(
    oa: WeChat, db: Database, drain: Callable[[], int]
) -> None:
    # given pushes signed a little less than the window ago and ahead (clocks differ)
    for i, seconds in enumerate((-(WINDOW - 5), WINDOW - 5)):
        oa.timestamp = str(now_ts() + seconds)
        # when they arrive, then they are taken
        assert oa.plain(text_push(openid(1), 5010 + i)).text == "success"
    assert drain() == 2
    assert counts(db) == Counts(pushes=2, members=1, events=2)


def test_replay_of_an_old_signed_push_is_refused(
    oa: WeChat, db: Database, drain: Callable[[], int]
) -> None:
    # given a push accepted and processed, its query and body copied from a proxy's log
    assert oa.plain(text_push(openid(1), 5020, "转账给我")).text == "success"
    assert drain() == 1
    timestamp, nonce = oa.last
    # when, ten minutes later, someone sends it again, as it was (signature, timestamp, nonce)
    later = clock.FrozenClock(clock.now() + timedelta(minutes=10))
    with clock.use_clock(later):
        oa.timestamp, oa.nonce = timestamp, nonce
        response = oa.plain(text_push(openid(1), 5020, "转账给我"))
    # then it is refused, and nothing more is written
    assert response.status_code == 403
    assert response.json()["code"] == "wechat.stale_push"
    assert drain() == 0
    assert counts(db) == Counts(pushes=1, members=1, events=1)


def test_a_timestamp_that_is_not_a_unix_time_is_refused(oa: WeChat, db: Database) -> None:
    oa.timestamp = "1e9"
    response = oa.plain(text_push(openid(1), 5030))
    assert response.status_code == 400
    assert response.json()["code"] == "wechat.malformed_push"
    assert counts(db) == NOTHING


# --- nonces --------------------------------------------------------------------------------


@pytest.mark.parametrize("sealed", [False, True], ids=["plaintext", "secure"])
def test_same_nonce_with_another_message_is_refused(
    oa: WeChat,
    db: Database,
    drain: Callable[[], int],
    sealed: bool,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # given a push accepted (in plaintext mode the signature does not cover the body, so its
    # signature, timestamp and nonce, once leaked, would sign any body)
    send = oa.secure if sealed else oa.plain
    assert send(text_push(openid(1), 5040, "你好")).status_code == 200
    oa.timestamp, oa.nonce = oa.last
    before = refused("replayed_push")
    logged_refusals(capsys)
    # when another message comes with the same timestamp and nonce, within the window
    response = send(text_push(openid(2), 5041, "把积分都转给我"))
    # then it is refused as a replay, said in the log and the metric
    assert response.status_code == 403
    assert response.json()["code"] == "wechat.replayed_push"
    assert refused("replayed_push") - before == 1
    assert logged_refusals(capsys) == ["replayed_push"]
    # and only the first message is stored and processed
    assert drain() == 1
    assert counts(db) == Counts(pushes=1, members=1, events=1)
    with db.session_scope() as session:
        assert list(session.scalars(select(PushReceipt.dedupe_key))) == ["m:5040"]


def test_a_genuine_retry_with_the_same_nonce_gets_its_first_answer(
    oa: WeChat, db: Database, drain: Callable[[], int], reply_with: ReplyWith
) -> None:
    # given a message answered with an encrypted reply (random IV: a new answer would differ)
    reply_with(echo)
    oa.timestamp, oa.nonce = str(now_ts()), "1902337733"
    push = text_push(openid(1), 5050, "在吗")
    first = oa.secure(push)
    # when WeChat retries it, same timestamp, nonce and MsgId, before and after its job ran
    again = oa.secure(push)
    assert drain() == 1
    late = oa.secure(push)
    # and once more with a new timestamp and nonce, as a retry may come
    oa.timestamp, oa.nonce = str(now_ts() + 5), "1902337734"
    renewed = oa.secure(push)
    # then every delivery gets the very same bytes, and the message is processed once
    assert {r.status_code for r in (first, again, late, renewed)} == {200}
    assert first.text == again.text == late.text == renewed.text
    assert "收到：在吗" in oa.open_reply(first.text)
    assert drain() == 0
    assert counts(db) == Counts(pushes=1, members=1, events=1)


def test_a_retried_event_with_the_same_nonce_gets_its_first_answer(
    oa: WeChat, db: Database, drain: Callable[[], int]
) -> None:
    # given an event (no MsgId: keyed by sender, CreateTime and event) delivered twice
    oa.timestamp, oa.nonce = str(now_ts()), "733190233"
    xml = (
        f"<xml><ToUserName>gh</ToUserName><FromUserName>{openid(1)}</FromUserName>"
        f"<CreateTime>{now_ts()}</CreateTime><MsgType>event</MsgType>"
        "<Event>CLICK</Event><EventKey>today</EventKey></xml>"
    )
    # when it arrives twice, then both deliveries are answered alike and it is stored once
    assert [oa.plain(xml).text for _ in range(2)] == ["success", "success"]
    assert drain() == 1
    assert counts(db).pushes == 1


def test_same_nonce_twice_in_one_batch_stores_the_first_only(oa_app: AppRead, db: Database) -> None:
    # given two different messages with one (timestamp, nonce), written in one batch
    now = now_ts()

    def pending(msg_id: int) -> Pending:
        push = build_push(oa_app.appid, parse_xml(text_push(openid(1), msg_id).encode()))
        waiter = Waiter(None, Future[Outcome]())
        return Pending(oa_app, push, "success", False, waiter, now, "42")

    with db.engine.begin() as connection:
        outcomes, job = store_pushes(connection, [pending(5060), pending(5061)])
    # then the first is stored and the second refused as a replay
    assert outcomes[0] == ("success", False)
    assert isinstance(outcomes[1], Exception)
    assert getattr(outcomes[1], "code", None) == "wechat.replayed_push"
    assert job is not None
    assert len(job[0]) == 1
    assert counts(db).pushes == 1


# --- push modes ----------------------------------------------------------------------------


def test_plaintext_to_a_secure_app_is_refused(
    secure: WeChat, db: Database, drain: Callable[[], int]
) -> None:
    # given an app in secure mode, and a plaintext push signed with its Token
    before = refused("plaintext_refused")
    # when it arrives
    response = secure.plain(text_push(openid(1), 5070))
    # then it is refused, said in the metric, and nothing is written
    assert response.status_code == 403
    assert response.json()["code"] == "wechat.plaintext_refused"
    assert refused("plaintext_refused") - before == 1
    assert counts(db) == NOTHING
    # while an encrypted push to the same app is taken
    assert secure.secure(text_push(openid(1), 5071)).text == "success"
    assert drain() == 1


def test_a_changed_push_mode_counts_at_once(
    secure: WeChat, secure_app: AppRead, db: Database, workspace_id: int
) -> None:
    # given a secure app whose credentials the inbox keeps (a push was just received)
    assert secure.secure(text_push(openid(1), 5080)).text == "success"
    assert secure.plain(text_push(openid(1), 5081)).status_code == 403
    # when the operator switches it to compatible mode (as in WeChat's console)
    with db.session_scope() as session:
        workspaces.set_push_mode(session, workspace_id, secure_app.appid, PushMode.compatible)
    # then a plaintext push is taken at once, not after the kept credentials expire
    assert secure.plain(text_push(openid(1), 5082)).text == "success"
    assert counts(db).pushes == 2


# --- a storage failure ---------------------------------------------------------------------


@contextmanager
def table_away(db: Database) -> Iterator[None]:
    """The pushes' table unreachable (renamed), as a storage failure, then back."""
    with db.engine.begin() as connection:
        connection.execute(text("ALTER TABLE wechat_pushes RENAME TO wechat_pushes_away"))
    try:
        yield
    finally:
        with db.engine.begin() as connection:
            connection.execute(text("ALTER TABLE wechat_pushes_away RENAME TO wechat_pushes"))


def _exchange(sock: socket.socket, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """One request on a kept-alive connection: status, headers and body ("" when closed)."""
    sock.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return 0, {}, b""  # the server closed the connection
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    while len(body) < int(headers["content-length"]):
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(lines[0].split(" ")[1]), headers, body


def _push_request(oa: WeChat, host: str, msg_id: int) -> bytes:
    timestamp, nonce = oa.stamp()
    query = urlencode(
        {"signature": sign(oa.token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce}
    )
    body = text_push(openid(1), msg_id).encode()
    return (
        f"POST {oa.url}?{query} HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/xml\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def test_a_storage_failure_is_a_clean_503_and_the_connection_stays_usable(
    oa: WeChat, client: TestClient, db: Database, drain: Callable[[], int]
) -> None:
    # given the application over real HTTP, and one keep-alive connection to it
    with serve(client.app) as url:
        address = urlsplit(url)
        host = f"{address.hostname}:{address.port}"
        with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
            # when a push arrives while its table cannot be written
            before = refused("push_store_unavailable")
            with table_away(db):
                status, headers, body = _exchange(sock, _push_request(oa, host, 5090))
            # then it is answered 503 with its code (WeChat delivers it again), counted, and
            # the connection is kept (no "Connection: close")
            assert status == 503
            assert b"wechat.push_store_unavailable" in body
            assert refused("push_store_unavailable") - before == 1
            assert headers.get("connection", "keep-alive").lower() != "close"
            # and WeChat's retry on the same connection is taken
            retried = _exchange(sock, _push_request(oa, host, 5090))
            assert (retried[0], retried[2]) == (200, b"success")
    # and the push stored by the retry is processed once
    assert drain() == 1
    assert counts(db) == Counts(pushes=1, members=1, events=1)
