"""The OA's "积分" and "签到" (passive replies, the sign-in done by the push's processing, once
a Beijing day), payments earning through the bus, and the console's 积分 and 等级 pages."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from siyu.core.db import Database
from siyu.identity import service as identity
from siyu.identity.schemas import PersonRef
from siyu.members.enums import EarnTrigger
from siyu.members.models import PointsEntry, Signin
from siyu.security.schemas import Principal
from siyu.workspaces.schemas import AppRead
from tests.support.console import Console
from tests.support.pay import PayEnv
from tests.support.points import Loyalty
from tests.support.security import row_counts
from tests.support.wechat import WeChat, message_push

WHO = "oPointsOaUser000000000000001"


def _oa_member(db: Database, oa_app: AppRead) -> int:
    with db.session_scope() as session:
        return identity.resolve_member(
            session, oa_app, PersonRef(appid=oa_app.appid, openid=WHO)
        ).id


def test_the_oa_answers_points_with_the_members_balance(
    db: Database, oa_app: AppRead, oa: WeChat, loyalty: Loyalty
) -> None:
    member = _oa_member(db, oa_app)
    loyalty.grant(member, 42, "g-oa")
    answer = oa.plain(message_push(WHO, "积分"))
    assert "你的积分余额：42" in answer.text


def test_signing_in_from_the_oa_once_a_day(
    db: Database, oa_app: AppRead, oa: WeChat, drain: Callable[[], int], loyalty: Loyalty
) -> None:
    member = _oa_member(db, oa_app)
    # when the member sends 签到 twice
    first = oa.plain(message_push(WHO, "签到"))
    drain()
    second = oa.plain(message_push(WHO, "签到"))
    drain()
    # then the first reply gave today's points and streak, the second said it was done
    assert "签到成功！今日 +5 积分，已连续签到 1 天。" in first.text
    assert "今天已经签到过了" in second.text
    assert loyalty.signins(member) == 1
    assert loyalty.balance(member) == 5


def test_a_payment_earns_once_and_its_refund_takes_back(
    pay_env: PayEnv, pay_staff: TestClient, owner: Principal
) -> None:
    # given 2 points a yuan, and an order of 9.90 paid in WeChat (notified twice)
    loyalty = Loyalty(pay_env.db, pay_env.app, owner)
    loyalty.rule(EarnTrigger.pay_paid, 2)
    order = pay_env.order(amount=990)
    notification = pay_env.pay_order(order)
    assert pay_env.pay.deliver(notification)
    member = pay_env.member_id
    assert loyalty.entries(member) == [("earn", 18, 0)]
    # when staff refund 3.00 of it and WeChat settles the refund
    answer = pay_staff.post(
        f"/api/pay/orders/{order.id}/refunds", json={"amount": 300, "reason": "部分退款"}
    )
    assert answer.status_code == 202, answer.text
    pay_env.drain()
    pay_env.pay.tick()
    # then the refund's share of the points came back (18 × 300 / 990 = 5)
    assert loyalty.entries(member) == [("earn", 18, 0), ("clawback", -5, 0)]
    assert loyalty.balance(member) == loyalty.lots_sum(member) == 13


def test_the_points_and_levels_pages(console: Console, db: Database, loyalty: Loyalty) -> None:
    member = loyalty.member()
    number = loyalty.number(member)
    page = console.client.get("/loyalty/points")
    assert page.status_code == 200
    assert "积分规则" in page.text
    # an adjustment without a reason is refused, nothing written
    before = row_counts(db)
    refused = console.client.post(
        "/loyalty/points/adjust",
        headers=console.htmx(),
        data={"member_number": str(number), "amount": "10", "reason": " ", "key": "k1"},
    )
    assert refused.status_code == 422
    assert row_counts(db) == before
    # a grant with its reason shows in the ledger and on the member's profile
    granted = console.client.post(
        "/loyalty/points/adjust",
        data={"csrf_token": console.csrf, "member_number": str(number), "amount": "10",
              "reason": "活动补发", "key": "k2"},
        follow_redirects=False,
    )  # fmt: skip
    assert granted.status_code == 303
    assert "活动补发" in console.client.get(f"/loyalty/points?member={number}").text
    assert "积分余额 <strong>10</strong>" in console.client.get(f"/members/{member}").text
    # a level added in the console is listed
    added = console.client.post(
        "/loyalty/levels",
        data={"csrf_token": console.csrf, "rank": "1", "name": "银卡", "threshold": "100"},
        follow_redirects=False,
    )
    assert added.status_code == 303
    assert "银卡" in console.client.get("/loyalty/levels").text
    with db.session_scope() as session:
        assert session.scalar(select(func.count()).select_from(PointsEntry)) == 1
        assert session.scalar(select(func.count()).select_from(Signin)) == 0
