"""The member's own points, level and sign-in (the Mini Program's member centre, the OA's
"积分" and "签到" keywords and menu clicks), and the bus events that earn or take back points.

The OA answers before the push is processed (passive replies only read): its reply to "签到"
says what the sign-in gives, computed as `sign_in` will compute it, and the processing job's
subscriber (`on_oa_push`) signs the member in; a second "签到" the same day is told so."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from siyu.core.errors import SiyuError
from siyu.core.logging import get_logger
from siyu.identity import service as identity
from siyu.members import points_repository as repo
from siyu.members.enums import EarnTrigger
from siyu.members.schemas import EntryRead, MyPoints
from siyu.members.service.points import Earn, balance_of, claw_back, earn
from siyu.members.service.policy import beijing_day
from siyu.members.service.signin import preview, sign_in
from siyu.wechat.pay import service as pay
from siyu.wechat.schemas import ClickEvent, Push, SubscribeEvent, TextMessage, TextReply
from siyu.workspaces.enums import AppKind
from siyu.workspaces.schemas import AppRead

log = get_logger(__name__)

SIGNIN_WORDS = frozenset({"签到"})
POINTS_WORDS = frozenset({"积分", "我的积分"})
SIGNIN_KEY = "SIGNIN"  # a menu button's key that signs in
POINTS_KEY = "POINTS"  # a menu button's key that shows the balance


def my_points(
    session: Session, workspace_id: int, member_id: int, *, limit: int = 20, offset: int = 0
) -> MyPoints:
    balance = balance_of(session, workspace_id, member_id)
    rows = repo.list_entries(
        session, workspace_id, member_id=member_id, nonzero=True, limit=limit, offset=offset
    )
    return MyPoints(
        balance=balance.balance,
        expiring_soon=balance.expiring_soon,
        expiring_at=balance.expiring_at,
        history=[EntryRead.model_validate(r) for r in rows],
        total=repo.count_entries(session, workspace_id, member_id),
    )


# --- the OA's keywords and menu clicks ---------------------------------------------------------


def _intent(push: Push) -> str | None:
    if isinstance(push, TextMessage):
        word = push.content.strip()
        if word in SIGNIN_WORDS:
            return "signin"
        if word in POINTS_WORDS:
            return "points"
    if isinstance(push, ClickEvent):
        if push.key == SIGNIN_KEY:
            return "signin"
        if push.key == POINTS_KEY:
            return "points"
    return None


def _answer(session: Session, app: AppRead, push: Push, intent: str) -> TextReply | None:
    member_id = identity.member_id_of_openid(session, app.workspace_id, app.appid, push.openid)
    if member_id is None:
        return None
    if intent == "points":
        balance = balance_of(session, app.workspace_id, member_id)
        text = f"你的积分余额：{balance.balance}"
        if balance.expiring_soon:
            assert balance.expiring_at is not None
            day = beijing_day(balance.expiring_at - timedelta(seconds=1))
            text += f"\n其中 {balance.expiring_soon} 分将于 {day.isoformat()} 前过期"
        return TextReply(text)
    seen = preview(session, app.workspace_id, member_id)
    if seen.signed_today:
        return TextReply(f"今天已经签到过了，已连续签到 {seen.streak} 天。明天再来！")
    current = balance_of(session, app.workspace_id, member_id).balance
    text = f"签到成功！今日 +{seen.points} 积分，已连续签到 {seen.streak} 天。"
    if seen.bonus:
        text += f"（含连续签到奖励 {seen.bonus} 分）"
    return TextReply(text + f"\n当前积分：{current + seen.points}")


def reply_handler(session: Session, app: AppRead, push: Push) -> TextReply | None:
    """The OA's passive reply to "积分" (the balance) and "签到" (today's points and streak)."""
    if app.kind == AppKind.mp:
        return None
    intent = _intent(push)
    if intent is None:
        return None
    if session.in_transaction():
        return _answer(session, app, push, intent)
    with Session(session.get_bind()) as own:
        try:
            return _answer(own, app, push, intent)
        finally:
            own.rollback()


def on_oa_push(session: Session, push: Push) -> None:
    """The sign-in a "签到" message or click asked for (the reply already told the member)."""
    if _intent(push) != "signin" or push.member_id is None:
        return
    try:
        sign_in(session, push.workspace_id, push.member_id, "oa")
    except SiyuError as exc:  # already signed in today (nothing written): the reply said so
        log.info("oa_signin_refused", code=exc.code, member_id=push.member_id)


# --- events that earn ------------------------------------------------------------------------


def on_follow(session: Session, push: SubscribeEvent) -> None:
    """A first follow of the OA earns the `oa_follow` rule's points, once per member."""
    if push.member_id is None:
        return
    earn(
        session,
        push.workspace_id,
        Earn(
            push.member_id,
            EarnTrigger.oa_follow,
            f"oa.follow:{push.member_id}",
            at=push.create_time,
        ),
    )


def on_order_paid(session: Session, event: pay.OrderPaid) -> None:
    """A payment earns the `pay_paid` rule's points per whole yuan, once per out_trade_no."""
    order = pay.get_order(session, event.workspace_id, event.order_id)
    earn(
        session,
        event.workspace_id,
        Earn(
            event.member_id,
            EarnTrigger.pay_paid,
            f"pay.paid:{order.out_trade_no}",
            units=event.amount // 100,
            at=event.paid_at,
        ),
    )


def on_refund_settled(session: Session, event: pay.RefundSettled) -> None:
    """A refund that succeeded takes back the share of points its payment earned."""
    if event.status != "succeeded":
        return
    order = pay.get_order(session, event.workspace_id, event.order_id)
    claw_back(
        session,
        event.workspace_id,
        f"pay.paid:{order.out_trade_no}",
        f"pay.refund:{event.refund_id}",
        refunded=event.amount,
        paid=order.amount,
    )
