"""Trade bills: a day's payments and refunds as WeChat's ALL bill lists them, to download once."""

from __future__ import annotations

import gzip
import hashlib
import io
import secrets
from datetime import date

from siyu.core.clock import BEIJING
from siyu.core.money import format_yuan
from siyu.sandbox.pay.records import Merchant, Order, Refund
from siyu.sandbox.pay.rules import PayError, param_error
from siyu.sandbox.pay.state import PayState


class PayBills(PayState):
    """The trade bill of a merchant's day, by download token."""

    def trade_bill(
        self, merchant: Merchant, bill_date: str, tar_type: str | None
    ) -> tuple[str, str]:
        """A day's trade bill (Beijing date): its download token and SHA1."""
        try:
            day = date.fromisoformat(bill_date)
        except ValueError:
            raise param_error("bill_date 格式为 yyyy-MM-DD") from None
        with self.lock:
            if day >= self.now().astimezone(BEIJING).date():
                raise PayError(400, "NO_STATEMENT_EXIST", "账单日期须早于今天")
            raw = bill_csv(merchant, day).encode("utf-8")
            if tar_type == "GZIP":
                raw = gzip.compress(raw, mtime=0)
            token = secrets.token_urlsafe(24)
            self._bills[token] = raw
            return token, hashlib.sha1(raw).hexdigest()  # noqa: S324 - WeChat's hash_type SHA1

    def bill_file(self, token: str) -> bytes:
        with self.lock:
            found = self._bills.get(token)
            if found is None:
                raise PayError(404, "RESOURCE_NOT_EXISTS", "账单不存在或已过期")
            return found


BILL_COLUMNS = (
    "交易时间",
    "公众账号ID",
    "商户号",
    "特约商户号",
    "设备号",
    "微信订单号",
    "商户订单号",
    "用户标识",
    "交易类型",
    "交易状态",
    "付款银行",
    "货币种类",
    "应结订单金额",
    "代金券金额",
    "微信退款单号",
    "商户退款单号",
    "退款金额",
    "充值券退款金额",
    "退款类型",
    "退款状态",
    "商品名称",
    "商户数据包",
    "手续费",
    "费率",
    "订单金额",
    "申请退款金额",
    "费率备注",
)
BILL_SUMMARY = (
    "总交易单数",
    "应结订单总金额",
    "退款总金额",
    "充值券退款总金额",
    "手续费总金额",
    "订单总金额",
    "申请退款总金额",
)


def _bill_row(merchant: Merchant, order: Order, refund: Refund | None) -> str:
    at = refund.success_time if refund is not None else order.success_time
    assert at is not None
    values = [
        at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S"),
        order.appid,
        merchant.mchid,
        "0",
        "",
        order.transaction_id,
        order.out_trade_no,
        order.openid,
        "JSAPI",
        "REFUND" if refund is not None else "SUCCESS",
        "OTHERS",
        "CNY",
        format_yuan(order.amount) if refund is None else "0.00",
        "0.00",
        refund.refund_id if refund is not None else "0",
        refund.out_refund_no if refund is not None else "0",
        format_yuan(refund.amount) if refund is not None else "0.00",
        "0.00",
        "ORIGINAL" if refund is not None else "",
        refund.status if refund is not None else "",
        order.description.replace(",", "，"),
        order.attach.replace(",", "，"),
        "0.00",
        "0.60%",
        format_yuan(order.amount),
        format_yuan(refund.amount) if refund is not None else "0.00",
        "",
    ]
    return ",".join(f"`{v}" for v in values)


def bill_csv(merchant: Merchant, day: date) -> str:
    """The ALL bill of `day` (Beijing date) as CSV text."""
    # The ALL bill's columns as WeChat's trade bill lists them (values prefixed with `
    # so spreadsheets keep long numbers as text), then a summary header and line.
    out = io.StringIO()
    out.write(",".join(BILL_COLUMNS) + "\r\n")
    orders = rows = 0
    paid = refunded = 0
    for order in merchant.orders.values():
        if order.success_time and order.success_time.astimezone(BEIJING).date() == day:
            out.write(_bill_row(merchant, order, None) + "\r\n")
            orders, paid, rows = orders + 1, paid + order.amount, rows + 1
    for refund in merchant.refunds.values():
        at = refund.success_time
        if refund.status == "SUCCESS" and at and at.astimezone(BEIJING).date() == day:
            order = merchant.orders[refund.out_trade_no]
            out.write(_bill_row(merchant, order, refund) + "\r\n")
            refunded, rows = refunded + refund.amount, rows + 1
    out.write(",".join(BILL_SUMMARY) + "\r\n")
    out.write(
        ",".join(
            f"`{v}"
            for v in (
                rows,
                format_yuan(paid),
                format_yuan(refunded),
                "0.00",
                "0.00",
                format_yuan(paid),
                "0.00",
            )
        )
        + "\r\n"
    )
    return out.getvalue()
