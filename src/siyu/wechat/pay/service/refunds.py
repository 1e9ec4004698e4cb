"""Refunds: asked by staff (audited) or by a settlement, checked by WeChat Pay's rules, sent
by a job with a fixed out_refund_no, and applied once whatever reports their outcome."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from siyu.core import clock, jobs
from siyu.core.errors import SiyuError
from siyu.core.events import DomainEvent, bus
from siyu.core.logging import get_logger
from siyu.identity import service as identity
from siyu.security import service as security
from siyu.security.schemas import Principal
from siyu.wechat.pay import errors, repository
from siyu.wechat.pay.client import MerchantKeys, PayCallError, PayUnavailable
from siyu.wechat.pay.enums import OrderStatus, RefundStatus
from siyu.wechat.pay.models import PayMerchant, PayOrder, PayRefund
from siyu.wechat.pay.schemas import RefundRead
from siyu.wechat.pay.service.common import (
    ACTOR,
    MerchantRef,
    PayRefused,
    current_member,
    out_no,
    success_time,
)
from siyu.wechat.pay.service.merchants import merchant_keys
from siyu.workspaces import service as workspaces

log = get_logger(__name__)

SEND_JOB = "pay.send_refund"
REFUND_WINDOW = timedelta(days=365)
MAX_REFUNDS = 50
REFUND_REASON_MAX = 80
REFUND_BATCH = 1000
# Refunds WeChat has not accepted yet are retried with the same out_refund_no on this ladder.
REFUND_RETRY = (60, 120, 300, 900, 1800, 3600)
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
LIVE_REFUNDS = (
    RefundStatus.pending,
    RefundStatus.processing,
    RefundStatus.succeeded,
    RefundStatus.abnormal,
)
_REFUND_STATES = {
    "SUCCESS": RefundStatus.succeeded,
    "PROCESSING": RefundStatus.processing,
    "ABNORMAL": RefundStatus.abnormal,
    "CLOSED": RefundStatus.closed,
}


@dataclass(frozen=True, slots=True)
class RefundSettled(DomainEvent):
    """A refund reached a final or staff-visible state: succeeded, abnormal, closed, failed."""

    workspace_id: int
    refund_id: int
    order_id: int
    reference: str
    amount: int
    status: str


@dataclass(frozen=True)
class RefundAsk:
    order_id: int
    amount: int


def _refund_read(refund: PayRefund) -> RefundRead:
    return RefundRead.model_validate(refund)


# --- asking ------------------------------------------------------------------------------


def refund_by_staff(
    session: Session,
    principal: Principal,
    order_id: int,
    amount: int,
    reason: str,
    *,
    idempotency_key: str | None = None,
) -> RefundRead:
    """A refund an operator asked for, with the reason (recorded with the operator's id),
    audited (`pay.refund_requested`) and sent by the job once the transaction commits.

    With an `idempotency_key` (the API's `Idempotency-Key` header) the same key asked again
    for the order answers the refund it made, and makes none: a client that lost the answer
    (a timeout, a cut connection) may ask again. The same key with another amount or reason
    is refused (`pay.idempotency_key_reused`). Racing asks wait on the order's row lock; the
    unique (order, key) settles a race the lock cannot (SQLite).

    This is the one place staff refunds enter (the API and the console page call it).
    """
    reason = reason.strip()
    if not reason:
        raise errors.REFUND_REASON_REQUIRED("a staff refund needs a reason")
    if idempotency_key is not None:
        repository.orders_for_update(session, [order_id])
        earlier = _asked_with(session, principal, order_id, idempotency_key, (amount, reason))
        if earlier is not None:
            return earlier
    try:
        with session.begin_nested():
            refund = request_refund(
                session,
                principal.workspace_id,
                order_id,
                amount,
                reason,
                operator_id=principal.operator_id,
                requested_by=principal.actor,
                idempotency_key=idempotency_key,
            )
    except IntegrityError:
        if idempotency_key is None:
            raise
        earlier = _asked_with(session, principal, order_id, idempotency_key, (amount, reason))
        if earlier is None:
            raise
        return earlier
    # Who asked for how much, not why: the free-text reason stays on the refund.
    security.record_audit(
        session,
        principal,
        "pay.refund_requested",
        target_type="order",
        target_id=order_id,
        detail={"refund_id": refund.id, "amount_fen": amount},
    )
    jobs.enqueue(session, SEND_JOB, refund.id)
    return refund


def _asked_with(
    session: Session, principal: Principal, order_id: int, key: str, ask: tuple[int, str]
) -> RefundRead | None:
    """The refund this key already made for the order (the same ask), or None."""
    earlier = repository.get_refund_by_key(session, order_id, key)
    if earlier is None or earlier.workspace_id != principal.workspace_id:
        return None  # another workspace's order is not found by the ask itself
    if (earlier.amount, earlier.reason) != ask:
        raise errors.IDEMPOTENCY_KEY_REUSED(
            f"Idempotency-Key {key!r} made refund {earlier.id} of order {order_id} with "
            "another amount or reason"
        )
    return _refund_read(earlier)


def request_refund(
    session: Session,
    workspace_id: int,
    order_id: int,
    amount: int,
    reason: str,
    *,
    operator_id: int | None = None,
    requested_by: str = ACTOR,
    idempotency_key: str | None = None,
) -> RefundRead:
    """Record a refund to be sent (the job sends it); refused when WeChat's rules forbid it."""
    [made] = request_refunds(
        session,
        workspace_id,
        [RefundAsk(order_id, amount)],
        reason,
        operator_id=operator_id,
        requested_by=requested_by,
        idempotency_key=idempotency_key,
    )
    return made


def request_refunds(
    session: Session,
    workspace_id: int,
    asks: Sequence[RefundAsk],
    reason: str,
    *,
    operator_id: int | None = None,
    requested_by: str = ACTOR,
    idempotency_key: str | None = None,
) -> list[RefundRead]:
    """Record many refunds at once (a settlement's), each checked by WeChat's rules as
    `request_refund` checks one; one refused refuses them all. In the order asked.
    `idempotency_key` is a staff refund's (one ask)."""
    if idempotency_key is not None and len(asks) != 1:
        raise ValueError("an Idempotency-Key names one refund")
    if len(reason) > REFUND_REASON_MAX:
        raise errors.REFUND_REASON_TOO_LONG("the reason is at most 80 characters")
    now = clock.now()
    made: list[RefundRead] = []
    for start in range(0, len(asks), REFUND_BATCH):
        chunk = asks[start : start + REFUND_BATCH]
        ids = sorted({ask.order_id for ask in chunk})
        orders = repository.orders_for_update(session, ids)
        taken = repository.refund_room_taken(session, ids, LIVE_REFUNDS)
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
                    "idempotency_key": idempotency_key,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        made += [_refund_read(refund) for refund in repository.add_refunds(session, rows)]
    return made


def _refundable(
    order: PayOrder | None, workspace_id: int, ask: RefundAsk, now: datetime
) -> PayOrder:
    if order is None or order.workspace_id != workspace_id:
        raise errors.ORDER_NOT_FOUND(f"no order {ask.order_id}")
    if ask.amount <= 0:
        raise errors.INVALID_AMOUNT("amounts are positive integers of fen")
    if order.status != OrderStatus.paid or order.paid_at is None:
        raise errors.ORDER_NOT_PAID(f"order {order.out_trade_no} is not paid")
    if now > order.paid_at + REFUND_WINDOW:
        raise errors.REFUND_TOO_LATE("WeChat Pay refunds only within a year of the payment")
    return order


def _check_room(order: PayOrder, amount: int, count: int, taken: int) -> None:
    if count >= MAX_REFUNDS:
        raise errors.TOO_MANY_REFUNDS(
            f"an order is refunded at most {MAX_REFUNDS} times", limit=MAX_REFUNDS
        )
    if taken + amount > order.amount:
        raise errors.REFUND_EXCEEDS_PAID(
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
    refunds = repository.list_refunds(
        session, workspace_id, order_ids=order_ids, statuses=statuses, limit=limit
    )
    return [_refund_read(r) for r in refunds]


def refund_states(session: Session, refund_ids: Sequence[int]) -> dict[int, tuple[str, str | None]]:
    """Each refund's state and last error, by id (for views joining their own ledgers)."""
    return repository.refund_states(session, refund_ids)


# --- sending -----------------------------------------------------------------------------


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
    attempts: int = 0  # tries before this one (the retry ladder's step)


# A claimed refund is held this long: past its call's timeouts (5 s + 10 s) and its wait for
# the rate limit. A runner that dies holding refunds lets them go when it ends.
CLAIM_LEASE = timedelta(seconds=120)


@dataclass(frozen=True)
class RefundOutcome:
    """One refund call's outcome: WeChat's answer, or why there is none."""

    call: RefundCall
    answer: Mapping[str, Any] | None
    error: PayCallError | None


def claim_refund_calls(
    session: Session, refund_ids: Sequence[int], *, due_only: bool = True
) -> list[RefundCall]:
    """Claim the pending refunds among `refund_ids` that no runner holds (and, with
    `due_only`, whose next try is due), and make their calls; the caller sends them after
    this transaction commits and records the outcomes with `record_refund_outcomes`."""
    now = clock.now()
    claimed = repository.claim_refunds(
        session, refund_ids, now, now + CLAIM_LEASE, due_only=due_only
    )
    apps = workspaces.get_apps_by_id(session, sorted({row.app_id for row in claimed}))
    keys: dict[tuple[int, int], MerchantKeys] = {}
    calls = []
    for row in claimed:
        pair = (row.merchant_id, row.app_id)
        if pair not in keys:  # the merchant's secrets are decrypted once per batch
            keys[pair] = merchant_keys(session, row.merchant_id, apps[row.app_id].appid)
        calls.append(
            RefundCall(
                refund_id=row.id,
                keys=keys[pair],
                out_refund_no=row.out_refund_no,
                out_trade_no=row.out_trade_no,
                amount=row.amount,
                total=row.total,
                reason=row.reason,
                attempts=row.attempts,
            )
        )
    return calls


def release_refund_calls(session: Session, refund_ids: Sequence[int]) -> None:
    """Let go of claimed refunds whose calls were never made (a runner stopped early)."""
    repository.release_refunds(session, refund_ids)


def read_refunds(session: Session, refund_ids: Sequence[int]) -> list[RefundRead]:
    """The refunds, by id, in the order asked (ids that do not exist are left out)."""
    found = {r.id: r for r in repository.get_refunds(session, refund_ids)}
    return [_refund_read(found[i]) for i in refund_ids if i in found]


def _retry_at(now: datetime, attempts: int) -> datetime:
    return now + timedelta(seconds=REFUND_RETRY[min(attempts - 1, len(REFUND_RETRY) - 1)])


def _plainly_accepted(outcome: RefundOutcome) -> str | None:
    """WeChat's refund_id when the answer is the usual one (accepted, PROCESSING, the refund
    asked for); None sends the outcome through `record_refund_answer`, one by one."""
    answer, call = outcome.answer, outcome.call
    if answer is None or answer.get("status") != "PROCESSING":
        return None
    amount = answer.get("amount")
    refunded = amount.get("refund") if isinstance(amount, dict) else None
    refund_id = answer.get("refund_id")
    if (
        answer.get("out_refund_no") != call.out_refund_no
        or answer.get("out_trade_no") != call.out_trade_no
        or refunded != call.amount
        or not isinstance(refund_id, str)
    ):
        return None
    return refund_id


def record_refund_outcomes(session: Session, outcomes: Sequence[RefundOutcome]) -> dict[str, int]:
    """A batch of refund calls' outcomes, as `record_refund_answer` records each: accepted
    refunds and retries in one statement each; the rare rest (a final refusal, an answer
    already final or not matching) one by one, each in its savepoint. Counts by kind."""
    now = clock.now()
    accepted: list[dict[str, Any]] = []
    retry: list[dict[str, Any]] = []
    one_by_one: list[RefundOutcome] = []
    for outcome in sorted(outcomes, key=lambda o: o.call.refund_id):  # locks in id order
        refund_id, error = _plainly_accepted(outcome), outcome.error
        if refund_id is not None:
            accepted.append(
                {"b_id": outcome.call.refund_id, "b_refund_id": refund_id, "b_now": now}
            )
        elif error is not None and (
            isinstance(error, PayUnavailable) or error.code not in REFUND_FINAL
        ):
            retry.append(
                {
                    "b_id": outcome.call.refund_id,
                    "b_error": f"{error.code}: {error.message}"[:255],
                    "b_next": _retry_at(now, outcome.call.attempts + 1),
                    "b_now": now,
                }
            )
        else:
            one_by_one.append(outcome)
    repository.mark_refunds_accepted(session, accepted)
    repository.mark_refunds_retry(session, retry)
    broken = 0
    for outcome in one_by_one:
        try:
            with session.begin_nested():
                record_refund_answer(session, outcome.call.refund_id, outcome.answer, outcome.error)
        except SiyuError:
            # An answer that does not match what was asked: kept claimed (the lease runs out
            # and the sweep asks again); staff see it in the logs.
            broken += 1
            log.exception("pay_refund_answer_refused", refund_id=outcome.call.refund_id)
    return {
        "accepted": len(accepted),
        "retry": len(retry),
        "one_by_one": len(one_by_one) - broken,
        "refused": broken,
    }


def record_refund_answer(
    session: Session,
    refund_id: int,
    answer: Mapping[str, Any] | None,
    error: PayCallError | None,
) -> RefundRead:
    """The refund call's outcome: accepted (its state applies), retried later, or failed."""
    refund = repository.refund_for_update(session, refund_id)
    assert refund is not None
    now = clock.now()
    refund.updated_at = now
    refund.claimed_until = None
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
        refund.next_attempt_at = _retry_at(now, refund.attempts)
    session.flush()
    return _refund_read(refund)


# --- outcomes ----------------------------------------------------------------------------


def apply_refund_state(
    session: Session, merchant: MerchantRef, data: Mapping[str, Any], *, source: str
) -> str:
    """A refund's state from WeChat (answer, query or notification); pay.refunded once."""
    out_refund_no = str(data.get("out_refund_no", ""))
    refund = repository.refund_by_number_for_update(session, merchant.id, out_refund_no)
    if refund is None:
        raise PayRefused(errors.UNKNOWN_REFUND, f"no refund {out_refund_no!r}")
    order = repository.order_of_refund_for_update(session, refund.order_id)
    amount = data.get("amount")
    refunded = amount.get("refund") if isinstance(amount, dict) else None
    if refunded != refund.amount or data.get("out_trade_no") != order.out_trade_no:
        raise PayRefused(
            errors.AMOUNT_MISMATCH,
            f"refund of {refunded} fen reported for a refund of {refund.amount} fen",
            out_trade_no=order.out_trade_no,
        )
    state = _REFUND_STATES.get(str(data.get("status")))
    if state is None:
        raise PayRefused(
            errors.MALFORMED_NOTIFICATION, f"unknown refund state {data.get('status')}"
        )
    if refund.status in (RefundStatus.succeeded, state):
        if isinstance(data.get("refund_id"), str) and refund.refund_id is None:
            refund.refund_id = data["refund_id"]
        return "duplicate"
    now = clock.now()
    refund.status, refund.updated_at, refund.next_attempt_at = state, now, None
    refund.refund_id = str(data.get("refund_id") or refund.refund_id or "") or None
    if state == RefundStatus.succeeded:
        at = success_time(data)
        refund.succeeded_at = at
        order.refunded += refund.amount
        order.updated_at = now
        member_id = current_member(session, order.workspace_id, order.member_id)
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
