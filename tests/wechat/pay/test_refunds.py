"""Refunds: staff ask with a reason; one out_refund_no per refund, so money leaves once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from siyu.core.errors import SiyuError
from siyu.sandbox.pay import PayError
from siyu.security.models import AuditEntry
from siyu.security.schemas import Principal
from siyu.wechat.pay import service
from siyu.wechat.pay.enums import RefundStatus
from siyu.wechat.pay.models import PayOrder, PayRefund
from siyu.wechat.pay.schemas import OrderRead
from tests.support.pay import MCHID, PayEnv


def paid(env: PayEnv, amount: int = 990, reference: str = "activity:1") -> OrderRead:
    order = env.order(amount, reference=reference)
    env.pay_order(order)
    return order


def refund_row(env: PayEnv, refund_id: int) -> PayRefund:
    with env.db.session_scope() as session:
        row = session.get(PayRefund, refund_id)
        assert row is not None
        return row


def ask(staff: TestClient, order_id: int, amount: int, reason: str = "活动取消") -> dict[str, Any]:
    response = staff.post(
        f"/api/pay/orders/{order_id}/refunds", json={"amount": amount, "reason": reason}
    )
    return {**response.json(), "http": response.status_code}


def test_a_staff_partial_refund_reaches_the_merchant_ledger_exactly(
    pay_env: PayEnv, pay_staff: TestClient, owner: object
) -> None:
    # given a paid order of 9.90
    order = paid(pay_env)
    # when staff refund 3.00 of it with a reason
    answer = ask(pay_staff, order.id, 300, "打卡 14 天，退部分押金")
    assert answer["http"] == 202
    assert answer["amount"] == 300
    assert pay_env.drain() == 1  # the job sends it
    pay_env.pay.tick()  # WeChat settles it and notifies siyu
    # then the refund succeeded once, on both sides
    row = refund_row(pay_env, answer["id"])
    assert row.status == "succeeded"
    assert row.reason == "打卡 14 天，退部分押金"
    assert row.operator_id is not None
    ledger = pay_env.ledger()
    assert ledger["refunded_total"] == 300
    assert [r["out_refund_no"] for r in ledger["refunds"]] == [row.out_refund_no]
    with pay_env.db.session_scope() as session:
        stored = session.get(PayOrder, order.id)
        assert stored is not None
        assert stored.refunded == 300
    [event] = pay_env.events("pay.refunded")
    assert event.props["amount"] == 300
    # and the audit log says who asked for how much (not why: free text stays on the refund)
    with pay_env.db.session_scope() as session:
        [entry] = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "pay.refund_requested")
        ).all()
        assert (entry.target_type, entry.target_id) == ("order", str(order.id))
        assert entry.detail == {"refund_id": answer["id"], "amount_fen": 300}


def test_a_refund_whose_answer_is_lost_is_sent_again_and_leaves_once(pay_env: PayEnv) -> None:
    # given WeChat accepts a refund but the answer never arrives (then once more a 500)
    order = paid(pay_env)
    pay_env.pay.inject("refund", "error_after")
    pay_env.pay.inject("refund", "error_before")
    with pay_env.db.session_scope() as session:
        refund = service.request_refund(session, pay_env.workspace_id, order.id, 990, "退款")
    # when siyu sends it, and the sweep sends it again later with the same out_refund_no
    first = service.submit_refund(pay_env.db, service.clients(), refund.id)
    assert first is not None
    assert first.status == "pending"
    assert first.last_error is not None
    for _ in range(3):
        pay_env.clock.advance(timedelta(minutes=5))
        service.sweep(pay_env.db, service.clients())
    pay_env.pay.tick()
    # then the money left once, and siyu knows it succeeded
    ledger = pay_env.ledger()
    assert len(ledger["refunds"]) == 1
    assert ledger["refunded_total"] == 990
    row = refund_row(pay_env, refund.id)
    assert row.status == "succeeded"
    assert row.attempts == 3
    assert len(pay_env.events("pay.refunded")) == 1


def test_insufficient_balance_is_surfaced_and_retried(pay_env: PayEnv) -> None:
    # given the merchant's balance cannot cover the refund
    order = paid(pay_env)
    pay_env.pay.inject("refund", "not_enough")
    with pay_env.db.session_scope() as session:
        refund = service.request_refund(session, pay_env.workspace_id, order.id, 500, "退款")
    # when siyu sends it
    answer = service.submit_refund(pay_env.db, service.clients(), refund.id)
    # then staff see why it waits, and the next try (balance topped up) goes through
    assert answer is not None
    assert answer.status == "pending"
    assert answer.last_error is not None
    assert answer.last_error.startswith("NOT_ENOUGH")
    with pay_env.db.session_scope() as session:
        waiting = service.list_refunds(
            session, pay_env.workspace_id, statuses=[RefundStatus.pending]
        )
        assert [r.id for r in waiting] == [refund.id]
    pay_env.clock.advance(timedelta(minutes=2))
    service.sweep(pay_env.db, service.clients())
    pay_env.pay.tick()
    assert refund_row(pay_env, refund.id).status == "succeeded"


def test_an_abnormal_refund_is_surfaced(pay_env: PayEnv) -> None:
    order = paid(pay_env)
    pay_env.pay.merchant(MCHID).abnormal_openids.add(pay_env.openid)
    with pay_env.db.session_scope() as session:
        refund = service.request_refund(session, pay_env.workspace_id, order.id, 990, "退款")
    service.submit_refund(pay_env.db, service.clients(), refund.id)
    pay_env.pay.tick()
    assert refund_row(pay_env, refund.id).status == "abnormal"
    assert pay_env.events("pay.refunded") == []


def test_a_refund_outcome_without_notification_is_learned_by_query(pay_env: PayEnv) -> None:
    # given a refund whose notification never reaches siyu
    order = paid(pay_env)
    with pay_env.db.session_scope() as session:
        refund = service.request_refund(session, pay_env.workspace_id, order.id, 100, "退款")
    service.submit_refund(pay_env.db, service.clients(), refund.id)
    pay_env.pay.settle_refunds()
    pay_env.pay.outbox.clear()
    assert refund_row(pay_env, refund.id).status == "processing"
    # when the sweep runs after the outcome was due
    pay_env.clock.advance(timedelta(minutes=11))
    done = service.sweep(pay_env.db, service.clients())
    # then siyu asked and knows
    assert done.refunds_queried == 1
    assert refund_row(pay_env, refund.id).status == "succeeded"
    assert len(pay_env.events("pay.refunded")) == 1


def refused(
    env: PayEnv,
    staff: TestClient,
    order_id: int,
    amount: int,
    code: str,
    status: int,
    reason: str = "退款",
) -> None:
    before = env.counts()
    answer = ask(staff, order_id, amount, reason)
    assert (answer["http"], answer["code"]) == (status, code)
    assert env.counts() == before
    assert env.drain() == 0


def test_a_refund_above_what_was_paid_is_refused(pay_env: PayEnv, pay_staff: TestClient) -> None:
    order = paid(pay_env)
    refused(pay_env, pay_staff, order.id, 991, "pay.refund_exceeds_paid", 409)
    assert ask(pay_staff, order.id, 600)["http"] == 202
    assert pay_env.drain() == 1
    refused(pay_env, pay_staff, order.id, 391, "pay.refund_exceeds_paid", 409)


def test_a_refund_after_a_year_is_refused(pay_env: PayEnv, pay_staff: TestClient) -> None:
    order = paid(pay_env)
    pay_env.clock.advance(timedelta(days=366))
    refused(pay_env, pay_staff, order.id, 100, "pay.refund_too_late", 409)


def test_an_unpaid_order_cannot_be_refunded(pay_env: PayEnv, pay_staff: TestClient) -> None:
    order = pay_env.order(990)
    refused(pay_env, pay_staff, order.id, 100, "pay.order_not_paid", 409)


def test_a_staff_refund_needs_a_reason(
    pay_env: PayEnv, pay_staff: TestClient, owner: Principal
) -> None:
    order = paid(pay_env)
    refused(pay_env, pay_staff, order.id, 100, "request.invalid", 422, reason="")
    refused(pay_env, pay_staff, order.id, 100, "request.invalid", 422, reason="很" * 81)
    with pay_env.db.session_scope() as session, pytest.raises(SiyuError) as refusal:
        service.refund_by_staff(session, owner, order.id, 100, "  ")
    assert refusal.value.code == "pay.refund_reason_required"


def test_an_order_is_refunded_at_most_fifty_times(pay_env: PayEnv, pay_staff: TestClient) -> None:
    order = paid(pay_env, amount=5000)
    for _ in range(50):
        assert ask(pay_staff, order.id, 1)["http"] == 202
    pay_env.drain()  # only the first goes through now: WeChat wants a minute between refunds
    refused(pay_env, pay_staff, order.id, 1, "pay.too_many_refunds", 409)


def test_the_sandbox_enforces_the_refund_rules_itself(pay_env: PayEnv) -> None:
    # given refunds siyu would never send: the sandbox refuses them as WeChat would
    order = paid(pay_env)
    merchant = pay_env.pay.merchant(MCHID)
    body = {"out_trade_no": order.out_trade_no, "amount": {"refund": 991, "total": 990}}
    from siyu.sandbox.pay import PayError

    with pytest.raises(PayError) as too_much:
        pay_env.pay.refund(merchant, {**body, "out_refund_no": "R1"})
    assert too_much.value.code == "INVALID_REQUEST"
    pay_env.pay.refund(
        merchant, {**body, "out_refund_no": "R2", "amount": {"refund": 1, "total": 990}}
    )
    with pytest.raises(PayError) as too_soon:
        pay_env.pay.refund(
            merchant, {**body, "out_refund_no": "R3", "amount": {"refund": 1, "total": 990}}
        )
    assert too_soon.value.code == "FREQUENCY_LIMITED"
    pay_env.clock.advance(timedelta(days=366))
    with pytest.raises(PayError) as too_late:
        pay_env.pay.refund(
            merchant, {**body, "out_refund_no": "R4", "amount": {"refund": 1, "total": 990}}
        )
    assert too_late.value.code == "INVALID_REQUEST"
    with pay_env.db.session_scope() as session:
        assert session.scalars(select(PayRefund)).all() == []


def test_the_sandbox_answers_an_unpaid_orders_refund_as_wechat_pay_does(
    pay_env: PayEnv,
) -> None:
    # Given an order WeChat Pay holds (its prepay made) that nobody paid
    order = pay_env.order(990)
    pay_env.params(order)
    merchant = pay_env.pay.merchant(MCHID)
    before = dict(merchant.refunds)
    # When a refund of it is asked straight of the sandbox's v3 API (siyu itself refuses first)
    body = {
        "out_trade_no": order.out_trade_no,
        "out_refund_no": "R-UNPAID-1",
        "amount": {"refund": 990, "total": 990, "currency": "CNY"},
    }
    with pytest.raises(PayError) as refused:
        pay_env.pay.refund(merchant, body)
    # Then it answers 404 RESOURCE_NOT_EXISTS "订单不存在", as WeChat Pay does, and holds no refund
    assert (refused.value.status, refused.value.code) == (404, "RESOURCE_NOT_EXISTS")
    assert refused.value.message == "订单不存在"
    assert merchant.refunds == before


# --- Idempotency-Key ------------------------------------------------------------------------


def ask_with_key(
    staff: TestClient, order_id: int, key: str, amount: int = 300, reason: str = "活动取消"
) -> dict[str, Any]:
    response = staff.post(
        f"/api/pay/orders/{order_id}/refunds",
        json={"amount": amount, "reason": reason},
        headers={"Idempotency-Key": key},
    )
    return {**response.json(), "http": response.status_code}


def audits(env: PayEnv) -> int:
    with env.db.session_scope() as session:
        return len(
            session.scalars(
                select(AuditEntry).where(AuditEntry.action == "pay.refund_requested")
            ).all()
        )


def test_a_staff_refund_asked_twice_with_one_key_is_one_refund(
    pay_env: PayEnv, pay_staff: TestClient
) -> None:
    # given a paid order of 9.90
    order = paid(pay_env)
    # when staff ask for a refund, their client loses the answer and asks again with the key
    first = ask_with_key(pay_staff, order.id, "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d")
    again = ask_with_key(pay_staff, order.id, "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d")
    # then both answers are the one refund, asked, audited, sent and paid once
    assert (first["http"], again["http"]) == (202, 202)
    assert again["id"] == first["id"]
    assert again["out_refund_no"] == first["out_refund_no"]
    assert pay_env.counts()["refunds"] == 1
    assert audits(pay_env) == 1
    assert pay_env.drain() == 1
    pay_env.pay.tick()
    assert pay_env.ledger()["refunded_total"] == 300
    # and another key is another refund (the order has room for it)
    other = ask_with_key(pay_staff, order.id, "another-key", amount=200)
    assert other["http"] == 202
    assert other["id"] != first["id"]


def test_a_key_reused_for_another_refund_is_refused_and_writes_nothing(
    pay_env: PayEnv, pay_staff: TestClient
) -> None:
    # given a refund made with a key
    order = paid(pay_env)
    assert ask_with_key(pay_staff, order.id, "k-1")["http"] == 202
    pay_env.drain()
    before, audited = pay_env.counts(), audits(pay_env)
    # when the key comes again with another amount, or another reason
    other_amount = ask_with_key(pay_staff, order.id, "k-1", amount=301)
    other_reason = ask_with_key(pay_staff, order.id, "k-1", reason="换个原因")
    # then both are refused by name, and nothing was written or sent
    for answer in (other_amount, other_reason):
        assert (answer["http"], answer["code"]) == (409, "pay.idempotency_key_reused")
    assert pay_env.counts() == before
    assert audits(pay_env) == audited
    assert pay_env.drain() == 0


def test_a_malformed_idempotency_key_is_refused_before_anything(
    pay_env: PayEnv, pay_staff: TestClient
) -> None:
    order = paid(pay_env)
    before = pay_env.counts()
    for key in ("x" * 65, "with space"):
        answer = ask_with_key(pay_staff, order.id, key)
        assert (answer["http"], answer["code"]) == (422, "request.invalid"), key
    assert pay_env.counts() == before
    assert pay_env.drain() == 0


@pytest.mark.postgres_only
def test_racing_asks_with_one_key_make_one_refund(pay_env: PayEnv, owner: Principal) -> None:
    # given a paid order and eight asks with one key, released together on PostgreSQL
    order = paid(pay_env)
    barrier = threading.Barrier(8)

    def asked(_: int) -> int:
        barrier.wait()
        with pay_env.db.session_scope() as session:
            return service.refund_by_staff(
                session, owner, order.id, 300, "退款", idempotency_key="race"
            ).id

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(asked, range(8)))
    # then every ask got the one refund, and one was recorded and sent
    assert len(set(ids)) == 1
    assert pay_env.counts()["refunds"] == 1
    assert audits(pay_env) == 1
    assert pay_env.drain() == 1
