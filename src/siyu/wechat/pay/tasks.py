"""Pay jobs: send refunds, sweep late orders and refunds, reconcile yesterday's bills."""

from __future__ import annotations

from datetime import timedelta

from huey import crontab

from siyu.core import clock
from siyu.core.clock import BEIJING
from siyu.core.db import get_database
from siyu.core.jobs import enqueue_now, job, on_queue_lost
from siyu.core.logging import get_logger
from siyu.wechat.pay import service

log = get_logger(__name__)


@job("pay.send_refund")
def send_refund(refund_id: int) -> None:
    """One try; a failed try leaves the refund pending with its next time (the sweep resends)."""
    service.submit_refund(get_database(), service.clients(), refund_id)


@job("pay.sweep", periodic=crontab(minute="*"))
def pay_sweep() -> None:
    done = service.sweep(get_database(), service.clients())
    if done.orders_checked or done.refunds_sent or done.refunds_queried or done.errors:
        log.info("pay_sweep", **vars(done))


@on_queue_lost("pay.sweep")
def _sweep_after_queue_lost() -> None:
    """Redis lost its data: pending refunds (their send jobs gone) are sent now."""
    enqueue_now("pay.sweep")


# WeChat Pay's bills of a day are ready the next morning (Beijing); 02:30 UTC is 10:30 there.
@job("pay.reconcile_yesterday", periodic=crontab(minute="30", hour="2"))
def reconcile_yesterday() -> None:
    db = get_database()
    day = (clock.now().astimezone(BEIJING) - timedelta(days=1)).date()
    with db.session_scope() as session:
        merchants = service.list_merchants(session)
    for merchant in merchants:
        try:
            result = service.reconcile_day(db, service.clients(), merchant.id, day)
        except Exception:
            log.exception("pay_reconcile_failed", mchid=merchant.mchid, day=day.isoformat())
            continue
        log.info(
            "pay_reconciled",
            mchid=merchant.mchid,
            day=day.isoformat(),
            differences=len(result.differences),
        )
