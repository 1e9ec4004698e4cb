"""Console pages of payments: orders per activity, refunds needing attention, refused
notifications, reconciliations, and a staff refund from the member page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from siyu.console import errors as console_errors
from siyu.console.common import PAYMENTS_PAGE, payments_context
from siyu.console.web import ConsoleRoute, error_response, is_htmx, render, translator
from siyu.core.errors import SiyuError
from siyu.core.http import DatabaseDep
from siyu.core.money import format_yuan, parse_yuan
from siyu.core.params import Id
from siyu.identity import service as identity
from siyu.security.auth import require
from siyu.security.enums import Permission
from siyu.security.schemas import Principal
from siyu.wechat.pay import errors as pay_errors
from siyu.wechat.pay import service as pay
from siyu.wechat.pay.enums import RefundStatus

router = APIRouter(include_in_schema=False, route_class=ConsoleRoute)
ATTENTION = (RefundStatus.pending, RefundStatus.abnormal, RefundStatus.failed)


def _fen(text: str) -> int:
    """Yuan as staff type them ("3", "3.5", "3.50") → fen; anything else (zero too) is refused."""
    try:
        return parse_yuan(text, allow_zero=False)
    except ValueError:
        raise pay_errors.INVALID_AMOUNT("amounts are yuan with at most two decimals") from None


@router.get("/payments")
def payments_page(
    request: Request,
    principal: Annotated[Principal, require(Permission.payments_read)],
    db: DatabaseDep,
    activity: Annotated[str, Query(max_length=32)] = "",
) -> Response:
    ws = principal.workspace_id
    code = activity.strip()
    with db.session_scope() as session:
        orders = pay.list_orders(
            session,
            ws,
            reference_prefix=f"activity:{code}:" if code else None,
            limit=PAYMENTS_PAGE,
        )
        refunds = pay.list_refunds(session, ws, statuses=ATTENTION)
        attention = [r for r in refunds if r.status != RefundStatus.pending or r.last_error]
        numbers = {
            mid: identity.get_member(session, ws, mid).number
            for mid in {o.member_id for o in orders}
        }
        context = {
            "active": "payments",
            "orders": orders,
            "activity": code,
            "totals": {
                "paid": sum(o.amount for o in orders if o.status == "paid"),
                "refunded": sum(o.refunded for o in orders),
            },
            "attention": attention,
            "numbers": numbers,
            "refused": pay.list_refused(session, ws, limit=50),
            "reconciliations": pay.list_reconciliations(session, ws),
        }
    return render(request, "payments.html", context)


@router.post("/payments/orders/{order_id}/refund")
def staff_refund_form(
    request: Request,
    order_id: Id,
    principal: Annotated[Principal, require(Permission.payments_refund)],
    db: DatabaseDep,
    amount: Annotated[str, Form(max_length=32)] = "",
    reason: Annotated[str, Form(max_length=256)] = "",
    confirm: Annotated[str, Form(max_length=8)] = "",
    seen: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    """A staff refund from the member page, in two steps: the form asks, the page answers with
    the amount to confirm (nothing written), and only the confirmation refunds (CSRF-checked,
    reason required, audited; the job sends it to WeChat Pay)."""
    ws = principal.workspace_id
    try:
        fen = _fen(amount)
        with db.session_scope() as session:
            member_id = pay.get_order(session, ws, order_id).member_id
            before = _refunds_of(session, ws, member_id, order_id)
            if confirm != "1":
                # The service's own checks, rolled back: a refusal shows now, not after the
                # confirmation; a rolled-back transaction enqueues and audits nothing.
                pay.refund_by_staff(session, principal, order_id, fen, reason)
                session.rollback()
            else:
                if seen != str(before):
                    # A second click on the confirmation, or a refund made meanwhile.
                    raise console_errors.REFUND_STALE("the order's refunds changed; look again")
                pay.refund_by_staff(session, principal, order_id, fen, reason)
    except SiyuError as exc:
        return error_response(request, exc, target=f"#order-{order_id}-msg")
    if confirm != "1":
        with db.session_scope() as session:
            context = payments_context(session, ws, member_id)
        context["confirm"] = {
            "order_id": order_id,
            "fen": fen,
            "amount": format_yuan(fen),
            "reason": reason.strip(),
            "seen": before,
        }
        context["member_id"] = member_id
        context["notice"] = None
        page = "_member_payments.html" if is_htmx(request) else "refund_confirm.html"
        return render(request, page, context)
    if not is_htmx(request):
        return RedirectResponse(f"/members/{member_id}", status_code=303)
    with db.session_scope() as session:
        context = payments_context(session, ws, member_id)
    context["notice"] = translator(request)("pay.refund.requested", amount=format_yuan(fen))
    context["notice_order"] = order_id
    return render(request, "_member_payments.html", context)


def _refunds_of(session: Session, workspace_id: int, member_id: int, order_id: int) -> int:
    context = payments_context(session, workspace_id, member_id)
    return len(context["refunds"].get(order_id, []))
