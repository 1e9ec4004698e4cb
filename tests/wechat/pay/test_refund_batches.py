"""Refunds in batches: claimed together, sent concurrently, recorded together, and ending
exactly as sending them one by one would; a refund another runner holds is not asked twice."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from siyu.sandbox.pay import Fault
from siyu.wechat.pay import service
from siyu.wechat.pay.client import PayCallError, RateLimit
from siyu.wechat.pay.models import PayRefund
from tests.support.pay import PayEnv, spy_refund_calls

# What the sandbox does with each refund's first call, by position in the batch.
PLAN: list[Fault | None] = [
    None,
    "error_after",  # accepted, but the answer is lost (a timeout looks the same)
    None,
    "error_before",  # a 500 before accepting
    "not_enough",  # the balance is short: retried later
    None,
    "frequency_limited",
    "error_after",
    None,
]
TOO_MUCH = len(PLAN)  # one more refund, for more than its order holds: refused for good


def refunds_for(env: PayEnv, tag: str) -> list[int]:
    """One refund per paid order: the plan's, then one WeChat refuses (amount above paid)."""
    ids = []
    for i in range(len(PLAN) + 1):
        order = env.order(500 + i, reference=f"{tag}:{i}")
        env.pay_order(order)
        with env.db.session_scope() as session:
            ids.append(service.request_refund(session, env.workspace_id, order.id, 100, "退款").id)
    with env.db.session_scope() as session:
        # siyu would not ask this itself: the sandbox's own rule refuses it (INVALID_REQUEST).
        session.execute(update(PayRefund).where(PayRefund.id == ids[TOO_MUCH]).values(amount=999))
    return ids


def send_alone(env: PayEnv, refund_id: int) -> None:
    """Claim, call and record one refund, its answer through `record_refund_answer`."""
    with env.db.session_scope() as session:
        [call] = service.claim_refund_calls(session, [refund_id])
    answer, error = None, None
    try:
        answer = (
            service.clients()
            .get(call.keys)
            .refund(
                out_refund_no=call.out_refund_no,
                out_trade_no=call.out_trade_no,
                amount=call.amount,
                total=call.total,
                reason=call.reason,
            )
        )
    except PayCallError as exc:
        error = exc
    with env.db.session_scope() as session:
        service.record_refund_answer(session, refund_id, answer, error)


def outcome(env: PayEnv, refund_ids: list[int]) -> list[tuple[Any, ...]]:
    """Each refund's state, tries, last error's code and when it is tried next (from now)."""
    now = env.clock.now()
    with env.db.session_scope() as session:
        rows = {r.id: r for r in session.scalars(select(PayRefund))}
        found = []
        for i in refund_ids:
            row, next_at = rows[i], rows[i].next_attempt_at
            found.append(
                (
                    str(row.status),
                    row.attempts,
                    (row.last_error or "").split(":")[0],
                    None if next_at is None else next_at - now,
                    row.claimed_until,
                )
            )
        return found


def numbers(env: PayEnv, refund_ids: list[int]) -> list[str]:
    with env.db.session_scope() as session:
        return [r.out_refund_no for r in service.read_refunds(session, refund_ids)]


def test_a_batch_with_timeouts_failures_and_successes_ends_as_one_by_one_would(
    pay_env: PayEnv,
) -> None:
    # given two identical sets of refunds, and the same answer planned for each position
    one_by_one, batch = refunds_for(pay_env, "single"), refunds_for(pay_env, "batch")
    plan = {
        number: fault
        for ids in (one_by_one, batch)
        for number, fault in zip(numbers(pay_env, ids), [*PLAN, None], strict=True)
    }
    calls = spy_refund_calls(pay_env.pay, plan)
    # when the first set is sent one refund at a time, each answer recorded on its own as
    # before batches, and the second as one batch
    for refund_id in one_by_one:
        send_alone(pay_env, refund_id)
    done = service.submit_refunds(pay_env.db, service.clients(), batch)
    # then every refund of the batch ends as its twin did
    assert outcome(pay_env, batch) == outcome(pay_env, one_by_one)
    statuses = [row[0] for row in outcome(pay_env, batch)]
    assert statuses == [
        "processing",
        "pending",
        "processing",
        "pending",
        "pending",
        "processing",
        "pending",
        "pending",
        "processing",
        "failed",
    ]
    assert (done.sent, done.accepted, done.retry, done.one_by_one) == (10, 4, 5, 1)
    assert outcome(pay_env, batch)[TOO_MUCH][2] == "INVALID_REQUEST"
    # and each refund was asked of WeChat once, the ones WeChat accepted are in its ledger
    assert set(calls.values()) == {1}
    accepted_at_wechat = {r["out_refund_no"] for r in pay_env.ledger()["refunds"]}
    batch_numbers = numbers(pay_env, batch)
    assert accepted_at_wechat & set(batch_numbers) == {
        batch_numbers[i] for i, fault in enumerate(PLAN) if fault in (None, "error_after")
    }
    # when the retries are due, the sweep sends them again with the same numbers
    pay_env.clock.advance(timedelta(minutes=2))
    swept = service.sweep(pay_env.db, service.clients())
    pay_env.pay.tick()
    assert swept.refunds_sent == 10
    # then the money left once per refund, the refused one never
    ledger = pay_env.ledger()
    paid_out = Counter(r["out_refund_no"] for r in ledger["refunds"])
    assert set(paid_out.values()) == {1}
    assert len(paid_out) == 18
    assert ledger["refunded_total"] == 18 * 100
    assert [row[0] for row in outcome(pay_env, batch)] == [*["succeeded"] * 9, "failed"]
    assert outcome(pay_env, batch) == outcome(pay_env, one_by_one)
    assert len(pay_env.events("pay.refunded")) == 18


def test_a_refund_another_runner_holds_is_not_asked_again(pay_env: PayEnv) -> None:
    # given a refund a runner claimed and is sending
    order = pay_env.order(990, reference="held")
    pay_env.pay_order(order)
    with pay_env.db.session_scope() as session:
        refund = service.request_refund(session, pay_env.workspace_id, order.id, 990, "退款")
    with pay_env.db.session_scope() as session:
        [call] = service.claim_refund_calls(session, [refund.id])
    calls = spy_refund_calls(pay_env.pay)
    # when another runner, a resent job and the sweep try to send it
    again = service.submit_refunds(pay_env.db, service.clients(), [refund.id])
    forced = service.submit_refund(pay_env.db, service.clients(), refund.id)
    swept = service.sweep(pay_env.db, service.clients())
    # then none of them asks WeChat, and the refund waits for its runner
    assert (again.sent, forced, swept.refunds_sent) == (0, None, 0)
    assert sum(calls.values()) == 0
    assert pay_env.ledger()["refunds"] == []
    # when the runner died, its hold runs out and the sweep sends it, with the same number
    pay_env.clock.advance(service.CLAIM_LEASE + timedelta(seconds=1))
    swept = service.sweep(pay_env.db, service.clients())
    assert swept.refunds_sent == 1
    assert [r["out_refund_no"] for r in pay_env.ledger()["refunds"]] == [call.out_refund_no]


def test_the_same_batch_sent_twice_asks_wechat_once_per_refund(pay_env: PayEnv) -> None:
    # given refunds a batch sent and WeChat accepted
    ids = []
    for i in range(4):
        order = pay_env.order(300, reference=f"twice:{i}")
        pay_env.pay_order(order)
        with pay_env.db.session_scope() as session:
            ids.append(
                service.request_refund(session, pay_env.workspace_id, order.id, 300, "退").id
            )
    calls = spy_refund_calls(pay_env.pay)
    first = service.submit_refunds(pay_env.db, service.clients(), ids)
    # when the job runs again (a worker that died after sending, before its acknowledgement)
    second = service.submit_refunds(pay_env.db, service.clients(), ids)
    pay_env.pay.tick()
    # then nothing is asked twice, and each refund succeeded once
    assert (first.accepted, second.sent) == (4, 0)
    assert sorted(calls.values()) == [1, 1, 1, 1]
    assert pay_env.ledger()["refunded_total"] == 1200
    assert len(pay_env.events("pay.refunded")) == 4


def test_refused_calls_slow_every_call_to_the_error_rate() -> None:
    # given WeChat's 6 refused refund requests a second (a second's worth at once)
    errors = RateLimit(6, 6)
    for _ in range(6):
        errors.charge()
    # then 6 refusals at once cost no wait, a 7th makes the next call wait about 1/6 s
    assert errors.delay() < 0.05
    errors.charge()
    assert 1 / 6 - 0.05 < errors.delay() <= 1 / 6 + 0.01
    # and without a limit nothing waits
    free = RateLimit(0)
    free.charge()
    assert free.delay() == 0
