"""Community jobs: send a confirmed settlement's refunds through Pay."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from siyu.core.db import get_database
from siyu.core.jobs import enqueue_after_commit, queue
from siyu.core.logging import get_logger
from siyu.wechat.pay import flows

log = get_logger(__name__)
CHUNK = 200


@queue.task()
def send_refunds(refund_ids: list[int]) -> None:
    """One try each; a refund WeChat did not accept stays pending with its next time and
    Pay's sweep resends it with the same out_refund_no (money leaves once)."""
    db, clients = get_database(), flows.clients()
    sent = 0
    for refund_id in refund_ids:
        try:
            if flows.submit_refund(db, clients, refund_id) is not None:
                sent += 1
        except Exception:  # one broken refund must not hold back the others
            log.exception("community_refund_failed", refund_id=refund_id)
    log.info("community_refunds_sent", sent=sent, of=len(refund_ids))


def enqueue_refunds(session: Session, refund_ids: Sequence[int]) -> None:
    ids = list(refund_ids)
    for start in range(0, len(ids), CHUNK):
        enqueue_after_commit(session, send_refunds, ids[start : start + CHUNK])
