"""Community jobs: send a confirmed settlement's refunds through Pay (`community.send_refunds`,
enqueued by `service.confirm_settlement` after its commit)."""

from __future__ import annotations

from siyu.core.db import get_database
from siyu.core.jobs import job
from siyu.core.logging import get_logger
from siyu.wechat.pay import service as pay

log = get_logger(__name__)


@job("community.send_refunds")
def send_refunds(refund_ids: list[int]) -> None:
    """One try each; a refund WeChat did not accept stays pending with its next time and
    Pay's sweep resends it with the same out_refund_no (money leaves once)."""
    db, clients = get_database(), pay.clients()
    sent = 0
    for refund_id in refund_ids:
        try:
            if pay.submit_refund(db, clients, refund_id) is not None:
                sent += 1
        except Exception:  # one broken refund must not hold back the others
            log.exception("community_refund_failed", refund_id=refund_id)
    log.info("community_refunds_sent", sent=sent, of=len(refund_ids))
