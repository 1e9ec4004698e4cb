"""Notifications: verified against WeChat Pay's key, opened with the APIv3 key, applied once."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any, cast

import httpx
import pytest
from sqlalchemy import select, text
from wechatpayv3 import WeChatPay, WeChatPayType

from siyu.wechat import paycrypto
from siyu.wechat.pay.models import PayNotificationLog, PayOrder
from tests.support.names import MP_APPID
from tests.support.pay import MCHID, PayEnv


def resource_of(env: PayEnv, order_no: str, total: int, **extra: Any) -> dict[str, Any]:
    return {
        "mchid": MCHID,
        "appid": MP_APPID,
        "out_trade_no": order_no,
        "transaction_id": "4200000000202611200000000001",
        "trade_type": "JSAPI",
        "trade_state": "SUCCESS",
        "success_time": "2026-11-20T10:00:00+08:00",
        "payer": {"openid": env.openid},
        "amount": {"total": total, "payer_total": total, "currency": "CNY"},
        **extra,
    }


def test_a_payment_is_applied_once_however_often_it_is_notified(pay_env: PayEnv) -> None:
    # given an order the member pays; the sandbox notifies siyu
    order = pay_env.order(990)
    notification = pay_env.pay_order(order)
    # then the order is paid, with one pay.paid on the member's timeline
    [paid] = pay_env.events("pay.paid")
    assert paid.member_id == pay_env.member_id
    assert paid.props["out_trade_no"] == order.out_trade_no
    assert paid.props["amount"] == 990
    with pay_env.db.session_scope() as session:
        row = session.get(PayOrder, order.id)
        assert row is not None
        assert row.status == "paid"
        assert row.transaction_id == notification.resource["transaction_id"]
    before = pay_env.counts()
    # when WeChat delivers the same notification again (twice more)
    assert pay_env.pay.deliver(notification, duplicate=True)
    assert pay_env.pay.deliver(notification, duplicate=True)
    # then each delivery is acknowledged and nothing changes
    assert [h["status"] for h in notification.history] == [204, 204, 204]
    assert pay_env.counts() == before
    assert len(pay_env.events("pay.paid")) == 1


def test_wechatpayv3_opens_the_sandboxs_notifications(pay_env: PayEnv, merchant_key: Any) -> None:
    # given a notification the sandbox made for a payment
    notification = pay_env.pay_order(pay_env.order(990), deliver=False)
    headers = pay_env.signed(notification.body)
    # when wechatpayv3 (not our code) verifies and decrypts it
    judge = WeChatPay(
        wechatpay_type=WeChatPayType.MINIPROG,
        mchid=MCHID,
        private_key=paycrypto.private_pem(merchant_key),
        cert_serial_no="0" * 40,
        appid=MP_APPID,
        apiv3_key=pay_env.apiv3_key,
        public_key=pay_env.pay.platform_public_key(),
        public_key_id=headers["Wechatpay-Serial"],
    )
    opened = judge.callback(headers, notification.body)
    # then it reads the transaction the sandbox sealed
    assert opened["event_type"] == "TRANSACTION.SUCCESS"
    assert opened["resource"]["out_trade_no"] == notification.resource["out_trade_no"]
    assert opened["resource"]["amount"]["total"] == 990
    # and a tampered body fails its check too
    assert judge.callback(headers, notification.body.replace("支付", "退款")) is None


def refused(env: PayEnv, body: str, headers: dict[str, str], status: int, code: str) -> None:
    before = env.counts()
    response = env.post_notification(body, headers)
    assert response.status_code == status
    assert response.json()["code"] == "FAIL"
    assert code in response.json()["message"]
    after = env.counts()
    # nothing changed but one line in the log for staff
    assert after == {**before, "refused": before["refused"] + 1}
    with env.db.session_scope() as session:
        last = session.scalars(
            select(PayNotificationLog).order_by(PayNotificationLog.id.desc())
        ).first()
        assert last is not None
        assert last.code == code
        assert last.status == status


def test_a_wrong_signature_is_refused(pay_env: PayEnv) -> None:
    order = pay_env.order(990)
    pay_env.params(order)
    body = pay_env.notification_body(resource_of(pay_env, order.out_trade_no, 990))
    headers = pay_env.signed(body)
    # signed over another body
    refused(pay_env, body, pay_env.signed(body + " "), 401, "pay.bad_signature")
    # signed by a key that is not WeChat Pay's
    forged = paycrypto.sign_response(
        paycrypto.generate_private_key(),
        headers["Wechatpay-Timestamp"],
        headers["Wechatpay-Nonce"],
        body,
    )
    refused(pay_env, body, {**headers, "Wechatpay-Signature": forged}, 401, "pay.bad_signature")
    # without any signature
    bare = {"Content-Type": "application/json", "Wechatpay-Serial": headers["Wechatpay-Serial"]}
    refused(pay_env, body, bare, 401, "pay.bad_signature")
    # naming a key siyu does not hold
    refused(
        pay_env, body, {**headers, "Wechatpay-Serial": "PUB_KEY_ID_X"}, 401, "pay.unknown_serial"
    )


def test_an_undecryptable_resource_is_refused(pay_env: PayEnv) -> None:
    order = pay_env.order(990)
    body = pay_env.notification_body(resource_of(pay_env, order.out_trade_no, 990), key="k" * 32)
    refused(pay_env, body, pay_env.signed(body), 400, "pay.undecryptable")


def test_an_unknown_out_trade_no_is_refused(pay_env: PayEnv) -> None:
    body = pay_env.notification_body(resource_of(pay_env, "SY261120NOSUCHORDER0000", 990))
    refused(pay_env, body, pay_env.signed(body), 404, "pay.unknown_order")


def test_an_amount_that_differs_from_the_order_is_refused(pay_env: PayEnv) -> None:
    order = pay_env.order(990)
    body = pay_env.notification_body(resource_of(pay_env, order.out_trade_no, 1))
    refused(pay_env, body, pay_env.signed(body), 409, "pay.amount_mismatch")
    assert pay_env.events("pay.paid") == []


def test_a_replayed_notification_is_refused(pay_env: PayEnv) -> None:
    # given a genuine notification, captured with its signature
    order = pay_env.order(990)
    body = pay_env.notification_body(resource_of(pay_env, order.out_trade_no, 990))
    headers = pay_env.signed(body)
    # when someone sends it again ten minutes later
    pay_env.clock.advance(timedelta(minutes=10))
    # then its stale signature gives it away
    refused(pay_env, body, headers, 401, "pay.stale_notification")


def test_a_notification_for_an_unknown_merchant_is_refused(pay_env: PayEnv) -> None:
    before = pay_env.counts()
    response = pay_env.client.post("/wechat/pay/notify/1234567890", content=b"{}")
    assert response.status_code == 404
    assert response.json()["code"] == "FAIL"
    assert pay_env.counts()["refused"] == before["refused"] + 1


def test_a_body_that_is_not_a_notification_is_refused(pay_env: PayEnv) -> None:
    body = json.dumps({"hello": "world"})
    refused(pay_env, body, pay_env.signed(body), 400, "pay.malformed_notification")


@pytest.mark.parametrize("answers", [1, 3])
def test_a_notification_siyu_missed_comes_again_on_wechats_schedule(
    pay_env: PayEnv, answers: int
) -> None:
    # given siyu fails the first deliveries (a restart), WeChat tries again later
    notification = pay_env.pay_order(pay_env.order(990), deliver=False)
    real = pay_env.pay.http
    pay_env.pay.http = cast(httpx.Client, _Failing(real, answers))  # it stands in for post
    try:
        for _ in range(answers):
            assert not pay_env.pay.deliver(notification)
        # when the retries fall due (the schedule is compressed in tests)
        assert pay_env.pay.tick() == 1
    finally:
        pay_env.pay.http = real
    # then the payment is applied once
    assert notification.acknowledged
    assert notification.attempts == answers + 1
    assert len(pay_env.events("pay.paid")) == 1


class _Failing:
    """siyu down for the first `n` posts."""

    def __init__(self, real: Any, n: int) -> None:
        self.real, self.n = real, n

    def post(self, *args: Any, **kwargs: Any) -> Any:
        if self.n > 0:
            self.n -= 1
            import httpx

            raise httpx.ConnectError("siyu is restarting")
        return self.real.post(*args, **kwargs)


def test_a_sender_gone_mid_body_is_a_400_without_a_traceback(
    pay_env: PayEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a payment notification whose sender goes away after the first part of its body
    order = pay_env.order(990)
    notification = pay_env.pay_order(order, deliver=False)
    headers = [
        (k.lower().encode(), v.encode()) for k, v in pay_env.signed(notification.body).items()
    ]
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": notification.body.encode()[:40], "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    path = f"/wechat/pay/notify/{MCHID}"
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    before = pay_env.counts()
    capsys.readouterr()
    # when it reaches the endpoint
    asyncio.run(pay_env.client.app(scope, receive, send))  # type: ignore[arg-type]
    # then it is refused as incomplete (as the push endpoint refuses it), not a 500 with a
    # traceback, and nothing is written; WeChat Pay sends it again and it is applied then
    assert sent[0]["status"] == 400
    assert json.loads(sent[1]["body"])["code"] == "request.incomplete"
    logged = capsys.readouterr().err
    assert "Traceback" not in logged
    assert "unhandled_error" not in logged
    assert pay_env.counts() == before
    assert pay_env.pay.deliver(notification)
    assert len(pay_env.events("pay.paid")) == 1


def test_a_storage_failure_answers_a_clean_503_and_the_retry_applies_it_once(
    pay_env: PayEnv,
) -> None:
    # given a paid order whose notification arrives while siyu's storage fails
    order = pay_env.order(990)
    notification = pay_env.pay_order(order, deliver=False)
    before = pay_env.counts()
    with pay_env.db.engine.begin() as conn:
        conn.execute(text("ALTER TABLE pay_orders RENAME TO pay_orders_away"))
    try:
        response = pay_env.post_notification(notification.body, pay_env.signed(notification.body))
    finally:
        with pay_env.db.engine.begin() as conn:
            conn.execute(text("ALTER TABLE pay_orders_away RENAME TO pay_orders"))
    # then WeChat gets a 503 with its FAIL body (it retries on its schedule), nothing changed
    assert response.status_code == 503
    assert response.json()["code"] == "FAIL"
    assert pay_env.counts() == before
    # when WeChat Pay delivers it again, and once more
    assert pay_env.pay.deliver(notification)
    assert pay_env.pay.deliver(notification, duplicate=True)
    # then the order is paid once
    assert len(pay_env.events("pay.paid")) == 1
    with pay_env.db.session_scope() as session:
        row = session.get(PayOrder, order.id)
        assert row is not None
        assert row.status == "paid"
