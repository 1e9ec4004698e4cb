"""Canonical events from outside: validate them, find their apps, and ingest a batch of the
API atomically (every event valid and resolved, or nothing written)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from siyu.core.errors import NotFound, SiyuError, capped, error_code
from siyu.identity import errors
from siyu.identity.schemas import (
    EventIn,
    IngestReport,
    LineError,
    error_reason_zh,
    latest_event_time,
)
from siyu.identity.service.resolution import first_error, resolve_member
from siyu.identity.service.timeline import record_event
from siyu.workspaces import errors as workspace_errors
from siyu.workspaces import service as workspaces
from siyu.workspaces.schemas import AppRead

BATCH_LIMIT = 1000
ParsedEvents = list[tuple[int, tuple[EventIn, AppRead]]]


def ingest_events(session: Session, workspace_id: int, raw: list[dict[str, Any]]) -> IngestReport:
    """Ingest a batch atomically: every event is valid and resolved, or nothing is written."""
    if len(raw) > BATCH_LIMIT:
        raise errors.EVENTS_BATCH_TOO_LARGE(
            f"a batch holds at most {BATCH_LIMIT} events, not {len(raw)}",
            data={"limit": BATCH_LIMIT},
            limit=BATCH_LIMIT,
            count=len(raw),
        )
    events, refused = parse_events(session, workspace_id, enumerate(raw))
    if refused:
        raise errors.EVENTS_INVALID_BATCH(
            f"{len(refused)} of {len(raw)} events are invalid; nothing was written",
            data=capped([e.model_dump() for e in refused]),
            invalid=len(refused),
        )
    report = IngestReport()
    for index, (event, app) in events:
        try:
            resolved = resolve_member(session, app, event, seen_at=event.ts)
        except SiyuError as exc:
            refused.append(refused_line(index, exc))
            continue
        report.members_created += int(resolved.created)
        record_event(
            session,
            workspace_id,
            resolved.id,
            event.event,
            event.ts,
            app_id=app.id,
            channel=event.channel,
            props=event.props,
        )
    if refused:
        raise errors.EVENTS_INVALID_BATCH(
            "some events could not be resolved; nothing was written",
            data=capped([e.model_dump() for e in refused]),
            invalid=len(refused),
        )
    report.accepted = len(events)
    return report


def refused_line(index: int, exc: SiyuError) -> LineError:
    """A line a service refused: its code, the API's words and the code's Chinese."""
    listed = error_code(exc.code)
    zh = listed.text(exc.params) if listed is not None else ""
    return LineError(line=index, code=exc.code, reason=exc.message, zh=zh)


def invalid_line(index: int, exc: ValidationError) -> LineError:
    """A line that is no event: the first problem, in English and in Chinese."""
    first = exc.errors()[0]
    return LineError(
        line=index,
        code=errors.EVENT_INVALID.code,
        reason=first_error(exc),
        zh=errors.EVENT_INVALID.text({"reason": error_reason_zh(first)}),
    )


def parse_events(
    session: Session, workspace_id: int, items: Iterable[tuple[int, Any]]
) -> tuple[ParsedEvents, list[LineError]]:
    """Validate raw events (dicts or JSON text) and find their apps; collect errors by index."""
    apps: dict[str, AppRead | None] = {}
    parsed: ParsedEvents = []
    refused: list[LineError] = []
    context = {"latest": latest_event_time()}
    validator = EventIn.__pydantic_validator__  # straight to pydantic-core: no wrapper a line
    for index, item in items:
        try:
            event: EventIn = (
                validator.validate_json(item, context=context)
                if isinstance(item, (str, bytes))
                else validator.validate_python(item, context=context)
            )
        except ValidationError as exc:
            refused.append(invalid_line(index, exc))
            continue
        if event.appid not in apps:
            try:
                apps[event.appid] = workspaces.get_app_by_appid(session, event.appid, workspace_id)
            except NotFound:
                apps[event.appid] = None
        app = apps[event.appid]
        if app is None:
            refused.append(
                LineError(
                    line=index,
                    code=workspace_errors.UNKNOWN_APP.code,
                    reason=f"no app with appid {event.appid!r}",
                    zh=workspace_errors.UNKNOWN_APP.text({"appid": event.appid}),
                )
            )
            continue
        parsed.append((index, (event, app)))
    return parsed, refused
