"""Orders: JSAPI prepay, query and close, and the payment a user makes in the Mini Program."""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta
from typing import Any

from siyu.core.clock import BEIJING
from siyu.sandbox.pay.notifications import PayNotifications
from siyu.sandbox.pay.records import Merchant, Notification, Order
from siyu.sandbox.pay.rules import (
    DEFAULT_ORDER_TTL,
    MAX_ORDER_TTL,
    OUT_TRADE_NO,
    PREPAY_TTL,
    PayError,
    invalid_request,
    param_error,
    text_field,
    time_field,
    url_field,
)
from siyu.wechat import paycrypto


class PayOrders(PayNotifications):
    """Orders of every merchant; a payment queues its TRANSACTION.SUCCESS notification."""

    # -- orders ---------------------------------------------------------------------------

    def jsapi(self, merchant: Merchant, body: dict[str, Any]) -> dict[str, str]:
        """`POST /v3/pay/transactions/jsapi` → `{prepay_id}`; the same order again, the same id."""
        with self.lock:
            now = self.now()
            order = self._new_order(merchant, body, now)
            existing = merchant.orders.get(order.out_trade_no)
            if existing is not None:
                order = self._same_order(existing, order, now)
            else:
                merchant.orders[order.out_trade_no] = order
            if order.prepay_expires_at is None or now >= order.prepay_expires_at:
                order.prepay_id = f"wx{now.astimezone(BEIJING):%d%H%M%S}{secrets.token_hex(14)}"
                order.prepay_expires_at = now + PREPAY_TTL
                self.prepays[order.prepay_id] = (merchant.mchid, order.out_trade_no)
            return {"prepay_id": order.prepay_id}

    def _same_order(self, existing: Order, order: Order, now: datetime) -> Order:
        state = existing.state_at(now)
        if state in ("SUCCESS", "REFUND"):
            raise PayError(400, "ORDERPAID", "该订单已支付")  # status as recalled, unverified
        if state == "CLOSED":
            raise PayError(400, "ORDER_CLOSED", "订单已关闭")
        if existing.fingerprint != order.fingerprint:
            raise PayError(400, "INVALID_REQUEST", "商户订单号重复，且参数与原订单不一致")
        return existing

    def _new_order(self, merchant: Merchant, body: dict[str, Any], now: datetime) -> Order:
        appid, mchid = text_field(body, "appid", 32), text_field(body, "mchid", 32)
        if mchid != merchant.mchid:
            raise invalid_request("请求体中的 mchid 与签名的商户号不一致")
        if appid not in merchant.spec.appids:
            raise PayError(400, "APPID_MCHID_NOT_MATCH", "appid 和 mchid 不匹配")
        description = text_field(body, "description", 127)
        out_trade_no = text_field(body, "out_trade_no", 32)
        if not OUT_TRADE_NO.match(out_trade_no):
            raise param_error("out_trade_no 须为 6-32 位数字、大小写字母或 _-|*")
        notify_url = url_field(text_field(body, "notify_url", 255))
        attach = text_field(body, "attach", 128, required=False)
        amount = body.get("amount")
        total = amount.get("total") if isinstance(amount, dict) else None
        if not isinstance(total, int) or isinstance(total, bool) or total < 1:
            raise param_error("amount.total 须为正整数（分）")
        currency = amount.get("currency", "CNY") if isinstance(amount, dict) else "CNY"
        if currency != "CNY":
            raise param_error("amount.currency 仅支持 CNY")
        payer = body.get("payer")
        openid = payer.get("openid") if isinstance(payer, dict) else None
        if not isinstance(openid, str) or not openid:
            raise param_error("JSAPI 下单须有 payer.openid")
        try:
            self.world.by_openid(openid, appid)
        except Exception:
            raise param_error("payer.openid 不是该 appid 下的用户") from None
        time_expire = now + DEFAULT_ORDER_TTL
        if (raw := body.get("time_expire")) is not None:
            time_expire = time_field(raw)
            if time_expire < now + timedelta(minutes=1) or time_expire > now + MAX_ORDER_TTL:
                raise param_error("time_expire 须在 1 分钟之后、90 天之内")
        fingerprint = json.dumps(
            {k: body.get(k) for k in ("appid", "description", "amount", "payer", "attach")},
            sort_keys=True,
            ensure_ascii=False,
        )
        return Order(
            appid,
            mchid,
            out_trade_no,
            description,
            total,
            openid,
            notify_url,
            attach,
            time_expire,
            now,
            fingerprint,
        )

    def find_order(self, merchant: Merchant, out_trade_no: str) -> Order:
        order = merchant.orders.get(out_trade_no)
        if order is None:
            raise PayError(404, "ORDER_NOT_EXIST", "订单不存在")
        return order

    def query(self, merchant: Merchant, out_trade_no: str) -> dict[str, Any]:
        with self.lock:
            return self.find_order(merchant, out_trade_no).view(self.now())

    def query_transaction(self, merchant: Merchant, transaction_id: str) -> dict[str, Any]:
        with self.lock:
            found = self.transactions.get(transaction_id)
            if found is None or found[0] != merchant.mchid:
                raise PayError(404, "ORDER_NOT_EXIST", "订单不存在")
            return merchant.orders[found[1]].view(self.now())

    def close(self, merchant: Merchant, out_trade_no: str, body: dict[str, Any]) -> None:
        with self.lock:
            if body.get("mchid") != merchant.mchid:
                raise param_error("mchid 与签名的商户号不一致")
            order = self.find_order(merchant, out_trade_no)
            if order.trade_state in ("SUCCESS", "REFUND"):
                raise PayError(400, "ORDERPAID", "订单已支付，不能关闭")
            order.trade_state = "CLOSED"

    # -- paying ---------------------------------------------------------------------------

    def pay(self, openid: str, params: dict[str, str]) -> Notification:
        """wx.requestPayment: checks paySign with the merchant's key, pays, queues the notice."""
        with self.lock:
            package = params.get("package", "")
            prepay_id = package.removeprefix("prepay_id=")
            found = self.prepays.get(prepay_id) if package.startswith("prepay_id=") else None
            if found is None:
                raise PayError(400, "PARAM_ERROR", "package 无效")
            merchant = self.merchants[found[0]]
            order = merchant.orders[found[1]]
            now = self.now()
            if order.prepay_id != prepay_id or now >= (order.prepay_expires_at or now):
                raise PayError(400, "PARAM_ERROR", "prepay_id 已过期")
            if params.get("appId") != order.appid or params.get("signType") != "RSA":
                raise PayError(400, "PARAM_ERROR", "appId 或 signType 与订单不符")
            lines = (order.appid, params.get("timeStamp", ""), params.get("nonceStr", ""), package)
            if not paycrypto.verify(merchant.public_key, params.get("paySign", ""), *lines):
                raise PayError(400, "SIGN_ERROR", "支付验证签名失败")
            if openid != order.openid:
                raise PayError(403, "NO_AUTH", "下单用户与支付用户不一致")
            state = order.state_at(now)
            if state != "NOTPAY":
                raise PayError(400, "ORDERPAID" if state != "CLOSED" else "ORDER_CLOSED", state)
            order.trade_state = "SUCCESS"
            order.transaction_id = (
                f"42000{now.astimezone(BEIJING):%Y%m%d}{secrets.randbelow(10**15):015d}"
            )
            order.success_time = now
            merchant.received += order.amount
            self.transactions[order.transaction_id] = (merchant.mchid, order.out_trade_no)
            event = ("TRANSACTION.SUCCESS", "支付成功", "transaction")
            return self._queue(merchant, order.notify_url, event, order.view(now))
