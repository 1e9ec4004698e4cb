"""Who took part in what, as SQL: selectables of member ids by enrollment state, for queries
that nest them (`member.id IN (…)`, audience's segments). Read-only."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import Select, select

from siyu.community.enums import EnrollmentStatus
from siyu.community.models import Activity, Enrollment


def enrolled_member_ids(
    workspace_id: int,
    statuses: Collection[EnrollmentStatus],
    *,
    activity_id: int | None = None,
    series_id: int | None = None,
) -> Select[Any]:
    """Members with an enrollment in one of `statuses`, in the activity `activity_id`, in any
    activity of the series `series_id`, or (neither) in any activity of the workspace."""
    query = select(Enrollment.member_id).where(
        Enrollment.workspace_id == workspace_id, Enrollment.status.in_(sorted(statuses))
    )
    if activity_id is not None:
        query = query.where(Enrollment.activity_id == activity_id)
    if series_id is not None:
        query = query.where(
            Enrollment.activity_id.in_(select(Activity.id).where(Activity.series_id == series_id))
        )
    return query
