"""Reconciliation: late orders are queried (paid or closed); a day's bill is compared."""

from __future__ import annotations

from datetime import timedelta

from siyu.wechat.pay import service
from siyu.wechat.pay.models import PayOrder
from tests.support.pay import MCHID, PayEnv


def status_of(env: PayEnv, order_id: int) -> str:
    with env.db.session_scope() as session:
        order = session.get(PayOrder, order_id)
        assert order is not None
        return order.status


def test_an_abandoned_order_is_closed_at_both_ends_after_it_expires(pay_env: PayEnv) -> None:
    # given the member opened the payment sheet and closed it
    order = pay_env.order(990)
    pay_env.params(order)
    # when the sweep runs before and after the order's time is up
    service.sweep(pay_env.db, service.clients())
    assert status_of(pay_env, order.id) == "pending"
    pay_env.clock.advance(timedelta(minutes=121))
    done = service.sweep(pay_env.db, service.clients())
    # then siyu closed it, and so did WeChat: no late payment can land
    assert done.orders_closed == 1
    assert status_of(pay_env, order.id) == "closed"
    assert pay_env.ledger()["orders"][0]["trade_state"] == "CLOSED"


def test_a_payment_whose_notification_never_came_is_completed_by_query(pay_env: PayEnv) -> None:
    # given a payment WeChat could not notify
    order = pay_env.order(990)
    pay_env.pay_order(order, deliver=False)
    pay_env.pay.outbox.clear()
    # when the sweep runs after the notification was due
    pay_env.clock.advance(timedelta(minutes=11))
    done = service.sweep(pay_env.db, service.clients())
    # then the order is paid, once, as if notified
    assert done.orders_paid == 1
    assert status_of(pay_env, order.id) == "paid"
    [event] = pay_env.events("pay.paid")
    assert event.props["source"] == "query"
    assert service.sweep(pay_env.db, service.clients()).orders_checked == 0


def test_the_daily_reconciliation_lists_what_differs(pay_env: PayEnv) -> None:
    # given a day with two payments and a refund, all known to siyu
    first = pay_env.order(990, reference="a")
    pay_env.pay_order(first)
    second = pay_env.order(1990, reference="b")
    pay_env.pay_order(second)
    with pay_env.db.session_scope() as session:
        refund = service.request_refund(session, pay_env.workspace_id, first.id, 300, "退款")
    service.submit_refund(pay_env.db, service.clients(), refund.id)
    pay_env.pay.tick()
    # and one payment siyu never heard of (its notification lost, no sweep yet)
    third = pay_env.order(500, reference="c")
    pay_env.pay_order(third, deliver=False)
    pay_env.pay.outbox.clear()
    day = pay_env.clock.now().astimezone(service.BEIJING).date()
    # when the next day's reconciliation compares siyu with the merchant's bill
    pay_env.clock.advance(timedelta(days=1))
    result = service.reconcile_day(pay_env.db, service.clients(), pay_env.merchant_id, day)
    # then exactly the unknown payment is listed
    assert result.payments == 3
    assert result.refunds == 1
    assert result.differences == [
        {
            "kind": "payment",
            "number": third.out_trade_no,
            "problem": "missing_in_siyu",
            "siyu": None,
            "merchant": 500,
        }
    ]
    # and after the sweep completed it, the day reconciles cleanly (the row is updated)
    service.sweep(pay_env.db, service.clients())
    again = service.reconcile_day(pay_env.db, service.clients(), pay_env.merchant_id, day)
    assert again.id == result.id
    assert again.differences == []
    with pay_env.db.session_scope() as session:
        assert [
            r.bill_date for r in service.list_reconciliations(session, pay_env.workspace_id)
        ] == [day]
    assert MCHID in pay_env.ledger()["mchid"]
