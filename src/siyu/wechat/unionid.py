"""UnionID fetches WeChat did not answer: remembered with their error, asked again later.

A fetch that fails (WeChat busy, unreachable, a stale token) leaves a row; the sweep
`wechat.retry_unionid_fetches` enqueues the due ones again on the WeChat lane, each later than
the last (1, 2, 4… minutes, at most 6 hours apart), and after `MAX_ATTEMPTS` the row stays,
without a next attempt, for operators to see and retry by hand. The delays are siyu's policy,
not a WeChat limit: they only keep a long outage from costing one call per follower a minute.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from siyu.core import clock, jobs
from siyu.wechat import repository
from siyu.wechat.models import UnionidFetch

FETCH_JOB = "wechat.fetch_follower_unionid"
FIRST_DELAY = timedelta(minutes=1)
MAX_DELAY = timedelta(hours=6)
MAX_ATTEMPTS = 12  # about a day and a half of an outage, at the delays above
SWEEP_BATCH = 500
# A fetch the sweep enqueued is not enqueued again before this, even if its job was lost.
LEASE = timedelta(minutes=10)


def delay_after(attempts: int) -> timedelta:
    """How long to wait after the `attempts`-th failure."""
    return min(FIRST_DELAY * (1 << max(attempts - 1, 0)), MAX_DELAY)


def record_failure(
    session: Session, app_id: int, openid: str, error: str, now: datetime | None = None
) -> UnionidFetch:
    """Count one failed fetch and say when to try again (None: given up)."""
    now = now or clock.now()
    row = repository.get_unionid_fetch(session, app_id, openid)
    if row is None:
        row = UnionidFetch(app_id=app_id, openid=openid, attempts=0, last_error="", failed_at=now)
        repository.add_unionid_fetch(session, row)
    row.attempts += 1
    row.last_error = error[:300]
    row.failed_at = now
    row.next_attempt_at = now + delay_after(row.attempts) if row.attempts < MAX_ATTEMPTS else None
    session.flush()
    return row


def record_answer(session: Session, app_id: int, openid: str) -> None:
    """WeChat answered (with a UnionID or without): nothing is left to retry."""
    repository.delete_unionid_fetch(session, app_id, openid)


def requeue_now(session: Session, row: UnionidFetch, now: datetime | None = None) -> None:
    """Ask again now (an operator's retry): attempts counted afresh, leased while queued."""
    now = now or clock.now()
    row.attempts = 0
    row.next_attempt_at = now + LEASE
    session.flush()
    jobs.enqueue(session, FETCH_JOB, row.app_id, row.openid)


def requeue_due(session: Session, now: datetime | None = None) -> int:
    """Enqueue the fetches due by now (after commit), at most a batch; how many."""
    now = now or clock.now()
    due = repository.claim_due_unionid_fetches(session, now, now + LEASE, SWEEP_BATCH)
    for app_id, openid in due:
        jobs.enqueue(session, FETCH_JOB, app_id, openid)
    return len(due)


__all__ = [
    "FETCH_JOB",
    "MAX_ATTEMPTS",
    "delay_after",
    "record_answer",
    "record_failure",
    "requeue_due",
    "requeue_now",
]
