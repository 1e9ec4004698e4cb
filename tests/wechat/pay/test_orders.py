"""Orders: siyu's wechatpayv3 client against the sandbox's /v3/pay endpoints (over HTTP)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from wechatpayv3 import WeChatPay, WeChatPayType

from siyu.core.errors import SiyuError
from siyu.wechat import paycrypto
from siyu.wechat.pay import service
from tests.support.names import MP_APPID
from tests.support.pay import MCHID, PayEnv


def wechatpay(env: PayEnv, key: Any, serial: str | None = None) -> WeChatPay:
    """wechatpayv3 itself, as a merchant would configure it, pointed at the sandbox."""
    merchant = env.pay.merchant(MCHID)
    client = WeChatPay(
        wechatpay_type=WeChatPayType.MINIPROG,
        mchid=MCHID,
        private_key=paycrypto.private_pem(key),
        cert_serial_no=serial or merchant.spec.cert_serial_no,
        appid=MP_APPID,
        apiv3_key=env.apiv3_key,
        notify_url="http://testserver/wechat/pay/notify/" + MCHID,
        public_key=env.pay.platform_public_key(),
        public_key_id=merchant.platform_key_id,
    )
    client._core._gate_way = env.sandbox_url
    return client


def test_payment_params_carry_a_prepay_id_and_a_pay_sign_of_the_merchant_key(
    pay_env: PayEnv, merchant_key: Any
) -> None:
    # given an order for 9.90
    order = pay_env.order(990)
    # when the Mini Program asks for wx.requestPayment's parameters
    params = pay_env.params(order)
    # then the package names the sandbox's prepay_id and paySign verifies with the merchant key
    assert params.package.startswith("prepay_id=wx")
    assert params.app_id == MP_APPID
    assert params.sign_type == "RSA"
    assert paycrypto.verify(
        merchant_key.public_key(),
        params.pay_sign,
        params.app_id,
        params.time_stamp,
        params.nonce_str,
        params.package,
    )
    # and the sandbox holds the order as siyu described it
    sandbox_order = pay_env.ledger()["orders"][0]
    assert sandbox_order["out_trade_no"] == order.out_trade_no
    assert sandbox_order["amount"]["total"] == 990
    assert sandbox_order["trade_state"] == "NOTPAY"
    assert 6 <= len(order.out_trade_no) <= 32


def test_the_same_order_again_before_expiry_is_the_same_order_and_prepay_id(
    pay_env: PayEnv,
) -> None:
    # given an order whose parameters were handed out
    first = pay_env.order(990, reference="course:7", minutes=240)
    package = pay_env.params(first).package
    # when the member asks again for the same thing, now and after the prepay_id aged 2 h
    again = pay_env.order(990, reference="course:7", minutes=240)
    assert again.id == first.id
    assert pay_env.params(again).package == package
    pay_env.clock.advance(timedelta(minutes=121))
    later = pay_env.order(990, reference="course:7", minutes=240)
    # then it is still the one order; WeChat hands out a fresh prepay_id for the same order
    assert later.out_trade_no == first.out_trade_no
    assert pay_env.params(later).package != package
    assert len(pay_env.ledger()["orders"]) == 1
    # and once the order expired, a new order (new out_trade_no) is opened
    pay_env.clock.advance(timedelta(minutes=120))
    fresh = pay_env.order(990, reference="course:7", minutes=240)
    assert fresh.out_trade_no != first.out_trade_no


def test_another_amount_for_an_open_order_is_refused_and_nothing_changes(pay_env: PayEnv) -> None:
    # given an open order
    pay_env.order(990, reference="course:7")
    before = pay_env.counts()
    # when the same reference is asked for another amount
    with pytest.raises(SiyuError) as refused:
        pay_env.order(1990, reference="course:7")
    # then it is refused and nothing was written
    assert refused.value.code == "pay.order_changed"
    assert pay_env.counts() == before


def test_a_paid_reference_is_refused(pay_env: PayEnv) -> None:
    # given a paid order
    order = pay_env.order(990, reference="course:9")
    pay_env.pay_order(order)
    # when the member asks to pay it again
    with pytest.raises(SiyuError) as refused:
        pay_env.order(990, reference="course:9")
    # then siyu says it is paid
    assert refused.value.code == "pay.order_paid"


def test_an_amount_of_zero_fen_is_refused(pay_env: PayEnv) -> None:
    with pay_env.db.session_scope() as session, pytest.raises(SiyuError) as refused:
        service.open_order(
            session,
            pay_env.workspace_id,
            appid=MP_APPID,
            member_id=pay_env.member_id,
            amount=0,
            description="x",
            reference="r",
            order_minutes=120,
        )
    assert refused.value.code == "pay.invalid_amount"


def test_the_sandbox_checks_wechatpayv3_signatures_and_fields(
    pay_env: PayEnv, merchant_key: Any
) -> None:
    client = wechatpay(pay_env, merchant_key)
    body = {
        "description": "押金",
        "out_trade_no": "T20261120A1",
        "amount": {"total": 100, "currency": "CNY"},
        "payer": {"openid": pay_env.openid},
    }
    # a well-signed order is accepted (and its signed answer verified by wechatpayv3)
    status, text = client.pay(**body)
    assert status == 200
    assert '"prepay_id"' in text
    # the same out_trade_no again with the same fields: the same prepay_id
    assert client.pay(**body) == (status, text)
    # with another amount: refused
    status, text = client.pay(**{**body, "amount": {"total": 200}})
    assert (status, _code(text)) == (400, "INVALID_REQUEST")
    # another key (not the merchant's): SIGN_ERROR
    stranger = wechatpay(pay_env, paycrypto.generate_private_key())
    assert _code(stranger.pay(**{**body, "out_trade_no": "T20261120A2"})[1]) == "SIGN_ERROR"
    # an appid the merchant is not bound to
    status, text = client.pay(**{**body, "out_trade_no": "T20261120A3"}, appid="wx1111111111111111")
    assert (status, _code(text)) == (400, "APPID_MCHID_NOT_MATCH")
    # an out_trade_no WeChat does not accept, an openid of nobody
    assert _code(client.pay(**{**body, "out_trade_no": "T1"})[1]) == "PARAM_ERROR"
    bad_payer = {**body, "out_trade_no": "T20261120A4", "payer": {"openid": "o" * 28}}
    assert _code(client.pay(**bad_payer)[1]) == "PARAM_ERROR"
    # query, close, query again
    status, text = client.query(out_trade_no="T20261120A1")
    assert status == 200
    assert '"trade_state":"NOTPAY"' in text
    assert client.close(out_trade_no="T20261120A1")[0] == 204
    assert '"trade_state":"CLOSED"' in client.query(out_trade_no="T20261120A1")[1]
    status, text = client.query(out_trade_no="T20261120ZZ")
    assert (status, _code(text)) == (404, "ORDER_NOT_EXIST")


def _code(text: str) -> str:
    import json

    return str(json.loads(text)["code"])
