"""Coupons and the points mall through the API: templates, Mini Program members with their
own sessions, and counts of what was written (a refusal writes nothing)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select

from siyu.core.db import Database
from siyu.identity import service as identity
from siyu.identity.schemas import PersonRef
from siyu.members.models import Coupon, CouponRedemption, CouponStockBucket, CouponTemplate
from siyu.wechat import mp
from siyu.wechat.schemas import Code2Session
from siyu.workspaces.schemas import AppRead
from tests.support.names import MP_APPID

SESSION_KEY = "MTIzNDU2Nzg5MGFiY2RlZg=="


@dataclass
class MpMember:
    member_id: int
    number: int
    openid: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def mp_member(db: Database, app: AppRead, index: int) -> MpMember:
    """A member logged in to the Mini Program (their own session token)."""
    openid = f"oMP-coupons-{index:06d}"
    with db.session_scope() as session:
        identity.resolve_member(session, app, PersonRef(appid=MP_APPID, openid=openid))
        token = mp.open_session(
            session, app, Code2Session(openid=openid, session_key=SecretStr(SESSION_KEY)), 24 * 90
        ).token
        member_id = mp.authenticate(session, MP_APPID, f"Bearer {token}").member_id
    with db.session_scope() as session:
        number = identity.get_member(session, app.workspace_id, member_id).number
    return MpMember(member_id, number, openid, token)


def template_body(**fields: Any) -> dict[str, Any]:
    """满减 ¥20 off ¥100, 30 days after the claim, 100 in stock, one per member."""
    return {
        "name": "满100减20",
        "kind": "amount_off",
        "threshold": 10000,
        "amount_off": 2000,
        "valid_days": 30,
        "stock": 100,
        **fields,
    }


def create_template(api: TestClient, **fields: Any) -> dict[str, Any]:
    response = api.post("/api/coupons/templates", json=template_body(**fields))
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def claim(api: TestClient, member: MpMember, template_id: int) -> Any:
    return api.post(
        f"/api/mp/{MP_APPID}/me/coupons/claim",
        json={"template_id": template_id},
        headers=member.headers,
    )


def claimed(api: TestClient, member: MpMember, template_id: int) -> dict[str, Any]:
    response = claim(api, member, template_id)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def redeem_body(code: str, member: MpMember, order_id: str, amount: int) -> dict[str, Any]:
    return {"code": code, "member": member.number, "order_id": order_id, "amount_fen": amount}


@dataclass(frozen=True)
class Written:
    templates: int
    issued: int  # the templates' stock buckets' issued counters, summed
    coupons: int
    redeemed: int
    redemptions: int


def written(db: Database) -> Written:
    with db.session_scope() as session:

        def count(model: Any) -> int:
            return session.scalar(select(func.count()).select_from(model)) or 0

        return Written(
            templates=count(CouponTemplate),
            issued=session.scalar(select(func.coalesce(func.sum(CouponStockBucket.issued), 0)))
            or 0,
            coupons=count(Coupon),
            redeemed=session.scalar(
                select(func.count()).select_from(Coupon).where(Coupon.status == "redeemed")
            )
            or 0,
            redemptions=count(CouponRedemption),
        )


def at_once(count: int, work: Callable[[int], Any]) -> list[Any]:
    """`work(i)` for i in range(count), each in its own thread, released together; what each
    returned (an exception raised is returned, not lost)."""
    start = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(i: int) -> None:
        try:
            start.wait(timeout=60)
            results[i] = work(i)
        except BaseException as exc:  # reported to the test, not lost in the thread
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    return results


def make_members(db: Database, app: AppRead, count: int, prefix: str = "oMP-many") -> list[int]:
    """`count` members of the Mini Program (no session), in one transaction."""
    with db.session_scope() as session:
        return [
            identity.resolve_member(
                session, app, PersonRef(appid=MP_APPID, openid=f"{prefix}-{i:06d}")
            ).id
            for i in range(count)
        ]


@dataclass(frozen=True)
class MallWritten:
    exchanges: int
    exchanged: int  # the items' counters, summed
    fulfilments: int
    coupons: int


def mall_written(db: Database) -> MallWritten:
    from siyu.members.models import MallExchange, MallFulfilment, MallItem

    with db.session_scope() as session:

        def count(model: Any) -> int:
            return session.scalar(select(func.count()).select_from(model)) or 0

        return MallWritten(
            exchanges=count(MallExchange),
            exchanged=session.scalar(select(func.coalesce(func.sum(MallItem.exchanged), 0))) or 0,
            fulfilments=count(MallFulfilment),
            coupons=count(Coupon),
        )
