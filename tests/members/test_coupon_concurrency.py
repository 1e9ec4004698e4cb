"""Coupons under concurrency, on PostgreSQL (SQLite serialises every writer): the stock, the
per-member limit and a code's single use hold when claims and redemptions arrive at once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from siyu.core.db import Database
from siyu.core.errors import SiyuError
from siyu.identity import service as identity
from siyu.members import service
from siyu.members.enums import CouponKind, MallItemKind
from siyu.members.schemas import Address, ExchangeIn, ItemCreate, RedeemIn, TemplateCreate
from siyu.workspaces.schemas import AppRead
from tests.support.coupons import at_once, make_members, mall_written, written

pytestmark = pytest.mark.postgres_only


def _template(db: Database, workspace_id: int, **fields: Any) -> int:
    body = TemplateCreate(
        **{
            "name": "并发券",
            "kind": CouponKind.amount_off,
            "threshold": 1000,
            "amount_off": 100,
            "valid_days": 7,
            "stock": 50,
            **fields,
        }
    )
    with db.session_scope() as session:
        return service.create_template(session, workspace_id, body, actor="test").id


def _codes(results: list[Any]) -> list[str]:
    return sorted(r.code if isinstance(r, SiyuError) else type(r).__name__ for r in results)


def test_200_simultaneous_claims_of_a_stock_of_50_issue_exactly_50(
    db: Database, mp_app: AppRead
) -> None:
    # given 200 members and a template with 50 in stock
    ws = mp_app.workspace_id
    template_id = _template(db, ws, stock=50)
    members = make_members(db, mp_app, 200)

    # when they all claim at once
    def claim(i: int) -> Any:
        with db.session_scope() as session:
            return service.claim_in_mp(session, ws, members[i], template_id)

    results = at_once(200, claim)
    # then exactly 50 were issued, and the 150 others told the stock is gone
    assert _codes(results) == ["CouponRead"] * 50 + ["members.out_of_stock"] * 150
    state = written(db)
    assert (state.coupons, state.issued) == (50, 50)


def test_simultaneous_claims_by_one_member_stop_at_the_per_member_limit(
    db: Database, mp_app: AppRead
) -> None:
    # given a member and a template allowing three each
    ws = mp_app.workspace_id
    template_id = _template(db, ws, per_member_limit=3)
    [member] = make_members(db, mp_app, 1)

    # when the member sends 20 claims at once
    def claim(_i: int) -> Any:
        with db.session_scope() as session:
            return service.claim_in_mp(session, ws, member, template_id)

    results = at_once(20, claim)
    # then three are issued (their 1st, 2nd and 3rd), the rest refused by the limit
    assert _codes(results) == ["CouponRead"] * 3 + ["members.limit_reached"] * 17
    state = written(db)
    assert (state.coupons, state.issued) == (3, 3)


def test_20_simultaneous_redemptions_of_one_code_redeem_it_once(
    db: Database, mp_app: AppRead
) -> None:
    # given a member's coupon
    ws = mp_app.workspace_id
    template_id = _template(db, ws)
    [member] = make_members(db, mp_app, 1)
    with db.session_scope() as session:
        code = service.claim_in_mp(session, ws, member, template_id).code
        number = identity.numbers_of(session, ws, [member])[member]

    # when 20 tills redeem it at once, each for its own order
    def redeem(i: int) -> Any:
        body = RedeemIn(code=code, member=number, order_id=f"ORD-{i}", amount_fen=5000)
        with db.session_scope() as session:
            return service.redeem(session, ws, body, actor="test")

    results = at_once(20, redeem)
    # then one redemption went through; the 19 others were told the coupon is used
    assert _codes(results) == ["RedemptionRead"] + ["members.coupon_used"] * 19
    state = written(db)
    assert (state.redeemed, state.redemptions) == (1, 1)


def test_the_same_order_redeemed_20_times_at_once_gets_one_answer(
    db: Database, mp_app: AppRead
) -> None:
    ws = mp_app.workspace_id
    template_id = _template(db, ws)
    [member] = make_members(db, mp_app, 1)
    with db.session_scope() as session:
        code = service.claim_in_mp(session, ws, member, template_id).code
        number = identity.numbers_of(session, ws, [member])[member]
    body = RedeemIn(code=code, member=number, order_id="SAME", amount_fen=5000)

    def redeem(_i: int) -> Any:
        with db.session_scope() as session:
            return service.redeem(session, ws, body, actor="test")

    results = at_once(20, redeem)
    assert _codes(results) == ["RedemptionRead"] * 20
    assert len({r.id for r in results}) == 1
    assert written(db).redemptions == 1


def test_20_simultaneous_exchanges_by_a_member_with_points_for_3_give_3(
    db: Database, mp_app: AppRead, grant_points: Callable[[int, int], None]
) -> None:
    # given an item of 100 points (plenty in stock) and a member holding 300
    ws = mp_app.workspace_id
    [member] = make_members(db, mp_app, 1)
    grant_points(member, 300)
    with db.session_scope() as session:
        item = service.create_item(
            session,
            ws,
            ItemCreate(name="帆布袋", kind=MallItemKind.gift, points_price=100, stock=100),
            actor="test",
        )
    address = Address(recipient="王小明", phone="13800138000", address="上海市徐汇区 1 号")

    # when the member sends 20 exchanges at once
    def exchange(i: int) -> Any:
        body = ExchangeIn(item_id=item.id, request_key=f"req-{i:08d}", address=address)
        with db.session_scope() as session:
            return service.exchange(session, ws, member, body)

    results = at_once(20, exchange)
    # then three went through and the others were refused for want of points
    assert _codes(results) == ["ExchangeRead"] * 3 + ["members.insufficient_points"] * 17
    assert mall_written(db).exchanged == 3
