"""Pay rules inside one transaction: merchants, orders, notifications, refunds, reconciliation.

Nothing here calls WeChat Pay: functions that need a call return what to send (`PrepayCall`,
`RefundCall`) and take its answer in a later transaction (see `flows`).
"""

from __future__ import annotations

import csv
import io
import json
import secrets
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from prometheus_client import Counter
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from siyu.core import clock
from siyu.core.errors import Conflict, Invalid, NotFound, SiyuError
from siyu.core.events import DomainEvent, bus
from siyu.identity import service as identity
from siyu.wechat import paycrypto
from siyu.wechat.pay.client import MerchantKeys, PayCallError, PayUnavailable
from siyu.wechat.pay.models import (
    OrderStatus,
    PayMerchant,
    PayNotificationLog,
    PayOrder,
    PayReconciliation,
    PayRefund,
    RefundStatus,
)
from siyu.wechat.pay.schemas import (
    MerchantCreate,
    MerchantRead,
    NotificationLogRead,
    OrderRead,
    ReconciliationRead,
    RefundRead,
)
from siyu.workspaces import service as workspaces
from siyu.workspaces.enums import AppKind
from siyu.workspaces.schemas import AppRead

BEIJING = ZoneInfo("Asia/Shanghai")
PREPAY_TTL = timedelta(hours=2)  # a prepay_id lives 2 h (fact sheet §5)
PREPAY_MARGIN = timedelta(minutes=5)  # ask again rather than hand out one about to die
NOTIFY_SKEW = timedelta(minutes=5)  # older (or future) signed notifications are replays
REFUND_WINDOW = timedelta(days=365)
MAX_REFUNDS = 50
# Refunds WeChat has not accepted yet are retried with the same out_refund_no on this ladder.
REFUND_RETRY = (60, 120, 300, 900, 1800, 3600)
QUERY_AFTER = timedelta(minutes=10)  # the notification was due by then: ask instead
MAX_MERGE_HOPS = 16
ACTOR = "pay"
# Codes of a refusal that a later try cannot change (the others are retried).
REFUND_FINAL = frozenset(
    {
        "PARAM_ERROR",
        "INVALID_REQUEST",
        "APPID_MCHID_NOT_MATCH",
        "MCH_NOT_EXISTS",
        "RESOURCE_NOT_EXISTS",
        "NO_AUTH",
        "SIGN_ERROR",
    }
)
_OUT_NO = string.ascii_uppercase + string.digits

NOTIFICATIONS = Counter(
    "siyu_wechat_pay_notifications_total", "Pay notifications answered, by outcome", ["outcome"]
)


@dataclass(frozen=True, slots=True)
class OrderPaid(DomainEvent):
    """An order became paid (published once, inside the transaction that marks it paid)."""

    workspace_id: int
    order_id: int
    member_id: int
    reference: str
    amount: int
    paid_at: datetime


@dataclass(frozen=True, slots=True)
class RefundSettled(DomainEvent):
    """A refund reached a final or staff-visible state: succeeded, abnormal, closed, failed."""

    workspace_id: int
    refund_id: int
    order_id: int
    reference: str
    amount: int
    status: str


class PayRefused(SiyuError):
    """A notification refused: answered with WeChat's FAIL body, logged for staff."""

    def __init__(
        self, code: str, message: str, *, status: int, out_trade_no: str | None = None
    ) -> None:
        super().__init__(code, message, status=status)
        self.out_trade_no = out_trade_no


def _refused(code: str, message: str, status: int, out_trade_no: str | None = None) -> PayRefused:
    return PayRefused(code, message, status=status, out_trade_no=out_trade_no)


def out_no(prefix: str, length: int = 24) -> str:
    """A merchant-side number: prefix + date + random, inside WeChat's alphabets (6–32)."""
    stamp = clock.now().astimezone(BEIJING).strftime("%y%m%d")
    body = "".join(secrets.choice(_OUT_NO) for _ in range(length - len(prefix) - len(stamp)))
    return f"{prefix}{stamp}{body}"


# --- merchants ---------------------------------------------------------------------------


def add_merchant(
    session: Session, workspace_id: int, data: MerchantCreate, *, default_notify_base: str
) -> MerchantRead:
    workspaces.get_workspace(session, workspace_id)
    if session.scalar(select(PayMerchant.id).where(PayMerchant.mchid == data.mchid)):
        raise Conflict("pay.merchant_exists", f"merchant {data.mchid} is already registered")
    notify_url = data.notify_url or notify_url_for(default_notify_base, data.mchid)
    merchant = PayMerchant(
        workspace_id=workspace_id,
        mchid=data.mchid,
        name=data.name,
        apiv3_key=data.apiv3_key,
        private_key=data.private_key,
        cert_serial_no=data.cert_serial_no.upper(),
        platform_public_key=data.platform_public_key,
        platform_public_key_id=data.platform_public_key_id,
        notify_url=notify_url,
        created_at=clock.now(),
    )
    try:
        with session.begin_nested():
            session.add(merchant)
            session.flush()
    except IntegrityError as exc:
        raise Conflict(
            "pay.merchant_exists", f"merchant {data.mchid} is already registered"
        ) from exc
    return MerchantRead.model_validate(merchant)


def notify_url_for(base: str, mchid: str) -> str:
    return f"{base.rstrip('/')}/wechat/pay/notify/{mchid}"


def set_platform_key(session: Session, mchid: str, public_key: str, key_id: str) -> MerchantRead:
    """Install WeChat Pay's (new) public key, e.g. the sandbox's after it restarted."""
    merchant = _merchant_by_mchid(session, mchid)
    paycrypto.load_public_key(public_key)
    merchant.platform_public_key, merchant.platform_public_key_id = public_key, key_id
    session.flush()
    return MerchantRead.model_validate(merchant)


def list_merchants(session: Session, workspace_id: int | None = None) -> list[MerchantRead]:
    query = select(PayMerchant).order_by(PayMerchant.id)
    if workspace_id is not None:
        query = query.where(PayMerchant.workspace_id == workspace_id)
    return [MerchantRead.model_validate(m) for m in session.scalars(query)]


def _merchant_by_mchid(session: Session, mchid: str) -> PayMerchant:
    merchant = session.scalar(select(PayMerchant).where(PayMerchant.mchid == mchid))
    if merchant is None:
        raise NotFound("pay.unknown_merchant", f"no merchant {mchid}")
    return merchant


def _workspace_merchant(session: Session, workspace_id: int, mchid: str | None) -> PayMerchant:
    query = select(PayMerchant).where(PayMerchant.workspace_id == workspace_id)
    if mchid is not None:
        query = query.where(PayMerchant.mchid == mchid)
    merchant = session.scalars(query.order_by(PayMerchant.id)).first()
    if merchant is None:
        raise Conflict("pay.no_merchant", "no WeChat Pay merchant is configured for this workspace")
    return merchant


def merchant_keys(session: Session, merchant_id: int, appid: str) -> MerchantKeys:
    merchant = session.get(PayMerchant, merchant_id)
    if merchant is None:
        raise NotFound("pay.unknown_merchant", f"no merchant {merchant_id}")
    return MerchantKeys(
        mchid=merchant.mchid,
        appid=appid,
        apiv3_key=merchant.apiv3_key,
        private_key=merchant.private_key,
        cert_serial_no=merchant.cert_serial_no,
        platform_public_key=merchant.platform_public_key,
        platform_public_key_id=merchant.platform_public_key_id,
        notify_url=merchant.notify_url,
    )


# --- orders ------------------------------------------------------------------------------


def _order_read(order: PayOrder) -> OrderRead:
    return OrderRead.model_validate(order)


def _openid_of(session: Session, app: AppRead, member_id: int) -> str:
    member = identity.get_member(session, app.workspace_id, member_id)
    for ident in member.identities:
        if ident.kind == "openid" and ident.appid == app.appid and ident.value:
            return ident.value
    raise Conflict(
        "pay.member_without_openid",
        f"member {member.number} has no openid in {app.appid}: they must log in there first",
    )


def open_order(
    session: Session,
    workspace_id: int,
    *,
    appid: str,
    member_id: int,
    amount: int,
    description: str,
    reference: str,
    order_minutes: int,
    mchid: str | None = None,
    openid: str | None = None,
) -> OrderRead:
    """The member's open order for `reference`, or a new one.

    Asking again before the order expires returns it (WeChat then answers the same
    prepay_id); after it expired a new order with a new out_trade_no is made. A paid reference
    is refused (`pay.order_paid`), and so is asking again with another amount or description.
    """
    if amount <= 0:
        raise Invalid("pay.invalid_amount", "amounts are positive integers of fen")
    app = workspaces.get_app_by_appid(session, appid, workspace_id)
    if app.kind != AppKind.mp:
        raise SiyuError("pay.not_mini_program", f"app {appid} is not a Mini Program")
    merchant = _workspace_merchant(session, workspace_id, mchid)
    openid = openid or _openid_of(session, app, member_id)
    now = clock.now()
    for _try in range(3):
        latest = session.scalars(
            select(PayOrder)
            .where(PayOrder.merchant_id == merchant.id, PayOrder.reference == reference)
            .order_by(PayOrder.attempt.desc())
            .limit(1)
            .with_for_update()
        ).first()
        if latest is not None:
            if latest.status == OrderStatus.paid:
                raise Conflict(
                    "pay.order_paid", f"{reference} is paid already (order {latest.out_trade_no})"
                )
            if latest.status == OrderStatus.pending and latest.time_expire > now + PREPAY_MARGIN:
                if (latest.amount, latest.description, latest.member_id) != (
                    amount,
                    description,
                    member_id,
                ):
                    raise Conflict(
                        "pay.order_changed",
                        f"{reference} has an open order with another amount, description or "
                        "member; it must expire first",
                    )
                return _order_read(latest)
        order = PayOrder(
            workspace_id=workspace_id,
            merchant_id=merchant.id,
            app_id=app.id,
            member_id=member_id,
            openid=openid,
            out_trade_no=out_no("SY"),
            reference=reference,
            attempt=0 if latest is None else latest.attempt + 1,
            description=description,
            amount=amount,
            status=OrderStatus.pending,
            time_expire=now + timedelta(minutes=order_minutes),
            created_at=now,
            updated_at=now,
        )
        try:
            with session.begin_nested():
                session.add(order)
                session.flush()
        except IntegrityError:  # a concurrent request made this attempt: read it
            continue
        return _order_read(order)
    raise Conflict("pay.order_contention", "too many concurrent requests for this order; retry")


def get_order(session: Session, workspace_id: int, order_id: int) -> OrderRead:
    order = session.get(PayOrder, order_id)
    if order is None or order.workspace_id != workspace_id:
        raise NotFound("pay.order_not_found", f"no order {order_id}")
    return _order_read(order)


def find_order(session: Session, workspace_id: int, out_trade_no: str) -> OrderRead:
    order = session.scalars(
        select(PayOrder).where(
            PayOrder.workspace_id == workspace_id, PayOrder.out_trade_no == out_trade_no
        )
    ).first()
    if order is None:
        raise NotFound("pay.order_not_found", f"no order {out_trade_no}")
    return _order_read(order)


def list_orders(
    session: Session,
    workspace_id: int,
    *,
    member_ids: Sequence[int] | None = None,
    status: OrderStatus | None = None,
    reference_prefix: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[OrderRead]:
    """Orders, newest first; `reference_prefix` selects what they paid for ("activity:21d:")."""
    query = select(PayOrder).where(PayOrder.workspace_id == workspace_id)
    if member_ids is not None:
        query = query.where(PayOrder.member_id.in_(member_ids))
    if reference_prefix:
        query = query.where(PayOrder.reference.startswith(reference_prefix, autoescape=True))
    if status is not None:
        query = query.where(PayOrder.status == status)
    query = query.order_by(PayOrder.created_at.desc(), PayOrder.id.desc()).limit(limit)
    return [_order_read(o) for o in session.scalars(query.offset(offset))]


@dataclass(frozen=True)
class PrepayCall:
    """What to send to /v3/pay/transactions/jsapi (the same every time for one order)."""

    order_id: int
    keys: MerchantKeys
    out_trade_no: str
    description: str
    amount: int
    openid: str
    time_expire: str


def payment_call(
    session: Session, workspace_id: int, order_id: int, *, member_id: int | None = None
) -> tuple[PrepayCall, str | None]:
    """The jsapi call of an order, and its prepay_id if one is still fresh (no call needed)."""
    order = session.get(PayOrder, order_id)
    if order is None or order.workspace_id != workspace_id:
        raise NotFound("pay.order_not_found", f"no order {order_id}")
    if member_id is not None and order.member_id != member_id:
        raise SiyuError("pay.not_your_order", "this order belongs to another member", status=403)
    now = clock.now()
    if order.status == OrderStatus.paid:
        raise Conflict("pay.order_paid", f"order {order.out_trade_no} is paid already")
    if order.status == OrderStatus.closed or order.time_expire <= now:
        raise Conflict("pay.order_closed", f"order {order.out_trade_no} expired; open a new one")
    app = workspaces.get_apps_by_id(session, [order.app_id])[order.app_id]
    call = PrepayCall(
        order_id=order.id,
        keys=merchant_keys(session, order.merchant_id, app.appid),
        out_trade_no=order.out_trade_no,
        description=order.description,
        amount=order.amount,
        openid=order.openid,
        time_expire=order.time_expire.astimezone(BEIJING).isoformat(timespec="seconds"),
    )
    fresh = order.prepay_expires_at is not None and order.prepay_expires_at > now + PREPAY_MARGIN
    return call, order.prepay_id if fresh else None


def record_prepay(session: Session, order_id: int, prepay_id: str, issued_at: datetime) -> None:
    order = session.get(PayOrder, order_id)
    assert order is not None
    if order.prepay_id != prepay_id:
        order.prepay_id = prepay_id
        order.prepay_expires_at = issued_at + PREPAY_TTL
    order.updated_at = clock.now()
    session.flush()


def order_paid_elsewhere(session: Session, order_id: int) -> None:
    """WeChat answered ORDERPAID: the notification is on its way; query soon."""
    order = session.get(PayOrder, order_id)
    if order is not None:
        order.updated_at = clock.now() - QUERY_AFTER
        session.flush()


# --- notifications -----------------------------------------------------------------------


def _header(headers: Mapping[str, str], name: str) -> str:
    return headers.get(name) or headers.get(name.lower()) or ""


def open_notification(
    merchant: PayMerchant, headers: Mapping[str, str], body: bytes
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Verify a notification against WeChat Pay's public key, then open its resource.

    Raises `PayRefused`: bad or missing signature, another key, a stale timestamp (a replay),
    a body that is not a notification, or a resource the APIv3 key does not open.
    """
    kind = _header(headers, "Wechatpay-Signature-Type")
    if kind and kind != paycrypto.SCHEMA:
        raise _refused("pay.bad_signature", f"unsupported signature type {kind}", 401)
    serial = _header(headers, "Wechatpay-Serial")
    if serial != merchant.platform_public_key_id:
        raise _refused("pay.unknown_serial", f"not signed with the key {serial!r} we hold", 401)
    stamp, nonce_str = _header(headers, "Wechatpay-Timestamp"), _header(headers, "Wechatpay-Nonce")
    signature = _header(headers, "Wechatpay-Signature")
    text = body.decode("utf-8", errors="replace")
    key = paycrypto.load_public_key(merchant.platform_public_key)
    if not (stamp and nonce_str and signature) or not paycrypto.check_response(
        key, signature, stamp, nonce_str, text
    ):
        raise _refused("pay.bad_signature", "the signature does not match WeChat Pay's key", 401)
    if not stamp.isdigit() or abs(clock.now().timestamp() - int(stamp)) > NOTIFY_SKEW.seconds:
        raise _refused(
            "pay.stale_notification", "the signed timestamp is not recent: a replay", 401
        )
    try:
        envelope = json.loads(text)
        resource = envelope["resource"]
        if resource.get("algorithm") != "AEAD_AES_256_GCM":
            raise _refused(
                "pay.undecryptable", f"unknown algorithm {resource.get('algorithm')}", 400
            )
        plain = paycrypto.open_sealed(
            merchant.apiv3_key,
            str(resource["ciphertext"]),
            str(resource.get("associated_data") or ""),
            str(resource["nonce"]),
        )
    except paycrypto.PayCryptoError as exc:
        raise _refused("pay.undecryptable", str(exc), 400) from None
    except (ValueError, KeyError, TypeError, AttributeError):
        raise _refused("pay.malformed_notification", "not a WeChat Pay notification", 400) from None
    try:
        data = json.loads(plain)
    except ValueError:
        raise _refused("pay.malformed_notification", "the resource is not JSON", 400) from None
    if not isinstance(data, dict) or not isinstance(envelope, dict):
        raise _refused("pay.malformed_notification", "the resource is not an object", 400)
    return envelope, data


def handle_notification(
    session: Session, mchid: str, headers: Mapping[str, str], body: bytes
) -> str:
    """Apply one notification; "processed", "duplicate" or "ignored". Raises `PayRefused`."""
    merchant = session.scalar(select(PayMerchant).where(PayMerchant.mchid == mchid))
    if merchant is None:
        raise _refused("pay.unknown_merchant", f"no merchant {mchid}", 404)
    envelope, data = open_notification(merchant, headers, body)
    if data.get("mchid") != mchid:
        raise _refused("pay.merchant_mismatch", "the notification names another merchant", 400)
    event = str(envelope.get("event_type", ""))
    if event == "TRANSACTION.SUCCESS":
        return apply_transaction(session, merchant, data, source="notification")
    if event.startswith("REFUND."):
        data = {**data, "status": data.get("refund_status")}
        return apply_refund_state(session, merchant, data, source="notification")
    return "ignored"


def log_refusal(
    session: Session,
    mchid: str,
    refusal: SiyuError,
    body: bytes,
) -> None:
    """Keep a refused notification for staff: what came, and why it was refused."""
    merchant_id = session.scalar(select(PayMerchant.id).where(PayMerchant.mchid == mchid))
    envelope: dict[str, Any] = {}
    try:
        parsed = json.loads(body)
        envelope = parsed if isinstance(parsed, dict) else {}
    except ValueError:
        pass
    session.add(
        PayNotificationLog(
            merchant_id=merchant_id,
            mchid=mchid[:32],
            notification_id=str(envelope.get("id"))[:64] if envelope.get("id") else None,
            event_type=str(envelope.get("event_type"))[:64] if envelope.get("event_type") else None,
            code=refusal.code,
            message=refusal.message[:255],
            out_trade_no=getattr(refusal, "out_trade_no", None),
            status=refusal.status,
            received_at=clock.now(),
        )
    )
    session.flush()


def list_refused(
    session: Session, workspace_id: int, limit: int = 100
) -> list[NotificationLogRead]:
    """Refused notifications of this workspace's merchants (and of unknown merchants)."""
    mine = select(PayMerchant.id).where(PayMerchant.workspace_id == workspace_id)
    query = (
        select(PayNotificationLog)
        .where(PayNotificationLog.merchant_id.in_(mine) | PayNotificationLog.merchant_id.is_(None))
        .order_by(PayNotificationLog.received_at.desc(), PayNotificationLog.id.desc())
        .limit(limit)
    )
    return [NotificationLogRead.model_validate(r) for r in session.scalars(query)]


def _success_time(data: Mapping[str, Any]) -> datetime:
    raw = data.get("success_time")
    try:
        at = datetime.fromisoformat(str(raw))
    except ValueError:
        return clock.now()
    return at if at.tzinfo is not None else at.replace(tzinfo=BEIJING)


def _current_member(session: Session, workspace_id: int, member_id: int) -> int:
    # The payer may have been merged into another member since ordering: follow the chain.
    for _hop in range(MAX_MERGE_HOPS):
        member = identity.get_member(session, workspace_id, member_id)
        if member.merged_into_id is None:
            return member.id
        member_id = member.merged_into_id
    return member_id


def apply_transaction(
    session: Session, merchant: PayMerchant, data: Mapping[str, Any], *, source: str
) -> str:
    """A paid transaction (notification or query): mark the order paid once, emit pay.paid."""
    out_trade_no = str(data.get("out_trade_no", ""))
    order = session.scalars(
        select(PayOrder)
        .where(PayOrder.merchant_id == merchant.id, PayOrder.out_trade_no == out_trade_no)
        .with_for_update()
    ).first()
    if order is None:
        raise _refused("pay.unknown_order", f"no order {out_trade_no!r}", 404, out_trade_no)
    if data.get("trade_state") != "SUCCESS":
        return "ignored"
    amount = data.get("amount")
    total = amount.get("total") if isinstance(amount, dict) else None
    if total != order.amount:
        raise _refused(
            "pay.amount_mismatch",
            f"paid {total} fen for an order of {order.amount} fen",
            409,
            out_trade_no,
        )
    payer = data.get("payer")
    openid = payer.get("openid") if isinstance(payer, dict) else None
    if openid is not None and openid != order.openid:
        raise _refused(
            "pay.payer_mismatch", "paid by another openid than ordered", 409, out_trade_no
        )
    transaction_id = str(data.get("transaction_id", ""))
    if order.status == OrderStatus.paid:
        if order.transaction_id != transaction_id:
            raise _refused(
                "pay.transaction_mismatch",
                "the order is paid by another transaction",
                409,
                out_trade_no,
            )
        NOTIFICATIONS.labels("duplicate").inc()
        return "duplicate"
    # An order closed here but paid at WeChat's last moment is still paid: money came in.
    paid_at = _success_time(data)
    order.status, order.transaction_id, order.paid_at = OrderStatus.paid, transaction_id, paid_at
    order.closed_at = None
    order.updated_at = clock.now()
    member_id = _current_member(session, order.workspace_id, order.member_id)
    identity.record_event(
        session,
        order.workspace_id,
        member_id,
        "pay.paid",
        paid_at,
        app_id=order.app_id,
        props={
            "out_trade_no": order.out_trade_no,
            "transaction_id": transaction_id,
            "amount": order.amount,
            "description": order.description,
            "reference": order.reference,
            "source": source,
        },
    )
    session.flush()
    bus.publish(
        session,
        OrderPaid(order.workspace_id, order.id, member_id, order.reference, order.amount, paid_at),
    )
    NOTIFICATIONS.labels("processed").inc()
    return "processed"


# --- refunds -----------------------------------------------------------------------------


def _refund_read(refund: PayRefund) -> RefundRead:
    return RefundRead.model_validate(refund)


def refund_by_staff(
    session: Session,
    workspace_id: int,
    order_id: int,
    amount: int,
    reason: str,
    *,
    operator_id: int,
) -> RefundRead:
    """A refund an operator asked for, with the reason (recorded with the operator's id).

    This is the one place staff refunds enter: audit and permission checks belong here.
    """
    if not reason.strip():
        raise Invalid("pay.refund_reason_required", "a staff refund needs a reason")
    return request_refund(
        session,
        workspace_id,
        order_id,
        amount,
        reason.strip(),
        operator_id=operator_id,
        requested_by=f"operator:{operator_id}",
    )


def request_refund(
    session: Session,
    workspace_id: int,
    order_id: int,
    amount: int,
    reason: str,
    *,
    operator_id: int | None = None,
    requested_by: str = ACTOR,
) -> RefundRead:
    """Record a refund to be sent (the job sends it); refused when WeChat's rules forbid it."""
    [made] = request_refunds(
        session,
        workspace_id,
        [RefundAsk(order_id, amount)],
        reason,
        operator_id=operator_id,
        requested_by=requested_by,
    )
    return made


@dataclass(frozen=True)
class RefundAsk:
    order_id: int
    amount: int


REFUND_BATCH = 1000
LIVE_REFUNDS = (
    RefundStatus.pending,
    RefundStatus.processing,
    RefundStatus.succeeded,
    RefundStatus.abnormal,
)


def request_refunds(
    session: Session,
    workspace_id: int,
    asks: Sequence[RefundAsk],
    reason: str,
    *,
    operator_id: int | None = None,
    requested_by: str = ACTOR,
) -> list[RefundRead]:
    """Record many refunds at once (a settlement's), each checked by WeChat's rules as
    `request_refund` checks one; one refused refuses them all. In the order asked."""
    if len(reason) > 80:
        raise Invalid("pay.refund_reason_too_long", "the reason is at most 80 characters")
    now = clock.now()
    made: list[RefundRead] = []
    for start in range(0, len(asks), REFUND_BATCH):
        chunk = asks[start : start + REFUND_BATCH]
        ids = sorted({ask.order_id for ask in chunk})
        orders = {
            o.id: o
            for o in session.scalars(
                select(PayOrder).where(PayOrder.id.in_(ids)).order_by(PayOrder.id).with_for_update()
            )
        }
        taken: dict[int, tuple[int, int]] = {
            order_id: (int(count), int(total))
            for order_id, count, total in session.execute(
                select(
                    PayRefund.order_id, func.count(), func.coalesce(func.sum(PayRefund.amount), 0)
                )
                .where(PayRefund.order_id.in_(ids), PayRefund.status.in_(LIVE_REFUNDS))
                .group_by(PayRefund.order_id)
            )
        }
        rows = []
        for ask in chunk:
            order = _refundable(orders.get(ask.order_id), workspace_id, ask, now)
            count, total = taken.get(order.id, (0, 0))
            _check_room(order, ask.amount, count, total)
            taken[order.id] = (count + 1, total + ask.amount)  # the same order twice in a batch
            rows.append(
                {
                    "workspace_id": workspace_id,
                    "merchant_id": order.merchant_id,
                    "order_id": order.id,
                    "out_refund_no": out_no("RF", 28),
                    "amount": ask.amount,
                    "reason": reason,
                    "status": RefundStatus.pending,
                    "operator_id": operator_id,
                    "requested_by": requested_by,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        inserted = session.scalars(
            insert(PayRefund).returning(PayRefund, sort_by_parameter_order=True), rows
        )
        made += [_refund_read(refund) for refund in inserted]
    return made


def _refundable(
    order: PayOrder | None, workspace_id: int, ask: RefundAsk, now: datetime
) -> PayOrder:
    if order is None or order.workspace_id != workspace_id:
        raise NotFound("pay.order_not_found", f"no order {ask.order_id}")
    if ask.amount <= 0:
        raise Invalid("pay.invalid_amount", "amounts are positive integers of fen")
    if order.status != OrderStatus.paid or order.paid_at is None:
        raise Conflict("pay.order_not_paid", f"order {order.out_trade_no} is not paid")
    if now > order.paid_at + REFUND_WINDOW:
        raise Conflict(
            "pay.refund_too_late", "WeChat Pay refunds only within a year of the payment"
        )
    return order


def _check_room(order: PayOrder, amount: int, count: int, taken: int) -> None:
    if count >= MAX_REFUNDS:
        raise Conflict("pay.too_many_refunds", f"an order is refunded at most {MAX_REFUNDS} times")
    if taken + amount > order.amount:
        raise Conflict(
            "pay.refund_exceeds_paid",
            f"{amount} fen would bring refunds to {taken + amount} of {order.amount} fen paid",
            data={"paid": order.amount, "refunded_or_pending": taken},
        )


def list_refunds(
    session: Session,
    workspace_id: int,
    *,
    order_ids: Sequence[int] | None = None,
    statuses: Sequence[RefundStatus] | None = None,
    limit: int = 100,
) -> list[RefundRead]:
    query = select(PayRefund).where(PayRefund.workspace_id == workspace_id)
    if order_ids is not None:
        query = query.where(PayRefund.order_id.in_(order_ids))
    if statuses is not None:
        query = query.where(PayRefund.status.in_(statuses))
    query = query.order_by(PayRefund.created_at.desc(), PayRefund.id.desc()).limit(limit)
    return [_refund_read(r) for r in session.scalars(query)]


@dataclass(frozen=True)
class RefundCall:
    """What to send to /v3/refund/domestic/refunds: identical on every try."""

    refund_id: int
    keys: MerchantKeys
    out_refund_no: str
    out_trade_no: str
    amount: int
    total: int
    reason: str


def refund_call(session: Session, refund_id: int) -> RefundCall | None:
    """The call for a refund still to be sent; None once WeChat accepted or refused it."""
    refund = session.get(PayRefund, refund_id)
    if refund is None or refund.status != RefundStatus.pending:
        return None
    order = session.get(PayOrder, refund.order_id)
    assert order is not None
    app = workspaces.get_apps_by_id(session, [order.app_id])[order.app_id]
    return RefundCall(
        refund_id=refund.id,
        keys=merchant_keys(session, refund.merchant_id, app.appid),
        out_refund_no=refund.out_refund_no,
        out_trade_no=order.out_trade_no,
        amount=refund.amount,
        total=order.amount,
        reason=refund.reason,
    )


def record_refund_answer(
    session: Session,
    refund_id: int,
    answer: Mapping[str, Any] | None,
    error: PayCallError | None,
) -> RefundRead:
    """The refund call's outcome: accepted (its state applies), retried later, or failed."""
    refund = session.scalars(
        select(PayRefund).where(PayRefund.id == refund_id).with_for_update()
    ).first()
    assert refund is not None
    now = clock.now()
    refund.updated_at = now
    if refund.status != RefundStatus.pending:
        return _refund_read(refund)
    refund.attempts += 1
    if answer is not None:
        merchant = session.get(PayMerchant, refund.merchant_id)
        assert merchant is not None
        apply_refund_state(session, merchant, answer, source="answer")
        session.refresh(refund)
        return _refund_read(refund)
    assert error is not None
    refund.last_error = f"{error.code}: {error.message}"[:255]
    if not isinstance(error, PayUnavailable) and error.code in REFUND_FINAL:
        refund.status, refund.next_attempt_at = RefundStatus.failed, None
        order = session.get(PayOrder, refund.order_id)
        assert order is not None
        _refund_settled(session, refund, order)
    else:
        # NOT_ENOUGH, FREQUENCY_LIMITED, SYSTEM_ERROR, timeouts: the same call, later.
        step = REFUND_RETRY[min(refund.attempts - 1, len(REFUND_RETRY) - 1)]
        refund.next_attempt_at = now + timedelta(seconds=step)
    session.flush()
    return _refund_read(refund)


_REFUND_STATES = {
    "SUCCESS": RefundStatus.succeeded,
    "PROCESSING": RefundStatus.processing,
    "ABNORMAL": RefundStatus.abnormal,
    "CLOSED": RefundStatus.closed,
}


def apply_refund_state(
    session: Session, merchant: PayMerchant, data: Mapping[str, Any], *, source: str
) -> str:
    """A refund's state from WeChat (answer, query or notification); pay.refunded once."""
    out_refund_no = str(data.get("out_refund_no", ""))
    refund = session.scalars(
        select(PayRefund)
        .where(PayRefund.merchant_id == merchant.id, PayRefund.out_refund_no == out_refund_no)
        .with_for_update()
    ).first()
    if refund is None:
        raise _refused("pay.unknown_refund", f"no refund {out_refund_no!r}", 404)
    order = session.scalars(
        select(PayOrder).where(PayOrder.id == refund.order_id).with_for_update()
    ).one()
    amount = data.get("amount")
    refunded = amount.get("refund") if isinstance(amount, dict) else None
    if refunded != refund.amount or data.get("out_trade_no") != order.out_trade_no:
        raise _refused(
            "pay.amount_mismatch",
            f"refund of {refunded} fen reported for a refund of {refund.amount} fen",
            409,
            order.out_trade_no,
        )
    state = _REFUND_STATES.get(str(data.get("status")))
    if state is None:
        raise _refused(
            "pay.malformed_notification", f"unknown refund state {data.get('status')}", 400
        )
    if refund.status in (RefundStatus.succeeded, state):
        if isinstance(data.get("refund_id"), str) and refund.refund_id is None:
            refund.refund_id = data["refund_id"]
        return "duplicate"
    now = clock.now()
    refund.status, refund.updated_at, refund.next_attempt_at = state, now, None
    refund.refund_id = str(data.get("refund_id") or refund.refund_id or "") or None
    if state == RefundStatus.succeeded:
        at = _success_time(data)
        refund.succeeded_at = at
        order.refunded += refund.amount
        order.updated_at = now
        member_id = _current_member(session, order.workspace_id, order.member_id)
        identity.record_event(
            session,
            order.workspace_id,
            member_id,
            "pay.refunded",
            at,
            app_id=order.app_id,
            props={
                "out_trade_no": order.out_trade_no,
                "out_refund_no": refund.out_refund_no,
                "amount": refund.amount,
                "reason": refund.reason,
                "reference": order.reference,
                "source": source,
            },
        )
    session.flush()
    if state != RefundStatus.processing:
        _refund_settled(session, refund, order)
    return "processed"


def _refund_settled(session: Session, refund: PayRefund, order: PayOrder) -> None:
    bus.publish(
        session,
        RefundSettled(
            refund.workspace_id,
            refund.id,
            order.id,
            order.reference,
            refund.amount,
            str(refund.status),
        ),
    )


# --- reconciliation ----------------------------------------------------------------------


def orders_to_check(session: Session, limit: int = 200) -> list[int]:
    """Pending orders whose notification should have come, or whose time ran out."""
    now = clock.now()
    query = (
        select(PayOrder.id)
        .where(
            PayOrder.status == OrderStatus.pending,
            (PayOrder.time_expire <= now) | (PayOrder.updated_at <= now - QUERY_AFTER),
        )
        .order_by(PayOrder.updated_at)
        .limit(limit)
    )
    return list(session.scalars(query))


@dataclass(frozen=True)
class OrderCheck:
    order_id: int
    keys: MerchantKeys
    out_trade_no: str
    expired: bool
    asked_wechat: bool  # a prepay was requested: WeChat may know the order


def order_check(session: Session, order_id: int) -> OrderCheck | None:
    order = session.get(PayOrder, order_id)
    if order is None or order.status != OrderStatus.pending:
        return None
    app = workspaces.get_apps_by_id(session, [order.app_id])[order.app_id]
    return OrderCheck(
        order_id=order.id,
        keys=merchant_keys(session, order.merchant_id, app.appid),
        out_trade_no=order.out_trade_no,
        expired=order.time_expire <= clock.now(),
        asked_wechat=order.prepay_id is not None,
    )


def settle_order(session: Session, order_id: int, answer: Mapping[str, Any] | None) -> str:
    """Apply an order query's answer (None: WeChat does not know the order)."""
    order = session.scalars(
        select(PayOrder).where(PayOrder.id == order_id).with_for_update()
    ).first()
    if order is None or order.status != OrderStatus.pending:
        return "unchanged"
    now = clock.now()
    state = answer.get("trade_state") if answer is not None else "NOTFOUND"
    if answer is not None and state in ("SUCCESS", "REFUND"):
        merchant = session.get(PayMerchant, order.merchant_id)
        assert merchant is not None
        return apply_transaction(
            session, merchant, {**answer, "trade_state": "SUCCESS"}, source="query"
        )
    if state == "CLOSED" or (order.time_expire <= now and state in ("NOTPAY", "NOTFOUND")):
        order.status, order.closed_at, order.updated_at = OrderStatus.closed, now, now
        session.flush()
        return "closed"
    order.updated_at = now
    session.flush()
    return "pending"


def refunds_due(session: Session, limit: int = 200) -> list[int]:
    now = clock.now()
    return list(
        session.scalars(
            select(PayRefund.id)
            .where(PayRefund.status == RefundStatus.pending, PayRefund.next_attempt_at <= now)
            .order_by(PayRefund.next_attempt_at)
            .limit(limit)
        )
    )


def refunds_to_query(session: Session, limit: int = 200) -> list[tuple[int, str]]:
    """Accepted refunds without an outcome QUERY_AFTER later: (refund id, out_refund_no)."""
    before = clock.now() - QUERY_AFTER
    rows = session.execute(
        select(PayRefund.id, PayRefund.out_refund_no)
        .where(PayRefund.status == RefundStatus.processing, PayRefund.updated_at <= before)
        .order_by(PayRefund.updated_at)
        .limit(limit)
    )
    return [(rid, no) for rid, no in rows]


def refund_keys(session: Session, refund_id: int) -> MerchantKeys:
    refund = session.get(PayRefund, refund_id)
    assert refund is not None
    order = session.get(PayOrder, refund.order_id)
    assert order is not None
    app = workspaces.get_apps_by_id(session, [order.app_id])[order.app_id]
    return merchant_keys(session, refund.merchant_id, app.appid)


def apply_refund_query(session: Session, refund_id: int, answer: Mapping[str, Any]) -> str:
    refund = session.get(PayRefund, refund_id)
    assert refund is not None
    merchant = session.get(PayMerchant, refund.merchant_id)
    assert merchant is not None
    outcome = apply_refund_state(session, merchant, answer, source="query")
    refund.updated_at = clock.now()
    session.flush()
    return outcome


def _fen(text: str) -> int:
    whole, _, frac = text.strip().lstrip("`").partition(".")
    return int(whole or "0") * 100 + int((frac + "00")[:2])


def parse_trade_bill(text: str) -> tuple[dict[str, int], dict[str, int]]:
    """Payments {out_trade_no: fen} and succeeded refunds {out_refund_no: fen} of a bill."""
    rows = list(csv.reader(io.StringIO(text)))
    payments: dict[str, int] = {}
    refunds: dict[str, int] = {}
    if not rows:
        return payments, refunds
    header = rows[0]
    index = {name: i for i, name in enumerate(header)}
    for row in rows[1:]:
        if len(row) != len(header) or not row[0].startswith("`"):
            break  # the summary section starts
        value = {name: row[i].lstrip("`") for name, i in index.items()}
        if value["交易状态"] == "SUCCESS":
            payments[value["商户订单号"]] = _fen(value["应结订单金额"])
        elif value["交易状态"] == "REFUND" and value["退款状态"] == "SUCCESS":
            refunds[value["商户退款单号"]] = _fen(value["退款金额"])
    return payments, refunds


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """A Beijing calendar day (WeChat's bills) as UTC instants."""
    start = datetime(day.year, day.month, day.day, tzinfo=BEIJING)
    return start, start + timedelta(days=1)


def reconcile(session: Session, merchant_id: int, day: date, bill: str) -> ReconciliationRead:
    """Compare the day's paid orders and succeeded refunds with the merchant's bill."""
    start, end = day_bounds(day)
    theirs_paid, theirs_refunded = parse_trade_bill(bill)
    ours_paid = dict(
        session.execute(
            select(PayOrder.out_trade_no, PayOrder.amount).where(
                PayOrder.merchant_id == merchant_id,
                PayOrder.status == OrderStatus.paid,
                PayOrder.paid_at >= start,
                PayOrder.paid_at < end,
            )
        ).all()
    )
    ours_refunded = dict(
        session.execute(
            select(PayRefund.out_refund_no, PayRefund.amount).where(
                PayRefund.merchant_id == merchant_id,
                PayRefund.status == RefundStatus.succeeded,
                PayRefund.succeeded_at >= start,
                PayRefund.succeeded_at < end,
            )
        ).all()
    )
    differences = _differences("payment", ours_paid, theirs_paid)
    differences += _differences("refund", ours_refunded, theirs_refunded)
    row = session.scalar(
        select(PayReconciliation).where(
            PayReconciliation.merchant_id == merchant_id, PayReconciliation.bill_date == day
        )
    )
    if row is None:
        row = PayReconciliation(merchant_id=merchant_id, bill_date=day)
        session.add(row)
    row.checked_at = clock.now()
    row.payments, row.refunds = len(theirs_paid), len(theirs_refunded)
    row.differences = differences
    session.flush()
    return ReconciliationRead.model_validate(row)


def _differences(kind: str, ours: dict[str, int], theirs: dict[str, int]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for number in sorted(ours.keys() | theirs.keys()):
        mine, bill = ours.get(number), theirs.get(number)
        if mine == bill:
            continue
        problem = (
            "missing_in_siyu" if mine is None else "missing_in_bill" if bill is None else "amount"
        )
        found.append(
            {"kind": kind, "number": number, "problem": problem, "siyu": mine, "merchant": bill}
        )
    return found


def list_reconciliations(
    session: Session, workspace_id: int, limit: int = 30
) -> list[ReconciliationRead]:
    mine = select(PayMerchant.id).where(PayMerchant.workspace_id == workspace_id)
    query = (
        select(PayReconciliation)
        .where(PayReconciliation.merchant_id.in_(mine))
        .order_by(PayReconciliation.bill_date.desc())
        .limit(limit)
    )
    return [ReconciliationRead.model_validate(r) for r in session.scalars(query)]


def refund_states(session: Session, refund_ids: Sequence[int]) -> dict[int, tuple[str, str | None]]:
    """Each refund's state and last error, by id (for views joining their own ledgers)."""
    found: dict[int, tuple[str, str | None]] = {}
    ids = list(refund_ids)
    for start in range(0, len(ids), 5000):
        rows = session.execute(
            select(PayRefund.id, PayRefund.status, PayRefund.last_error).where(
                PayRefund.id.in_(ids[start : start + 5000])
            )
        )
        found.update({rid: (str(status), error) for rid, status, error in rows})
    return found
