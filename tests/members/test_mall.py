"""The points mall: an exchange takes the points and the stock together (a coupon issued, or a
gift to ship with its address encrypted at rest), is answered the same when asked again, and
is refused with nothing written when out of stock, without points or without an address."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from siyu.core.db import Database
from tests.support.coupons import (
    MpMember,
    create_template,
    mall_written,
)
from tests.support.names import MP_APPID

Shopper = Callable[[int], MpMember]
Points = Callable[[int, int], None]
pytestmark = pytest.mark.usefixtures("frozen_clock", "mp_app")
ADDRESS = {"recipient": "王小明", "phone": "13800138000", "address": "上海市徐汇区漕溪北路 1 号"}


def add_item(api: TestClient, **fields: Any) -> dict[str, Any]:
    body = {"name": "帆布袋", "kind": "gift", "points_price": 300, "stock": 5, **fields}
    response = api.post("/api/mall/items", json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def exchange(api: TestClient, member: MpMember, item_id: int, key: str, **extra: Any) -> Any:
    return api.post(
        f"/api/mp/{MP_APPID}/me/mall/exchanges",
        json={"item_id": item_id, "request_key": key, **extra},
        headers=member.headers,
    )


Balance = Callable[[int], int]


def test_a_coupon_item_issues_the_coupon_and_takes_the_points_once(
    api: TestClient, db: Database, shopper: Shopper, grant_points: Points, points_balance: Balance
) -> None:
    # given a coupon item for 200 points and a member holding 500
    template = create_template(api, mp_claimable=False)
    item = add_item(api, name="满100减20券", kind="coupon", template_id=template["id"],
                    points_price=200)  # fmt: skip
    alice = shopper(1)
    grant_points(alice.member_id, 500)
    offered = api.get(f"/api/mp/{MP_APPID}/mall/items", headers=alice.headers).json()
    assert [i["id"] for i in offered] == [item["id"]]
    # when she exchanges, and her phone sends the request twice
    first = exchange(api, alice, item["id"], "req-00000001")
    again = exchange(api, alice, item["id"], "req-00000001")
    # then one coupon, 200 points taken once, one unit of stock
    assert first.status_code == 201, first.text
    assert again.json() == first.json()
    assert first.json()["coupon"]["source"] == "mall"
    assert points_balance(alice.member_id) == 300
    state = mall_written(db)
    assert (state.exchanges, state.exchanged, state.coupons) == (1, 1, 1)
    mine = api.get(f"/api/mp/{MP_APPID}/me/coupons", headers=alice.headers).json()
    assert [c["code"] for c in mine["usable"]] == [first.json()["coupon"]["code"]]


def test_a_gift_becomes_a_fulfilment_with_the_address_encrypted_that_staff_ship(
    api: TestClient, db: Database, shopper: Shopper, grant_points: Points
) -> None:
    item = add_item(api)
    alice = shopper(1)
    grant_points(alice.member_id, 300)
    answer = exchange(api, alice, item["id"], "req-gift-0001", address=ADDRESS)
    assert answer.status_code == 201, answer.text
    # the address is stored encrypted
    with db.session_scope() as session:
        stored = session.execute(text("SELECT recipient, phone, address FROM mall_fulfilments"))
        raw = " ".join(str(v) for v in stored.one())
    assert "王小明" not in raw
    assert "13800138000" not in raw
    assert "漕溪北路" not in raw
    # and staff read it, and mark the gift shipped once
    [pending] = api.get("/api/mall/fulfilments", params={"status": "pending"}).json()
    assert (pending["recipient"], pending["address"]) == (ADDRESS["recipient"], ADDRESS["address"])
    shipped = api.post(f"/api/mall/fulfilments/{pending['id']}/ship", json={"tracking": "SF1"})
    assert shipped.json()["status"] == "shipped"
    twice = api.post(f"/api/mall/fulfilments/{pending['id']}/ship", json={"tracking": "SF2"})
    assert (twice.status_code, twice.json()["code"]) == (409, "members.already_shipped")
    assert api.get("/api/mall/fulfilments").json()[0]["tracking"] == "SF1"


def test_exchanges_are_refused_with_stable_codes_and_nothing_written(
    api: TestClient, db: Database, shopper: Shopper, grant_points: Points, points_balance: Balance
) -> None:
    # given a gift with one left, and two members: one with points, one without
    item = add_item(api, stock=1)
    rich, poor = shopper(1), shopper(2)
    grant_points(rich.member_id, 1000)
    grant_points(poor.member_id, 299)
    cases = [
        (poor, {"address": ADDRESS}, 409, "members.insufficient_points"),
        (rich, {}, 422, "members.address_required"),
    ]
    for who, extra, status, code in cases:
        response = exchange(api, who, item["id"], "req-refused-01", **extra)
        assert (response.status_code, response.json()["code"]) == (status, code)
        assert mall_written(db) == mall_written(db).__class__(0, 0, 0, 0)
    assert (points_balance(rich.member_id), points_balance(poor.member_id)) == (1000, 299)
    # the last one goes, then the stock is gone
    assert exchange(api, rich, item["id"], "req-ok-000001", address=ADDRESS).status_code == 201
    late = exchange(api, rich, item["id"], "req-late-00001", address=ADDRESS)
    assert (late.status_code, late.json()["code"]) == (409, "members.item_out_of_stock")
    state = mall_written(db)
    assert (state.exchanges, state.exchanged, state.fulfilments) == (1, 1, 1)
    assert points_balance(rich.member_id) == 700
    missing = exchange(api, rich, 999999, "req-missing-01")
    assert (missing.status_code, missing.json()["code"]) == (404, "members.item_not_found")


def test_a_coupon_item_whose_template_is_exhausted_takes_no_points(
    api: TestClient, db: Database, shopper: Shopper, grant_points: Points, points_balance: Balance
) -> None:
    template = create_template(api, stock=0, mp_claimable=False)
    item = add_item(api, name="券", kind="coupon", template_id=template["id"], points_price=10)
    alice = shopper(1)
    grant_points(alice.member_id, 100)
    response = exchange(api, alice, item["id"], "req-nostock-1")
    assert (response.status_code, response.json()["code"]) == (409, "members.out_of_stock")
    assert mall_written(db).exchanges == 0
    assert points_balance(alice.member_id) == 100


def test_bad_items_are_refused(api: TestClient, db: Database) -> None:
    gift_with_template = {"name": "x", "kind": "gift", "template_id": 1, "points_price": 1,
                          "stock": 1}  # fmt: skip
    response = api.post("/api/mall/items", json=gift_with_template)
    assert (response.status_code, response.json()["code"]) == (422, "request.invalid")
    unknown = {"name": "y", "kind": "coupon", "template_id": 12345, "points_price": 1, "stock": 1}
    response = api.post("/api/mall/items", json=unknown)
    assert (response.status_code, response.json()["code"]) == (404, "members.template_not_found")
    assert api.get("/api/mall/items").json() == []
