"""The send log and what is read from it: pages, the outcome summary, the audited export, and
the pre-2020 Mini Program template-message rules replayed over a period's history."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from siyu.core import clock
from siyu.identity import service as identity
from siyu.reach import errors, repository
from siyu.reach import policy as policies
from siyu.reach.enums import SendStatus
from siyu.reach.schemas import LegacyReport, SendRead
from siyu.reach.service.preferences import get_policy
from siyu.security import service as security
from siyu.security.schemas import Principal
from siyu.workspaces import service as workspaces


def list_sends(
    session: Session,
    workspace_id: int,
    *,
    member_id: int | None = None,
    status: SendStatus | None = None,
    broadcast_id: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[SendRead]:
    rows = repository.list_sends(
        session,
        workspace_id,
        member_id=member_id,
        status=status,
        broadcast_id=broadcast_id,
        limit=limit,
        offset=offset,
    )
    return [SendRead.model_validate(row) for row in rows]


def outcome_summary(session: Session, workspace_id: int, days: int = 7) -> list[tuple[str, int]]:
    """Sends of the last `days` by outcome ("sent", "held: no_channel", "dropped: …")."""
    since = clock.now() - timedelta(days=days)
    counts: dict[str, int] = {}
    for status, reason, count in repository.count_by_status(session, workspace_id, since):
        label = f"{status}: {reason}" if status in ("held", "dropped", "failed") else status
        counts[label] = counts.get(label, 0) + count
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def sends_page(
    session: Session, workspace_id: int, before_id: int | None, limit: int = 500
) -> list[SendRead]:
    rows = repository.list_sends_before(session, workspace_id, before_id, limit)
    return [SendRead.model_validate(row) for row in rows]


def record_sends_export(session: Session, actor: Principal) -> None:
    """The send log leaves siyu (as CSV): who took it is audited before the first page."""
    security.record_audit(session, actor, "reach.sends_exported")


# --- the pre-2020 template-message rules, over history ---------------------------------------

LEGACY_SENT_CHANNELS = ("mp_template", "mp_template_legacy")  # as imported histories name them


def legacy_report(
    session: Session, workspace_id: int, appid: str, since: datetime, until: datetime
) -> LegacyReport:
    """Replay the period's form submits, payments and template messages of a Mini Program the
    policy reads under the old rules: what they allowed, what was used, what lapsed, and the
    sends the rules would have refused."""
    if until <= since:
        raise errors.INVALID_PERIOD("until must be after since")
    if appid not in get_policy(session, workspace_id).legacy_template_apps:
        raise errors.LEGACY_RULES_OFF(
            f"{appid} is not read under the old template rules: add it to the policy's "
            "legacy_template_apps",
            appid=appid,
        )
    app = workspaces.get_app_by_appid(session, appid, workspace_id)
    rows = repository.list_legacy_history(
        session,
        identity.events_table(),
        workspace_id,
        app.id,
        since=since,
        until=until,
        sent_channels=LEGACY_SENT_CHANNELS,
    )
    history: dict[int, tuple[list[datetime], list[datetime], list[datetime]]] = {}
    for member_id, name, ts in rows:
        forms, payments, sends = history.setdefault(member_id, ([], [], []))
        {"mp.form_submit": forms, "pay.paid": payments}.get(name, sends).append(ts)
    totals = policies.LegacyTally()
    for forms, payments, sends in history.values():
        totals.add(policies.legacy_tally(forms, payments, sends, until))
    return LegacyReport(appid=appid, since=since, until=until, members=len(history), totals=totals)
