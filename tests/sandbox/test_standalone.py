"""`siyu sandbox --port P` served alone, as a real process: Pay settles a refund and retries its
notification on its own (no test ticks it), and a world kept with --state-file survives a
restart of the process."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from siyu.wechat import paycrypto
from tests.support.processes import SIYU, Process, free_port, wait_until
from tests.support.sandbox import ACCOUNTS, MP

MCHID = "1900000109"
SERIAL = "ABCDEF0123"
APIV3 = "k" * 32


@dataclass
class Receiver:
    """siyu's notify endpoint as a tiny HTTP server: refuses the first `refuse` notifications."""

    refuse: int = 0
    bodies: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, body: bytes) -> int:
        with self.lock:
            status = 500 if len(self.statuses) < self.refuse else 204
            self.statuses.append(status)
            self.bodies.append(json.loads(body))
            return status

    def opened(self) -> list[dict[str, Any]]:
        with self.lock:
            return [
                json.loads(
                    paycrypto.open_sealed(
                        APIV3,
                        b["resource"]["ciphertext"],
                        b["resource"]["associated_data"],
                        b["resource"]["nonce"],
                    )
                )
                | {"event_type": b["event_type"]}
                for b in self.bodies
            ]


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    found = Receiver()  # acknowledges all until told to refuse

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(found.answer(body))
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield found, f"http://127.0.0.1:{server.server_address[1]}/wechat/pay/notify/{MCHID}"
    server.shutdown()
    server.server_close()


def _sandbox(tmp_path: Path, port: int, *extra: str) -> Process:
    argv = [*SIYU, "sandbox", "--port", str(port), *extra]
    env = {"PATH": "/usr/bin:/bin", "SIYU_ENV": "test"}
    proc = Process("sandbox", argv, env, tmp_path / "sandbox.log").start()

    def up() -> bool:
        assert proc.alive, proc.tail()
        try:
            return httpx.get(f"http://127.0.0.1:{port}/sandbox-admin/accounts").is_success
        except httpx.TransportError:
            return False

    wait_until(up, 30, "the standalone sandbox answering")
    return proc


class Merchant:
    """The merchant's side of v3: signed calls to the sandbox."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.key: rsa.RSAPrivateKey = paycrypto.generate_private_key()

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        raw = "" if body is None else json.dumps(body, ensure_ascii=False)
        auth = paycrypto.authorize(
            self.key,
            mchid=MCHID,
            serial_no=SERIAL,
            method=method,
            path_with_query=path,
            body=raw,
            timestamp=str(int(time.time())),
        )
        return httpx.request(
            method,
            self.base + path,
            content=raw.encode(),
            headers={"Authorization": auth.header(), "Content-Type": "application/json"},
            timeout=10,
        )


def _paid_order(base: str, merchant: Merchant, notify_url: str) -> str:
    """An MP user pays 9.90 for an order; the order's number."""
    admin = f"{base}/sandbox-admin"
    mp = next(spec for spec in ACCOUNTS if spec.appid == MP)
    assert httpx.post(f"{admin}/accounts", json=mp.model_dump(mode="json")).is_success
    spec = {
        "mchid": MCHID,
        "apiv3_key": APIV3,
        "merchant_public_key": paycrypto.public_pem(merchant.key),
        "cert_serial_no": SERIAL,
        "appids": [MP],
    }
    assert httpx.post(f"{admin}/pay/merchants", json=spec).is_success
    uid = httpx.post(f"{admin}/users", json={"count": 1}).json()[0]["uid"]
    touched = httpx.post(f"{admin}/actions", json={"kind": "phone_code", "uid": uid, "appid": MP})
    assert touched.is_success, touched.text  # the user opened the Mini Program: an openid
    openid = httpx.get(f"{admin}/users/{uid}").json()["openids"][MP]
    order = {
        "appid": MP,
        "mchid": MCHID,
        "description": "21 天打卡押金",
        "out_trade_no": "STANDALONE_1",
        "notify_url": notify_url,
        "amount": {"total": 990},
        "payer": {"openid": openid},
    }
    prepay = merchant.call("POST", "/v3/pay/transactions/jsapi", order)
    assert prepay.status_code == 200, prepay.text
    package = f"prepay_id={prepay.json()['prepay_id']}"
    stamp, nonce = str(int(time.time())), paycrypto.nonce()
    params = {
        "appId": MP,
        "timeStamp": stamp,
        "nonceStr": nonce,
        "package": package,
        "signType": "RSA",
        "paySign": paycrypto.pay_sign(merchant.key, MP, stamp, nonce, package),
    }
    paid = httpx.post(f"{admin}/pay/pay", json={"uid": uid, "params": params})
    assert paid.status_code == 200, paid.text
    return "STANDALONE_1"


def test_standalone_sandbox_settles_a_refund_and_retries_its_notification_on_its_own(
    tmp_path: Path, receiver: tuple[Receiver, str]
) -> None:
    # given `siyu sandbox --port P` alone, a paid order, and siyu refusing one notification
    found, notify_url = receiver
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _sandbox(tmp_path, port)
    try:
        merchant = Merchant(base)
        out_trade_no = _paid_order(base, merchant, notify_url)
        wait_until(lambda: len(found.statuses) >= 1, 30, "the payment's notification")
        found.refuse = len(found.statuses) + 1  # the refund's first delivery fails
        # when the merchant asks for a refund through it and nobody ticks
        refund = merchant.call(
            "POST",
            "/v3/refund/domestic/refunds",
            {"out_trade_no": out_trade_no, "out_refund_no": "R_STANDALONE_1",
             "amount": {"refund": 990, "total": 990, "currency": "CNY"}},
        )  # fmt: skip
        assert refund.status_code == 200, refund.text
        assert refund.json()["status"] == "PROCESSING"

        # then the refund reaches SUCCESS on the sandbox's own ticks
        def settled() -> bool:
            answer = merchant.call("GET", "/v3/refund/domestic/refunds/R_STANDALONE_1")
            return bool(answer.json()["status"] == "SUCCESS")

        wait_until(settled, 30, "the refund settling")

        # and its notification, refused once, is retried (WeChat's first retry: 15 s) and lands
        def acknowledged() -> bool:
            with found.lock:
                return found.statuses[-1:] == [204] and len(found.statuses) > found.refuse

        wait_until(acknowledged, 60, "the refund's notification retried and acknowledged")
        refunds = [n for n in found.opened() if n["event_type"] == "REFUND.SUCCESS"]
        assert len(refunds) == 2  # refused once, delivered once
        assert {n["out_refund_no"] for n in refunds} == {"R_STANDALONE_1"}
        assert refunds[-1]["refund_status"] == "SUCCESS"
        assert found.statuses[-2:] == [500, 204]
    finally:
        proc.stop()


def test_standalone_sandbox_with_a_state_file_keeps_its_ledger_across_a_restart(
    tmp_path: Path, receiver: tuple[Receiver, str]
) -> None:
    # given `siyu sandbox --state-file F` with a paid order, stopped with SIGTERM
    _found, notify_url = receiver
    state = tmp_path / "world.json"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    first = _sandbox(tmp_path, port, "--state-file", str(state))
    merchant = Merchant(base)
    try:
        out_trade_no = _paid_order(base, merchant, notify_url)
        ledger = httpx.get(f"{base}/sandbox-admin/pay/merchants/{MCHID}/ledger").json()
        assert first.popen is not None
        first.popen.send_signal(signal.SIGTERM)
        first.popen.wait(20)
    finally:
        first.stop()
    # when it starts again on the same file
    second = _sandbox(tmp_path, port, "--state-file", str(state))
    try:
        # then the ledger is the same and the order can be refunded
        again = httpx.get(f"{base}/sandbox-admin/pay/merchants/{MCHID}/ledger").json()
        assert again == ledger
        assert again["paid_total"] == 990
        refund = merchant.call(
            "POST",
            "/v3/refund/domestic/refunds",
            {"out_trade_no": out_trade_no, "out_refund_no": "R_AFTER_RESTART",
             "amount": {"refund": 990, "total": 990}},
        )  # fmt: skip
        assert refund.status_code == 200, refund.text
    finally:
        second.stop()
