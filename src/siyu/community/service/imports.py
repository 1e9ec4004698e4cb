"""History: activity definitions from a JSON list (`siyu import activities FILE.json`).

Their events (enrollments, check-ins, group joins, payments) come through `siyu import events`
with props.code naming the activity; the review reads both alike."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from siyu.community import errors, repository
from siyu.community.enums import GroupState
from siyu.community.models import Activity, Group, Series, Theme
from siyu.community.schemas import ActivityImport, ImportReport, minutes
from siyu.community.service.common import audit
from siyu.core import clock
from siyu.security.schemas import Principal

MAX_ACTIVITIES = 10_000


def _errors(raw: list[Any]) -> tuple[list[ActivityImport], list[dict[str, Any]]]:
    parsed: list[ActivityImport] = []
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        try:
            activity = ActivityImport.model_validate(item)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            errors.append({"index": index, "reason": f"{where}: {first['msg']}"})
            continue
        problem = None
        if activity.end < activity.start:
            problem = "end is before start"
        elif minutes(activity.window_end) <= minutes(activity.window_start):
            problem = "the daily window ends before it starts"
        elif activity.code in seen:
            problem = f"code {activity.code} appears twice"
        if problem:
            errors.append({"index": index, "reason": problem})
            continue
        seen.add(activity.code)
        parsed.append(activity)
    return parsed, errors


def import_activities(
    session: Session, workspace_id: int, raw: Any, *, actor: Principal | str
) -> ImportReport:
    """Create or update activities by code (with their theme, series and group): all or none.
    The import is audited with its counts."""
    if not isinstance(raw, list):
        raise errors.IMPORT_NOT_A_LIST("the file holds a JSON list of activities")
    if len(raw) > MAX_ACTIVITIES:
        raise errors.IMPORT_TOO_LARGE(
            f"at most {MAX_ACTIVITIES} activities", limit=f"{MAX_ACTIVITIES:,}"
        )
    items, invalid = _errors(raw)
    if invalid:
        raise errors.INVALID_IMPORT(
            f"{len(invalid)} of {len(raw)} activities are invalid; nothing was written",
            data={"errors": invalid[:100]},
            invalid=len(invalid),
            total=len(raw),
        )
    report = _write(session, workspace_id, items)
    audit(session, workspace_id, actor, "community.activities_imported", detail=report.model_dump())
    return report


def _write(session: Session, workspace_id: int, items: list[ActivityImport]) -> ImportReport:
    report = ImportReport()
    now = clock.now()
    themes = {t.name: t for t in repository.list_themes(session, workspace_id)}
    series_by = {(s.theme_id, s.name): s for s in repository.list_series(session, workspace_id)}
    for item in items:
        theme = themes.get(item.theme)
        if theme is None:
            theme = themes[item.theme] = Theme(
                workspace_id=workspace_id, name=item.theme, created_at=now
            )
            repository.add(session, theme)
            report.themes += 1
        series = series_by.get((theme.id, item.series))
        if series is None:
            series = series_by[(theme.id, item.series)] = Series(
                workspace_id=workspace_id, theme_id=theme.id, name=item.series, created_at=now
            )
            repository.add(session, series)
            report.series += 1
        values = {
            "series_id": series.id,
            "title": item.title,
            "status": item.status,
            "starts_on": item.start,
            "ends_on": item.end,
            "capacity": item.capacity,
            "fee": item.fee,
            "deposit": item.deposit,
            "checkin_days_required": item.checkin_days_required,
            "window_start": minutes(item.window_start),
            "window_end": minutes(item.window_end),
            "evidence": item.evidence,
            "refund_rule": item.refund_rule,
            "refund_n": item.refund_n,
            "refund_table": [s.model_dump() for s in item.refund_table],
            "updated_at": now,
        }
        activity = repository.get_activity_by_code(session, workspace_id, item.code)
        if activity is None:
            activity = Activity(
                workspace_id=workspace_id, code=item.code, imported=True, created_at=now, **values
            )
            session.add(activity)
            report.created += 1
        else:
            for key, value in values.items():
                setattr(activity, key, value)
            report.updated += 1
        session.flush()
        if item.group and not repository.group_id_of_activity(session, activity.id):
            session.add(
                Group(
                    workspace_id=workspace_id,
                    activity_id=activity.id,
                    name=item.group,
                    state=GroupState.archived,
                    created_at=now,
                    updated_at=now,
                )
            )
            report.groups += 1
    session.flush()
    return report
