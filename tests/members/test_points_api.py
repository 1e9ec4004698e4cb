"""The staff API under /api/points: policy, rules, levels, the ledger and adjustments; bad
input is a 4xx naming the problem with nothing written."""

from __future__ import annotations

from fastapi.testclient import TestClient

from siyu.core.clock import FrozenClock
from siyu.core.db import Database
from tests.support.points import Loyalty
from tests.support.security import audit_actions, row_counts


def test_rules_levels_policy_ledger_and_adjust(
    api: TestClient, db: Database, loyalty: Loyalty, frozen_clock: FrozenClock
) -> None:
    # rules: one per trigger
    made = api.post("/api/points/rules", json={"trigger": "pay_paid", "points": 1, "growth": 1})
    assert made.status_code == 201, made.text
    again = api.post("/api/points/rules", json={"trigger": "pay_paid", "points": 2})
    assert (again.status_code, again.json()["code"]) == (409, "members.rule_exists")
    rule_id = made.json()["id"]
    changed = api.put(
        f"/api/points/rules/{rule_id}", json={"trigger": "pay_paid", "points": 3, "daily_cap": 50}
    )
    assert changed.json()["daily_cap"] == 50
    assert [r["points"] for r in api.get("/api/points/rules").json()] == [3]
    # levels: thresholds rise with the rank
    assert (
        api.post(
            "/api/points/levels", json={"rank": 1, "name": "银卡", "threshold": 100}
        ).status_code
        == 201
    )
    before = row_counts(db)
    bad = api.post("/api/points/levels", json={"rank": 2, "name": "金卡", "threshold": 50})
    assert (bad.status_code, bad.json()["code"]) == (422, "members.invalid_levels")
    assert row_counts(db) == before
    # the policy: a fixed expiry needs its day
    bad_policy = api.put("/api/points/policy", json={"expiry_mode": "fixed"})
    assert (bad_policy.status_code, bad_policy.json()["code"]) == (422, "members.invalid_policy")
    fixed = api.put(
        "/api/points/policy", json={"expiry_mode": "fixed", "expiry_fixed_day": "12-31"}
    )
    assert fixed.json()["expiry_fixed_day"] == "12-31"
    # adjust: a grant with a reason, retried with its key, is one entry
    member = loyalty.member()
    number = loyalty.number(member)
    body = {"member_number": number, "amount": 25, "reason": "客服补偿"}
    for _ in range(2):
        granted = api.post("/api/points/adjust", json=body, headers={"Idempotency-Key": "a1"})
        assert granted.status_code == 201, granted.text
    assert api.get(f"/api/points/members/{number}").json()["balance"] == 25
    ledger = api.get("/api/points/ledger", params={"member": number}).json()
    assert [(e["kind"], e["amount"], e["reason"]) for e in ledger] == [("adjust", 25, "客服补偿")]
    assert audit_actions(db).count("points.adjusted") == 1
    # a deduction below zero, or no reason: refused, nothing written
    before = row_counts(db, without=("audit_log",))
    below = api.post("/api/points/adjust", json={**body, "amount": -26})
    assert (below.status_code, below.json()["code"]) == (409, "members.adjust_below_zero")
    blank = api.post("/api/points/adjust", json={**body, "reason": "   "})
    assert blank.status_code == 422
    assert row_counts(db, without=("audit_log",)) == before
