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
    """One try each, as one batch: claimed together (refunds another runner holds are
    skipped), sent concurrently at WeChat Pay's rate, outcomes written together. A refund
    WeChat did not accept stays pending with its next time and Pay's sweep resends it with the
    same out_refund_no (money leaves once)."""
    done = pay.submit_refunds(get_database(), pay.clients(), refund_ids)
    log.info("community_refunds_sent", of=len(refund_ids), **vars(done))
