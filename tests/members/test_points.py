"""The points ledger: idempotent earning, caps, spending the lots that expire first, refunds
taking back what their payment earned, staff adjustments."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from siyu.core.clock import FrozenClock
from siyu.core.errors import SiyuError
from siyu.members import service as members
from siyu.members.enums import EarnTrigger
from tests.support.points import Loyalty, beijing
from tests.support.security import row_counts


def test_the_same_source_earns_once(loyalty: Loyalty, frozen_clock: FrozenClock) -> None:
    # given a rule of 2 points a yuan and a member
    loyalty.rule(EarnTrigger.pay_paid, 2, growth=1)
    member = loyalty.member()
    # when the same payment is heard twice
    first = loyalty.earn(member, EarnTrigger.pay_paid, "pay.paid:T1", units=30)
    second = loyalty.earn(member, EarnTrigger.pay_paid, "pay.paid:T1", units=30)
    # then it earned once
    assert (first.points, first.duplicate) == (60, False)
    assert (second.points, second.duplicate) == (0, True)
    assert loyalty.balance(member) == 60
    assert loyalty.entries(member) == [("earn", 60, 0)]
    assert loyalty.account(member).growth == 30


def test_daily_and_member_caps(loyalty: Loyalty, frozen_clock: FrozenClock) -> None:
    # given check-ins worth 10, at most 15 a day and 25 in all
    loyalty.rule(EarnTrigger.checkin, 10, daily_cap=15, member_cap=25)
    member = loyalty.member()
    frozen_clock.advance(beijing("2026-11-21", 9) - frozen_clock.now())
    # when the member checks in three times on one day, then twice the next day
    day_one = [loyalty.earn(member, EarnTrigger.checkin, f"c:{i}").points for i in range(3)]
    frozen_clock.advance(timedelta(days=1))
    day_two = [loyalty.earn(member, EarnTrigger.checkin, f"d:{i}").points for i in range(2)]
    # then the day's cap and the member's cap held
    assert day_one == [10, 5, 0]
    assert day_two == [10, 0]
    assert loyalty.balance(member) == 25


def test_spend_takes_the_lots_that_expire_first(
    loyalty: Loyalty, frozen_clock: FrozenClock
) -> None:
    # given 3-month points earned in November, then a never-expiring staff grant
    loyalty.policy(expiry_mode="rolling", expiry_months=3)
    loyalty.rule(EarnTrigger.oa_follow, 50)
    member = loyalty.member()
    loyalty.earn(member, EarnTrigger.oa_follow, "follow:1")
    frozen_clock.advance(timedelta(days=10))
    loyalty.rule(EarnTrigger.checkin, 30)
    loyalty.earn(member, EarnTrigger.checkin, "c:1")
    # when 60 are spent
    with loyalty.db.session_scope() as session:
        entry = members.spend_points(session, member, 60, "mall:1")
    # then the first lot is emptied and the second gave 10
    assert entry.amount == -60
    assert loyalty.lots(member) == [(50, 0), (30, 20)]
    assert loyalty.balance(member) == loyalty.lots_sum(member) == 20


def test_spending_more_than_the_balance_writes_nothing(
    loyalty: Loyalty, frozen_clock: FrozenClock
) -> None:
    member = loyalty.member()
    loyalty.grant(member, 5, "g1")
    before = row_counts(loyalty.db)
    with pytest.raises(SiyuError) as refused, loyalty.db.session_scope() as session:
        members.spend_points(session, member, 6, "mall:2")
    assert refused.value.code == "members.insufficient_points"
    assert row_counts(loyalty.db) == before
    assert loyalty.balance(member) == 5


def test_a_spend_asked_twice_spends_once(loyalty: Loyalty, frozen_clock: FrozenClock) -> None:
    member = loyalty.member()
    loyalty.grant(member, 10, "g1")
    for _ in range(2):
        with loyalty.db.session_scope() as session:
            members.spend_points(session, member, 4, "mall:3")
    assert loyalty.balance(member) == 6
    with pytest.raises(SiyuError) as refused, loyalty.db.session_scope() as session:
        members.spend_points(session, member, 5, "mall:3")
    assert refused.value.code == "members.source_key_reused"


@pytest.mark.postgres_only
def test_twenty_simultaneous_spends_with_points_for_three(
    loyalty: Loyalty, frozen_clock: FrozenClock
) -> None:
    # given a member with points for 3 spends of 10
    member = loyalty.member()
    loyalty.grant(member, 30, "g1")
    start = threading.Barrier(20)
    outcomes: list[str] = []
    lock = threading.Lock()

    def spend(i: int) -> None:
        start.wait()
        try:
            with loyalty.db.session_scope() as session:
                members.spend_points(session, member, 10, f"mall:{i}")
            result = "ok"
        except SiyuError as exc:
            result = exc.code
        with lock:
            outcomes.append(result)

    # when 20 spend at once
    threads = [threading.Thread(target=spend, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # then exactly 3 went through and the balance is zero, lots and all
    assert outcomes.count("ok") == 3
    assert outcomes.count("members.insufficient_points") == 17
    assert loyalty.balance(member) == loyalty.lots_sum(member) == 0


def test_a_refund_takes_back_what_its_payment_earned_with_shortfall(
    loyalty: Loyalty, frozen_clock: FrozenClock
) -> None:
    # given a payment of 100 yuan that earned 100 points, 70 of them spent
    loyalty.rule(EarnTrigger.pay_paid, 1)
    member = loyalty.member()
    loyalty.earn(member, EarnTrigger.pay_paid, "pay.paid:T9", units=100)
    with loyalty.db.session_scope() as session:
        members.spend_points(session, member, 70, "mall:9")
    ws = loyalty.workspace_id
    # when half is refunded, then the rest (each refund heard twice)
    for refund in ("R1", "R1"):
        with loyalty.db.session_scope() as session:
            members.claw_back(
                session, ws, "pay.paid:T9", f"pay.refund:{refund}", refunded=5000, paid=10000
            )
    assert loyalty.balance(member) == 0
    for refund in ("R2", "R2"):
        with loyalty.db.session_scope() as session:
            members.claw_back(
                session, ws, "pay.paid:T9", f"pay.refund:{refund}", refunded=5000, paid=10000
            )
    # then 30 came back, down to zero, and 70 are recorded as owed
    assert loyalty.entries(member) == [
        ("earn", 100, 0),
        ("spend", -70, 0),
        ("clawback", -30, 20),
        ("clawback", 0, 50),
    ]
    assert loyalty.balance(member) == loyalty.lots_sum(member) == 0


def test_an_adjustment_needs_a_reason_and_is_audited(
    loyalty: Loyalty, frozen_clock: FrozenClock
) -> None:
    member = loyalty.member()
    before = row_counts(loyalty.db)
    with pytest.raises(SiyuError) as refused, loyalty.db.session_scope() as session:
        members.adjust(session, loyalty.owner, member, 10, "  ", key="k1")
    assert refused.value.code == "members.reason_required"
    assert row_counts(loyalty.db) == before
    loyalty.grant(member, 10, "k2")
    with pytest.raises(SiyuError) as below, loyalty.db.session_scope() as session:
        members.adjust(session, loyalty.owner, member, -11, "扣错", key="k3")
    assert below.value.code == "members.adjust_below_zero"
    from tests.support.security import audit_actions

    assert "points.adjusted" in audit_actions(loyalty.db)
    assert loyalty.balance(member) == 10
