"""Refunds: v3's rules (one year, 50 refunds, a minute apart, the balance), the same refund
number answered again, and settlement after the processing time."""

from __future__ import annotations

import secrets
from typing import Any

from siyu.sandbox.pay.notifications import PayNotifications
from siyu.sandbox.pay.records import Fault, Merchant, Notification, Order, Refund
from siyu.sandbox.pay.rules import (
    MAX_REFUNDS,
    OUT_REFUND_NO,
    REFUND_GAP,
    REFUND_WINDOW,
    PayError,
    invalid_request,
    param_error,
    text_field,
    url_field,
)


class PayRefunds(PayNotifications):
    """Refunds of every merchant; a settled refund queues its REFUND.* notification."""

    def refund(
        self, merchant: Merchant, body: dict[str, Any]
    ) -> tuple[dict[str, Any], Fault | None]:
        """`POST /v3/refund/domestic/refunds`; an injected `error_after` fault answers 500
        after accepting, as a timed-out call looks to the merchant."""
        with self.lock:
            fault = self._fault("refund")
            if fault == "error_before":
                raise PayError(500, "SYSTEM_ERROR", "系统繁忙，请稍后重试")
            out_refund_no = text_field(body, "out_refund_no", 64)
            if not OUT_REFUND_NO.match(out_refund_no):
                raise param_error("out_refund_no 须为 1-64 位数字、大小写字母或 _-|*@")
            reason = text_field(body, "reason", 80, required=False)
            notify_url = body.get("notify_url")
            if notify_url is not None:
                notify_url = url_field(text_field(body, "notify_url", 255))
            order = self._refund_order(merchant, body)
            amount = body.get("amount")
            refund = amount.get("refund") if isinstance(amount, dict) else None
            total = amount.get("total") if isinstance(amount, dict) else None
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in (refund, total)):
                raise param_error("amount.refund 和 amount.total 须为整数（分）")
            assert isinstance(refund, int)
            assert isinstance(total, int)
            existing = merchant.refunds.get(out_refund_no)
            if existing is not None:  # "同一退款单号多次请求只退一笔": the same refund again
                if existing.out_trade_no != order.out_trade_no or existing.amount != refund:
                    raise invalid_request("退款单号已用于其他退款，且金额或订单不一致")
                return existing.view(merchant.mchid), fault
            self._check_refund(merchant, order, refund, total, fault)
            now = self.now()
            created = Refund(
                out_refund_no,
                f"50{secrets.randbelow(10**27):027d}",
                order.out_trade_no,
                order.transaction_id,
                refund,
                total,
                reason,
                notify_url or order.notify_url,
                now,
                now + self.refund_delay,
            )
            merchant.refunds[out_refund_no] = created
            merchant.refunded += refund
            order.refunds.append(out_refund_no)
            order.trade_state = "REFUND"
            return created.view(merchant.mchid), fault

    def _refund_order(self, merchant: Merchant, body: dict[str, Any]) -> Order:
        if isinstance(tid := body.get("transaction_id"), str) and tid:
            found = self.transactions.get(tid)
            if found is None or found[0] != merchant.mchid:
                raise PayError(404, "RESOURCE_NOT_EXISTS", "订单不存在")
            return merchant.orders[found[1]]
        if isinstance(otn := body.get("out_trade_no"), str) and otn:
            order = merchant.orders.get(otn)
            if order is None:
                raise PayError(404, "RESOURCE_NOT_EXISTS", "订单不存在")
            return order
        raise param_error("transaction_id 与 out_trade_no 须填其一")

    def _check_refund(
        self, merchant: Merchant, order: Order, refund: int, total: int, fault: Fault | None
    ) -> None:
        now = self.now()
        if not order.transaction_id or order.success_time is None:
            # WeChat Pay answers an unpaid order's refund as an unknown order's: 404
            # RESOURCE_NOT_EXISTS "订单不存在". Its Pay community support says "未支付的订单不能
            # 发起退款" for that code (developers.weixin.qq.com/community/develop/doc/
            # 00064031f08578cd373d2bc6b5b800); the 404 status: …/doc/0000e244be4c200823db3791e56000.
            raise PayError(404, "RESOURCE_NOT_EXISTS", "订单不存在")
        if total != order.amount:
            raise invalid_request("amount.total 与订单金额不一致")
        if refund < 1:
            raise param_error("amount.refund 须为正整数（分）")
        if now > order.success_time + REFUND_WINDOW:
            raise invalid_request("订单已超过一年退款期限")
        if len(order.refunds) >= MAX_REFUNDS:
            raise invalid_request(f"一笔订单最多退款 {MAX_REFUNDS} 次")
        taken = sum(
            merchant.refunds[n].amount
            for n in order.refunds
            if merchant.refunds[n].status != "CLOSED"
        )
        if taken + refund > order.amount:
            raise invalid_request("退款金额超过订单可退金额")
        last = max((merchant.refunds[n].created_at for n in order.refunds), default=None)
        if fault == "frequency_limited" or (last is not None and now - last < REFUND_GAP):
            raise PayError(429, "FREQUENCY_LIMITED", "同一笔订单多次退款的请求需相隔1分钟")
        if fault == "not_enough" or merchant.balance < refund:
            raise PayError(403, "NOT_ENOUGH", "基本账户余额不足，请充值后重新发起")

    def query_refund(self, merchant: Merchant, out_refund_no: str) -> dict[str, Any]:
        with self.lock:
            refund = merchant.refunds.get(out_refund_no)
            if refund is None:
                raise PayError(404, "RESOURCE_NOT_EXISTS", "退款单不存在")
            return refund.view(merchant.mchid)

    def settle_refunds(self) -> list[Notification]:
        """Refunds whose processing time is over succeed (ABNORMAL for a blocked account)."""
        queued = []
        with self.lock:
            now = self.now()
            for merchant in self.merchants.values():
                for refund in merchant.refunds.values():
                    if refund.status != "PROCESSING" or refund.due_at > now:
                        continue
                    openid = merchant.orders[refund.out_trade_no].openid
                    if openid in merchant.abnormal_openids:
                        refund.status = "ABNORMAL"
                        event, summary = "REFUND.ABNORMAL", "退款异常"
                    else:
                        refund.status, refund.success_time = "SUCCESS", now
                        event, summary = "REFUND.SUCCESS", "退款成功"
                    if refund.notify_url:
                        queued.append(
                            self._queue(
                                merchant,
                                refund.notify_url,
                                (event, summary, "refund"),
                                refund.notification_resource(merchant.mchid),
                            )
                        )
        return queued
