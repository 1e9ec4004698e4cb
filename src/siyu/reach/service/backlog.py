"""Reach's backlog for operators: notices waiting for delivery, and those sent lately."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from siyu.core import clock
from siyu.reach import repository
from siyu.reach.schemas import NoticeBacklog


def notice_backlog(session: Session, minutes: int = 5) -> NoticeBacklog:
    """Every workspace's queued sends (workers serve them all), the oldest one's age, and
    how many were sent in the last `minutes`."""
    now = clock.now()
    waiting, oldest = repository.queued_backlog(session)
    return NoticeBacklog(
        waiting=waiting,
        oldest_age_seconds=None if oldest is None else max((now - oldest).total_seconds(), 0.0),
        sent_last_minutes=repository.count_sent_since(session, now - timedelta(minutes=minutes)),
        minutes=minutes,
    )
