"""Where members came from, as SQL: selectables of member ids by first or last channel, for
queries that nest them (`member.id IN (…)`, audience's segments). Read-only."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import Select, select

from siyu.entries.models import Touch


def channel_member_ids(
    workspace_id: int, channel_ids: Collection[int], *, first: bool
) -> Select[Any]:
    """Members whose first (or, `first=False`, last) channel is one of `channel_ids`."""
    column = Touch.first_channel_id if first else Touch.last_channel_id
    return select(Touch.member_id).where(
        Touch.workspace_id == workspace_id, column.in_(sorted(set(channel_ids)))
    )
