"""What operators see of the push inbox's health: its backlog, and the work set aside."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class PushBacklog(BaseModel):
    """Pushes waiting for their job, the oldest one's age, and those processed lately."""

    waiting: int
    oldest_age_seconds: float | None
    processed_last_minutes: int
    minutes: int


class SetAsidePush(BaseModel):
    id: int
    appid: str
    msg_type: str
    event: str | None
    received_at: datetime
    failed_at: datetime | None
    error: str | None


class PendingUnionid(BaseModel):
    """A follower's UnionID WeChat has not given yet; `next_attempt_at` None: given up."""

    id: int
    appid: str
    attempts: int
    last_error: str
    failed_at: datetime
    next_attempt_at: datetime | None


class SetAside(BaseModel):
    pushes: list[SetAsidePush]
    pushes_total: int
    unionids: list[PendingUnionid]
