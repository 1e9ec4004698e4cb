"""Coupons: templates, claims in the Mini Program and by staff, new-member gifts, redemption
by order (idempotent) and its refund, the per-template report; every refusal a stable code
with nothing written."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from siyu.core.clock import FrozenClock
from siyu.core.db import Database
from siyu.identity import service as identity
from siyu.identity.schemas import PersonRef
from siyu.workspaces.schemas import AppRead
from tests.support.coupons import (
    MpMember,
    claim,
    claimed,
    create_template,
    redeem_body,
    template_body,
    written,
)
from tests.support.names import MP_APPID

Shopper = Callable[[int], MpMember]
pytestmark = pytest.mark.usefixtures("frozen_clock", "mp_app")


def test_a_member_claims_in_the_mini_program_and_sees_the_coupon_as_usable(
    api: TestClient, shopper: Shopper
) -> None:
    # given a 满减 template offered in the Mini Program
    template = create_template(api)
    alice = shopper(1)
    # when Alice claims it
    coupon = claimed(api, alice, template["id"])
    # then she holds an unguessable code, usable for 30 days
    assert coupon["state"] == "usable"
    assert len(coupon["code"]) == 16
    assert coupon["code"].isalnum()
    mine = api.get(f"/api/mp/{MP_APPID}/me/coupons", headers=alice.headers).json()
    assert [c["code"] for c in mine["usable"]] == [coupon["code"]]
    assert mine["used"] == mine["expired"] == []
    # and the template counts one issued
    assert api.get(f"/api/coupons/templates/{template['id']}").json()["issued"] == 1


def test_codes_differ_between_members(api: TestClient, shopper: Shopper) -> None:
    template = create_template(api, per_member_limit=3)
    codes = {claimed(api, shopper(i % 2), template["id"])["code"] for i in range(6)}
    assert len(codes) == 6


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"amount_off": None}, "amount_off"),
        ({"kind": "percent_off", "amount_off": None}, "percent_off"),
        ({"kind": "gift", "amount_off": None}, "gift_name"),
        ({"valid_days": None}, "valid_until"),
        ({"valid_until": "2026-12-31T00:00:00+08:00"}, "either"),
        ({"amount_off": 20000}, "threshold"),
        ({"stock": -1}, "stock"),
        ({"per_member_limit": 0}, "per_member_limit"),
    ],
)
def test_inconsistent_templates_are_refused_and_nothing_is_written(
    api: TestClient, db: Database, fields: dict[str, Any], problem: str
) -> None:
    response = api.post("/api/coupons/templates", json=template_body(**fields))
    assert response.status_code == 422
    assert response.json()["code"] == "request.invalid"
    assert problem in response.text
    assert written(db).templates == 0


def test_a_second_template_of_the_same_name_or_keyword_is_refused(
    api: TestClient, db: Database
) -> None:
    create_template(api, oa_keyword="领券")
    same_name = api.post("/api/coupons/templates", json=template_body())
    same_keyword = api.post(
        "/api/coupons/templates", json=template_body(name="另一张", oa_keyword="领券")
    )
    assert (same_name.status_code, same_name.json()["code"]) == (409, "members.template_exists")
    assert (same_keyword.status_code, same_keyword.json()["code"]) == (
        409,
        "members.keyword_taken",
    )
    assert written(db).templates == 1


def test_past_the_stock_and_past_the_limit_claims_are_refused_and_nothing_is_written(
    api: TestClient, db: Database, shopper: Shopper
) -> None:
    # given two coupons in stock, at most one per member
    template = create_template(api, stock=2)
    claimed(api, shopper(1), template["id"])
    # when the same member claims again
    again = claim(api, shopper(1), template["id"])
    # then the per-member limit refuses it
    assert (again.status_code, again.json()["code"]) == (409, "members.limit_reached")
    assert written(db).coupons == 1
    # and once the stock is gone, another member is refused too
    claimed(api, shopper(2), template["id"])
    late = claim(api, shopper(3), template["id"])
    assert (late.status_code, late.json()["code"]) == (409, "members.out_of_stock")
    state = written(db)
    assert (state.coupons, state.issued) == (2, 2)


def test_paused_templates_and_templates_not_offered_in_the_mp_cannot_be_claimed(
    api: TestClient, db: Database, shopper: Shopper
) -> None:
    paused = create_template(api)
    api.post(f"/api/coupons/templates/{paused['id']}/status", json={"status": "paused"})
    staff_only = create_template(api, name="员工发放", mp_claimable=False)
    offered = api.get(f"/api/mp/{MP_APPID}/coupons/claimable", headers=shopper(1).headers)
    assert offered.json() == []
    for template in (paused, staff_only):
        response = claim(api, shopper(1), template["id"])
        assert (response.status_code, response.json()["code"]) == (409, "members.not_claimable")
    assert written(db).coupons == 0


def test_staff_issue_lists_each_refusal_and_issues_the_rest(
    api: TestClient, db: Database, shopper: Shopper
) -> None:
    # given a template with one per member, and Alice already holding one
    template = create_template(api, mp_claimable=False, stock=10)
    alice, bob = shopper(1), shopper(2)
    first = api.post(
        f"/api/coupons/templates/{template['id']}/issue", json={"member_numbers": [alice.number]}
    )
    assert first.status_code == 200, first.text
    # when staff issue to Alice, Bob and a number nobody has
    result = api.post(
        f"/api/coupons/templates/{template['id']}/issue",
        json={"member_numbers": [alice.number, bob.number, 99999]},
    ).json()
    # then Bob's is issued, and the other two are refused with their codes
    assert [c["source"] for c in result["issued"]] == ["staff"]
    assert result["refused"] == [
        {"member_number": alice.number, "code": "members.limit_reached"},
        {"member_number": 99999, "code": "identity.member_not_found"},
    ]
    state = written(db)
    assert (state.coupons, state.issued) == (2, 2)


def test_a_new_member_gets_the_new_member_gift_once(
    api: TestClient, db: Database, mp_app: AppRead
) -> None:
    # given a new-member gift
    create_template(
        api,
        name="新人礼",
        kind="gift",
        amount_off=None,
        gift_name="帆布袋",
        threshold=0,
        new_member_gift=True,
        mp_claimable=False,
    )
    # when a person becomes a member, and is seen again
    ref = PersonRef(appid=MP_APPID, openid="oNEW-member-1")
    for _ in range(2):
        with db.session_scope() as session:
            identity.resolve_member(session, mp_app, ref)
    # then they hold one gift coupon
    state = written(db)
    assert (state.coupons, state.issued) == (1, 1)


# --- redemption ----------------------------------------------------------------------------


def test_redeeming_takes_the_discount_once_per_order(
    api: TestClient, db: Database, shopper: Shopper
) -> None:
    # given Alice's ¥20-off-¥100 coupon
    template = create_template(api)
    alice = shopper(1)
    code = claimed(api, alice, template["id"])["code"]
    body = redeem_body(code, alice, "ORDER-1", 12800)
    # when the till redeems it for a ¥128 order, twice (a retry)
    first = api.post("/api/coupons/redeem", json=body)
    again = api.post("/api/coupons/redeem", json=body)
    # then both answers are the same: ¥20 off, ¥108 to pay; one redemption
    assert first.status_code == 200, first.text
    assert again.json() == first.json()
    assert (first.json()["discount"], first.json()["payable"]) == (2000, 10800)
    state = written(db)
    assert (state.redeemed, state.redemptions) == (1, 1)
    mine = api.get(f"/api/mp/{MP_APPID}/me/coupons", headers=alice.headers).json()
    assert [c["code"] for c in mine["used"]] == [code]


def test_a_percent_coupon_takes_its_share_up_to_its_cap(api: TestClient, shopper: Shopper) -> None:
    template = create_template(
        api, kind="percent_off", amount_off=None, percent_off=15, cap=3000, threshold=0
    )
    alice = shopper(1)
    small = claimed(api, alice, template["id"])["code"]
    answer = api.post("/api/coupons/redeem", json=redeem_body(small, alice, "P-1", 10000)).json()
    assert answer["discount"] == 1500
    other = create_template(
        api,
        name="85折封顶30",
        kind="percent_off",
        amount_off=None,
        percent_off=15,
        cap=3000,
        threshold=0,
    )
    large = claimed(api, alice, other["id"])["code"]
    capped = api.post("/api/coupons/redeem", json=redeem_body(large, alice, "P-2", 50000)).json()
    assert capped["discount"] == 3000


def _refused(api: TestClient, db: Database, body: dict[str, Any], status: int, code: str) -> None:
    before = written(db)
    response = api.post("/api/coupons/redeem", json=body)
    assert (response.status_code, response.json()["code"]) == (status, code), response.text
    assert written(db) == before


def test_redemptions_are_refused_with_stable_codes_and_nothing_written(
    api: TestClient, db: Database, shopper: Shopper, frozen_clock: FrozenClock
) -> None:
    template = create_template(api, per_member_limit=3)
    alice, bob = shopper(1), shopper(2)
    code = claimed(api, alice, template["id"])["code"]
    # a coupon that is not the member's
    _refused(api, db, redeem_body(code, bob, "O-1", 20000), 403, "members.coupon_not_yours")
    # an order below the threshold
    _refused(api, db, redeem_body(code, alice, "O-1", 9999), 422, "members.below_threshold")
    # a code nobody holds, a member nobody is
    _refused(
        api,
        db,
        redeem_body("ABCDEFGHJKLMNPQR", alice, "O-1", 20000),
        404,
        "members.coupon_not_found",
    )
    unknown = {**redeem_body(code, alice, "O-1", 20000), "member": 99999}
    _refused(api, db, unknown, 404, "identity.member_not_found")
    # a used coupon (on another order)
    assert api.post("/api/coupons/redeem", json=redeem_body(code, alice, "O-1", 20000)).is_success
    _refused(api, db, redeem_body(code, alice, "O-2", 20000), 409, "members.coupon_used")
    # the same order again with another coupon
    other = claimed(api, alice, template["id"])["code"]
    _refused(api, db, redeem_body(other, alice, "O-1", 20000), 409, "members.order_has_coupon")
    # an expired coupon
    frozen_clock.advance(timedelta(days=31))
    _refused(api, db, redeem_body(other, alice, "O-3", 20000), 409, "members.coupon_expired")


def test_a_window_coupon_is_not_usable_before_its_window(
    api: TestClient, db: Database, shopper: Shopper, frozen_clock: FrozenClock
) -> None:
    now = frozen_clock.now()
    template = create_template(
        api,
        valid_days=None,
        valid_from=(now + timedelta(days=2)).isoformat(),
        valid_until=(now + timedelta(days=9)).isoformat(),
    )
    alice = shopper(1)
    coupon = claimed(api, alice, template["id"])
    assert coupon["state"] == "not_started"
    _refused(
        api, db, redeem_body(coupon["code"], alice, "W-1", 20000), 409, "members.coupon_not_started"
    )
    frozen_clock.advance(timedelta(days=3))
    assert api.post(
        "/api/coupons/redeem", json=redeem_body(coupon["code"], alice, "W-1", 20000)
    ).is_success


def test_a_refund_returns_the_coupon_while_it_is_valid(
    api: TestClient, db: Database, shopper: Shopper
) -> None:
    # given Alice's coupon used on an order
    template = create_template(api)
    alice = shopper(1)
    code = claimed(api, alice, template["id"])["code"]
    api.post("/api/coupons/redeem", json=redeem_body(code, alice, "R-1", 20000))
    # when the order is refunded (and the refund told twice)
    first = api.post("/api/coupons/refund", json={"order_id": "R-1"})
    again = api.post("/api/coupons/refund", json={"order_id": "R-1"})
    # then the coupon is usable again, and both answers agree
    assert first.status_code == 200, first.text
    assert again.json() == first.json()
    assert first.json()["coupon_returned"] is True
    mine = api.get(f"/api/mp/{MP_APPID}/me/coupons", headers=alice.headers).json()
    assert [c["code"] for c in mine["usable"]] == [code]
    # and it can be used on another order
    assert api.post("/api/coupons/redeem", json=redeem_body(code, alice, "R-2", 20000)).is_success
    # a refund of an order that used no coupon is refused
    response = api.post("/api/coupons/refund", json={"order_id": "NOPE"})
    assert (response.status_code, response.json()["code"]) == (404, "members.redemption_not_found")


def test_a_refund_after_expiry_does_not_make_the_coupon_usable(
    api: TestClient, shopper: Shopper, frozen_clock: FrozenClock
) -> None:
    template = create_template(api)
    alice = shopper(1)
    code = claimed(api, alice, template["id"])["code"]
    api.post("/api/coupons/redeem", json=redeem_body(code, alice, "E-1", 20000))
    frozen_clock.advance(timedelta(days=40))
    answer = api.post("/api/coupons/refund", json={"order_id": "E-1"}).json()
    assert answer["coupon_returned"] is False
    mine = api.get(f"/api/mp/{MP_APPID}/me/coupons", headers=alice.headers).json()
    assert [c["code"] for c in mine["expired"]] == [code]


def test_the_report_counts_issued_claimed_redeemed_expired_and_the_discount(
    api: TestClient, shopper: Shopper, frozen_clock: FrozenClock
) -> None:
    # given four coupons: three claimed in the MP, one issued by staff
    template = create_template(api, valid_days=10)
    members = [shopper(i) for i in range(4)]
    codes = [claimed(api, m, template["id"])["code"] for m in members[:3]]
    api.post(
        f"/api/coupons/templates/{template['id']}/issue",
        json={"member_numbers": [members[3].number]},
    )
    # two redeemed (¥20 each), one of those refunded after expiry… no: one refunded at once
    api.post("/api/coupons/redeem", json=redeem_body(codes[0], members[0], "A", 10000))
    api.post("/api/coupons/redeem", json=redeem_body(codes[1], members[1], "B", 30000))
    # when ten days pass
    frozen_clock.advance(timedelta(days=10))
    report = api.get(f"/api/coupons/templates/{template['id']}/report").json()
    # then
    assert report["issued"] == 4
    assert report["claimed"] == 3
    assert report["by_source"] == {"mp": 3, "staff": 1}
    assert (report["redeemed"], report["expired"], report["usable"]) == (2, 2, 0)
    assert report["redemption_rate"] == 0.5
    assert report["discounted"] == 4000
    assert api.get("/api/coupons/report").json() == [report]


def test_the_mini_program_needs_the_members_own_session(api: TestClient) -> None:
    response = api.get(f"/api/mp/{MP_APPID}/me/coupons", headers={"Authorization": "Bearer x"})
    assert response.status_code == 401
