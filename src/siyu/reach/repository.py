"""Reach queries. Conditional updates reserve quota atomically: two notices racing for one
member's last credit cannot both win it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Table,
    and_,
    any_,
    bindparam,
    case,
    func,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from siyu.reach.enums import BroadcastStatus, SendStatus
from siyu.reach.models import (
    ReachBroadcast,
    ReachCredit,
    ReachLedger,
    ReachPolicy,
    ReachPreference,
    ReachSend,
    ReachTemplate,
)

COUNTED = (SendStatus.queued, SendStatus.sending, SendStatus.sent, SendStatus.delivered)


def _pg(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _among(session: Session, column: Any, values: Sequence[Any]) -> ColumnElement[bool]:
    """`column IN values`; on PostgreSQL `= ANY(array)`, one parameter: psycopg parses a
    statement of more than 50 parameters afresh on every call, which cost a 1,000-notice
    batch more than its queries (bench/reach.py, profiled)."""
    if _pg(session):
        array = bindparam(None, list(values), type_=postgresql.ARRAY(column.type))
        return column == any_(array)  # type: ignore[no-any-return]
    return column.in_(list(values))  # type: ignore[no-any-return]


def _unnest(table: Table, rows: Sequence[dict[str, Any]], names: Sequence[str]) -> Any:
    """The rows as a PostgreSQL `unnest` of one array per column (one parameter each)."""
    arrays = [
        bindparam(None, [row[name] for row in rows], type_=postgresql.ARRAY(table.c[name].type))
        for name in names
    ]
    return func.unnest(*arrays).table_valued(*names).render_derived(name="batch")


def list_templates_by_key(session: Session, workspace_id: int, key: str) -> list[ReachTemplate]:
    return list(
        session.scalars(
            select(ReachTemplate).where(
                ReachTemplate.workspace_id == workspace_id, ReachTemplate.key == key
            )
        )
    )


def list_templates(session: Session, workspace_id: int) -> list[ReachTemplate]:
    return list(
        session.scalars(
            select(ReachTemplate)
            .where(ReachTemplate.workspace_id == workspace_id)
            .order_by(ReachTemplate.key, ReachTemplate.kind)
        )
    )


def add_template(session: Session, row: ReachTemplate) -> ReachTemplate:
    session.add(row)
    session.flush()
    return row


def get_template(session: Session, template_row_id: int) -> ReachTemplate | None:
    return session.get(ReachTemplate, template_row_id)


def list_ledger_rows(session: Session, member_ids: Sequence[int]) -> list[ReachLedger]:
    return list(
        session.scalars(
            select(ReachLedger)
            .where(ReachLedger.member_id.in_(list(member_ids)))
            .order_by(ReachLedger.id)
        )
    )


def get_ledger_row(session: Session, member_id: int, app_id: int) -> ReachLedger | None:
    return session.scalars(
        select(ReachLedger).where(ReachLedger.member_id == member_id, ReachLedger.app_id == app_id)
    ).first()


def get_or_add_ledger_row(
    session: Session, workspace_id: int, member_id: int, app_id: int, *, openid: str, now: datetime
) -> ReachLedger:
    """The member's row for the app, created if missing (a racing creator wins; we reread)."""
    row = get_ledger_row(session, member_id, app_id)
    if row is not None:
        return row
    try:
        with session.begin_nested():
            row = ReachLedger(
                workspace_id=workspace_id,
                member_id=member_id,
                app_id=app_id,
                openid=openid,
                following=None,
                window_used=0,
                mass_month="",
                mass_count=0,
                updated_at=now,
            )
            session.add(row)
            session.flush()
            return row
    except IntegrityError:
        found = get_ledger_row(session, member_id, app_id)
        assert found is not None
        return found


LedgerKey = tuple[int, int]  # (member_id, app_id)


@dataclass(slots=True)
class LedgerState:
    """What the pushes change in a ledger row, read and written without the ORM (a batch)."""

    id: int
    following: bool | None
    follow_changed_at: datetime | None
    window_opened_at: datetime | None
    window_used: int
    updated_at: datetime | None = None


_STATE = (
    ReachLedger.id,
    ReachLedger.member_id,
    ReachLedger.app_id,
    ReachLedger.following,
    ReachLedger.follow_changed_at,
    ReachLedger.window_opened_at,
    ReachLedger.window_used,
)


def lock_ledger_rows(
    session: Session, wanted: dict[LedgerKey, tuple[int, str]], now: datetime
) -> dict[LedgerKey, LedgerState]:
    """The ledger states of these (member, app) keys, locked until commit, the missing ones
    created first from their (workspace, openid): one statement for a batch of known members,
    two more when some are new.

    Locked in key order, as every batch locks them, so that two workers whose batches share
    members wait for each other instead of deadlocking; a racing creator's row is kept.
    """
    if not wanted:
        return {}
    keys = sorted(wanted)
    rows = _select_locked(session, keys)
    missing = [k for k in keys if k not in rows]
    if missing:
        made = _insert_missing(session, missing, wanted, now)
        rows.update(
            (key, LedgerState(made[key], None, None, None, 0)) for key in missing if key in made
        )
        raced = [k for k in missing if k not in made]
        rows.update(_select_locked(session, raced) if raced else {})
    return rows


def _select_locked(session: Session, keys: list[LedgerKey]) -> dict[LedgerKey, LedgerState]:
    query = select(*_STATE)
    if _pg(session):
        # The keys as two arrays: two parameters however many keys (see `_among`).
        wanted = _key_arrays(keys)
        query = query.join(
            wanted,
            and_(
                ReachLedger.member_id == wanted.c.member_id,
                ReachLedger.app_id == wanted.c.app_id,
            ),
        ).with_for_update(of=ReachLedger)
    else:
        query = query.where(tuple_(ReachLedger.member_id, ReachLedger.app_id).in_(keys))
    found = session.execute(query.order_by(ReachLedger.member_id, ReachLedger.app_id))
    return {(r[1], r[2]): LedgerState(r[0], r[3], r[4], r[5], r[6]) for r in found}


def _key_arrays(keys: Sequence[LedgerKey]) -> Any:
    members = [member_id for member_id, _ in keys]
    apps = [app_id for _, app_id in keys]
    return (
        func.unnest(
            bindparam(None, members, type_=postgresql.ARRAY(ReachLedger.member_id.type)),
            bindparam(None, apps, type_=postgresql.ARRAY(ReachLedger.app_id.type)),
        )
        .table_valued("member_id", "app_id")
        .render_derived(name="wanted")
    )


def _insert_missing(
    session: Session,
    keys: list[LedgerKey],
    wanted: dict[LedgerKey, tuple[int, str]],
    now: datetime,
) -> dict[LedgerKey, int]:
    """Rows for these keys, in key order, as their first push would make them: the ids of those
    made here (a racing batch may have made some first)."""
    values = [
        {
            "workspace_id": wanted[key][0],
            "member_id": key[0],
            "app_id": key[1],
            "openid": wanted[key][1],
            "following": None,
            "window_used": 0,
            "mass_month": "",
            "mass_count": 0,
            "updated_at": now,
        }
        for key in keys
    ]
    statement: Any
    if _pg(session):
        names = list(values[0])
        statement = postgresql.insert(ReachLedger).from_select(
            names,
            select(_unnest(ReachLedger.__table__, values, names)),  # type: ignore[arg-type]
        )
    else:
        statement = sqlite.insert(ReachLedger).values(values)
    made = session.execute(
        statement.on_conflict_do_nothing(index_elements=["member_id", "app_id"]).returning(
            ReachLedger.id, ReachLedger.member_id, ReachLedger.app_id
        )
    )
    return {(member_id, app_id): row_id for row_id, member_id, app_id in made}


def update_ledger_states(session: Session, states: Sequence[LedgerState], now: datetime) -> None:
    """Write these states back, in one statement (by id; their rows are locked)."""
    if not states:
        return
    rows = [
        {
            "id": s.id,
            "following": s.following,
            "follow_changed_at": s.follow_changed_at,
            "window_opened_at": s.window_opened_at,
            "window_used": s.window_used,
        }
        for s in states
    ]
    names = list(rows[0])
    if _pg(session):
        batch = _unnest(ReachLedger.__table__, rows, names)  # type: ignore[arg-type]
        session.execute(
            update(ReachLedger)
            .where(ReachLedger.id == batch.c.id)
            .values({name: batch.c[name] for name in names[1:]} | {"updated_at": now})
            .execution_options(synchronize_session=False)
        )
        return
    table = ReachLedger.__table__
    assert isinstance(table, Table)
    session.execute(
        update(table)
        .where(table.c.id == bindparam("row_id"))
        .values({name: bindparam(name) for name in names[1:]} | {"updated_at": now}),
        [{"row_id": row.pop("id"), **row} for row in rows],
    )


def members_with_held_sends(session: Session, member_ids: Sequence[int]) -> list[int]:
    """Which of these members have notices held, waiting for the ledger to change."""
    if not member_ids:
        return []
    return list(
        session.scalars(
            select(ReachSend.member_id)
            .where(
                ReachSend.status == SendStatus.held,
                _among(session, ReachSend.member_id, member_ids),
            )
            .distinct()
            .order_by(ReachSend.member_id)
        )
    )


def get_or_add_credit(
    session: Session, member_id: int, app_id: int, template_id: str, now: datetime
) -> ReachCredit:
    found = session.scalars(
        select(ReachCredit).where(
            ReachCredit.member_id == member_id,
            ReachCredit.app_id == app_id,
            ReachCredit.template_id == template_id,
        )
    ).first()
    if found is not None:
        return found
    try:
        with session.begin_nested():
            row = ReachCredit(
                member_id=member_id,
                app_id=app_id,
                template_id=template_id,
                granted=0,
                used=0,
                updated_at=now,
            )
            session.add(row)
            session.flush()
            return row
    except IntegrityError:
        return get_or_add_credit(session, member_id, app_id, template_id, now)


def list_credits(session: Session, member_ids: Sequence[int]) -> list[ReachCredit]:
    return list(
        session.scalars(
            select(ReachCredit)
            .where(ReachCredit.member_id.in_(list(member_ids)))
            .order_by(ReachCredit.id)
        )
    )


def take_credit(
    session: Session, member_ids: Sequence[int], app_id: int, template_id: str, now: datetime
) -> bool:
    """Spend one unused credit of the template, if any is left."""
    rows = session.execute(
        select(ReachCredit.id).where(
            ReachCredit.member_id.in_(list(member_ids)),
            ReachCredit.app_id == app_id,
            ReachCredit.template_id == template_id,
            ReachCredit.used < ReachCredit.granted,
        )
    ).all()
    for (credit_id,) in rows:
        result = session.execute(
            update(ReachCredit)
            .where(ReachCredit.id == credit_id, ReachCredit.used < ReachCredit.granted)
            .values(used=ReachCredit.used + 1, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount:  # type: ignore[attr-defined]
            return True
    return False


def take_window(session: Session, row: ReachLedger, quota: int, now: datetime) -> bool:
    """Spend one customer-service message of the window the row saw open."""
    result = session.execute(
        update(ReachLedger)
        .where(
            ReachLedger.id == row.id,
            ReachLedger.window_opened_at == row.window_opened_at,
            ReachLedger.window_used < quota,
        )
        .values(window_used=ReachLedger.window_used + 1, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    session.expire(row)
    return bool(result.rowcount)  # type: ignore[attr-defined]


def list_preferences(session: Session, member_ids: Sequence[int]) -> list[ReachPreference]:
    return list(
        session.scalars(
            select(ReachPreference).where(ReachPreference.member_id.in_(list(member_ids)))
        )
    )


def get_policy_row(session: Session, workspace_id: int) -> ReachPolicy | None:
    return session.scalars(
        select(ReachPolicy).where(ReachPolicy.workspace_id == workspace_id)
    ).first()


def get_send_by_key(session: Session, workspace_id: int, dedupe_key: str) -> ReachSend | None:
    return session.scalars(
        select(ReachSend).where(
            ReachSend.workspace_id == workspace_id, ReachSend.dedupe_key == dedupe_key
        )
    ).first()


def get_send_for_update(session: Session, send_id: int) -> ReachSend | None:
    return session.scalars(
        select(ReachSend).where(ReachSend.id == send_id).with_for_update()
    ).first()


def get_send_by_msgid(session: Session, app_id: int, msgid: str) -> ReachSend | None:
    return session.scalars(
        select(ReachSend).where(ReachSend.msgid == msgid, ReachSend.app_id == app_id)
    ).first()


def count_recent_sends(
    session: Session, member_ids: Sequence[int], category: str, since: datetime
) -> int:
    return int(
        session.scalar(
            select(func.count(ReachSend.id)).where(
                ReachSend.member_id.in_(list(member_ids)),
                ReachSend.category == category,
                ReachSend.status.in_(COUNTED),
                ReachSend.created_at >= since,
            )
        )
        or 0
    )


def list_held_sends(
    session: Session, *, due_before: datetime | None = None, member_ids: Sequence[int] = ()
) -> list[int]:
    query = select(ReachSend.id).where(ReachSend.status == SendStatus.held)
    if due_before is not None:
        query = query.where(ReachSend.hold_until <= due_before)
    if member_ids:
        query = query.where(ReachSend.member_id.in_(list(member_ids)))
    return list(session.scalars(query.order_by(ReachSend.id).limit(1000)))


def list_sends(
    session: Session,
    workspace_id: int,
    *,
    member_id: int | None = None,
    status: SendStatus | None = None,
    broadcast_id: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[ReachSend]:
    query = select(ReachSend).where(ReachSend.workspace_id == workspace_id)
    if member_id is not None:
        query = query.where(ReachSend.member_id == member_id)
    if status is not None:
        query = query.where(ReachSend.status == status)
    if broadcast_id is not None:
        query = query.where(ReachSend.broadcast_id == broadcast_id)
    return list(session.scalars(query.order_by(ReachSend.id.desc()).limit(limit).offset(offset)))


def count_outcomes(session: Session, broadcast_id: int) -> dict[str, int]:
    rows = session.execute(
        select(ReachSend.status, func.count(ReachSend.id))
        .where(ReachSend.broadcast_id == broadcast_id)
        .group_by(ReachSend.status)
    )
    return {str(status): int(count) for status, count in rows}


def list_followers(session: Session, app_id: int) -> list[int]:
    return list(
        session.scalars(
            select(ReachLedger.member_id)
            .where(ReachLedger.app_id == app_id, ReachLedger.following.is_(True))
            .order_by(ReachLedger.member_id)
        )
    )


def list_follower_openids(session: Session, app_id: int) -> list[tuple[int, str]]:
    """(member, openid) of every member following the app now."""
    rows = session.execute(
        select(ReachLedger.member_id, ReachLedger.openid)
        .where(ReachLedger.app_id == app_id, ReachLedger.following.is_(True))
        .order_by(ReachLedger.member_id)
    )
    return [(member_id, openid) for member_id, openid in rows]


def list_members_by_openid(
    session: Session, app_id: int, openids: Sequence[str]
) -> list[tuple[str, int]]:
    rows = session.execute(
        select(ReachLedger.openid, ReachLedger.member_id).where(
            ReachLedger.app_id == app_id, ReachLedger.openid.in_(list(openids))
        )
    )
    return [(openid, member_id) for openid, member_id in rows]


def list_audiences_since(
    session: Session, workspace_id: int, since: datetime
) -> list[dict[str, Any]]:
    """The audiences of the broadcasts scheduled since `since` (not their member lists)."""
    query = select(ReachBroadcast.audience).where(
        ReachBroadcast.workspace_id == workspace_id, ReachBroadcast.scheduled_at >= since
    )
    return list(session.scalars(query))


def list_broadcasts(session: Session, workspace_id: int) -> list[ReachBroadcast]:
    return list(
        session.scalars(
            select(ReachBroadcast)
            .where(ReachBroadcast.workspace_id == workspace_id)
            .order_by(ReachBroadcast.id.desc())
            .limit(200)
        )
    )


def list_due_broadcasts(session: Session, now: datetime) -> list[int]:
    return list(
        session.scalars(
            select(ReachBroadcast.id).where(
                ReachBroadcast.status.in_((BroadcastStatus.scheduled, BroadcastStatus.running)),
                ReachBroadcast.scheduled_at <= now,
            )
        )
    )


def count_by_status(
    session: Session, workspace_id: int, since: datetime
) -> list[tuple[str, str, int]]:
    rows = session.execute(
        select(ReachSend.status, ReachSend.reason, func.count(ReachSend.id))
        .where(ReachSend.workspace_id == workspace_id, ReachSend.created_at >= since)
        .group_by(ReachSend.status, ReachSend.reason)
    )
    return [(str(status), reason or "", int(count)) for status, reason, count in rows]


def list_sends_before(
    session: Session, workspace_id: int, before_id: int | None, limit: int
) -> list[ReachSend]:
    query = select(ReachSend).where(ReachSend.workspace_id == workspace_id)
    if before_id is not None:
        query = query.where(ReachSend.id < before_id)
    return list(session.scalars(query.order_by(ReachSend.id.desc()).limit(limit)))


def list_sends_claimed_before(session: Session, before: datetime, limit: int) -> list[ReachSend]:
    """Sends still "sending" whose claim is older than `before`, locked."""
    query = (
        select(ReachSend)
        .where(ReachSend.status == SendStatus.sending, ReachSend.claimed_at < before)
        .order_by(ReachSend.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(session.scalars(query))


def list_sends_queued_before(
    session: Session, before: datetime, mass: str, limit: int
) -> list[int]:
    """Ids of single sends queued (made or last claimed) before `before`; mass sends go by
    batch and are left to their broadcast."""
    last = func.coalesce(ReachSend.claimed_at, ReachSend.created_at)
    query = (
        select(ReachSend.id)
        .where(
            ReachSend.status == SendStatus.queued,
            last < before,
            or_(ReachSend.channel.is_(None), ReachSend.channel != mass),
        )
        .order_by(ReachSend.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def list_legacy_history(
    session: Session,
    events: Table,
    workspace_id: int,
    app_id: int,
    *,
    since: datetime,
    until: datetime,
    sent_channels: Sequence[str],
) -> list[tuple[int, str, datetime]]:
    """(member, event name, time) of an app's form submits, payments and template messages
    sent through `sent_channels`, from identity's events table (`events`), in a period."""
    channel = events.c.props["channel"].as_string()
    rows = session.execute(
        select(events.c.member_id, events.c.name, events.c.ts).where(
            events.c.workspace_id == workspace_id,
            events.c.app_id == app_id,
            events.c.ts >= since,
            events.c.ts < until,
            or_(
                events.c.name.in_(("mp.form_submit", "pay.paid")),
                and_(events.c.name == "message.sent", channel.in_(list(sent_channels))),
            ),
        )
    )
    return [(member_id, name, ts) for member_id, name, ts in rows]


# --- batches: set-based reads and one statement per write --------------------------------


def list_ledger_for_apps(
    session: Session, member_ids: Sequence[int], app_ids: Sequence[int]
) -> list[ReachLedger]:
    """The ledger rows of many members in the apps of a notice, in one query (id order)."""
    if not member_ids or not app_ids:
        return []
    return list(
        session.scalars(
            select(ReachLedger)
            .where(
                _among(session, ReachLedger.member_id, member_ids),
                ReachLedger.app_id.in_(list(app_ids)),
            )
            .order_by(ReachLedger.id)
        )
    )


def list_open_credits(
    session: Session, member_ids: Sequence[int], pairs: Sequence[tuple[int, str]]
) -> list[tuple[int, int, int, str, int]]:
    """(id, member, app, template id, credits left) of the members' unspent credits for these
    (app, template id) pairs, in id order."""
    if not member_ids or not pairs:
        return []
    rows = session.execute(
        select(
            ReachCredit.id,
            ReachCredit.member_id,
            ReachCredit.app_id,
            ReachCredit.template_id,
            ReachCredit.granted - ReachCredit.used,
        )
        .where(
            _among(session, ReachCredit.member_id, member_ids),
            or_(*(and_(ReachCredit.app_id == a, ReachCredit.template_id == t) for a, t in pairs)),
            ReachCredit.used < ReachCredit.granted,
        )
        .order_by(ReachCredit.id)
    )
    return [(r[0], r[1], r[2], r[3], int(r[4])) for r in rows]


def take_credits(session: Session, taken: dict[int, int], now: datetime) -> set[int]:
    """Spend `taken[id]` credits of each row at once, where that many are left: the ids
    spent (a racing notice may have spent one first; those are decided again)."""
    spent: set[int] = set()
    by_count: dict[int, list[int]] = {}
    for credit_id, count in taken.items():
        by_count.setdefault(count, []).append(credit_id)
    for count, ids in by_count.items():
        spent.update(
            session.scalars(
                update(ReachCredit)
                .where(
                    _among(session, ReachCredit.id, ids),
                    ReachCredit.used + count <= ReachCredit.granted,
                )
                .values(used=ReachCredit.used + count, updated_at=now)
                .returning(ReachCredit.id)
                .execution_options(synchronize_session=False)
            )
        )
    return spent


def take_windows(
    session: Session, taken: dict[int, int], opened_after: datetime, quota: int, now: datetime
) -> set[int]:
    """Spend `taken[id]` customer-service messages of each ledger row's window, where the
    window is still open (opened after `opened_after`) with that many left: the ids spent."""
    spent: set[int] = set()
    by_count: dict[int, list[int]] = {}
    for row_id, count in taken.items():
        by_count.setdefault(count, []).append(row_id)
    for count, ids in by_count.items():
        spent.update(
            session.scalars(
                update(ReachLedger)
                .where(
                    _among(session, ReachLedger.id, ids),
                    ReachLedger.window_opened_at > opened_after,
                    ReachLedger.window_used + count <= quota,
                )
                .values(window_used=ReachLedger.window_used + count, updated_at=now)
                .returning(ReachLedger.id)
                .execution_options(synchronize_session=False)
            )
        )
    return spent


def give_back(
    session: Session, credits: dict[int, int], windows: dict[int, int], now: datetime
) -> None:
    """Undo `take_credits` / `take_windows` of this transaction (row id → count)."""
    for row_id, count in credits.items():
        session.execute(
            update(ReachCredit)
            .where(ReachCredit.id == row_id)
            .values(used=ReachCredit.used - count, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    for row_id, count in windows.items():
        session.execute(
            update(ReachLedger)
            .where(ReachLedger.id == row_id)
            .values(window_used=ReachLedger.window_used - count, updated_at=now)
            .execution_options(synchronize_session=False)
        )


def list_preference_flags(
    session: Session, member_ids: Sequence[int]
) -> list[tuple[int, bool, list[str]]]:
    """(member, do-not-contact, muted categories) of those members who set preferences."""
    if not member_ids:
        return []
    rows = session.execute(
        select(
            ReachPreference.member_id, ReachPreference.do_not_contact, ReachPreference.muted
        ).where(_among(session, ReachPreference.member_id, member_ids))
    )
    return [(r[0], bool(r[1]), list(r[2] or [])) for r in rows]


def count_recent_by_member(
    session: Session, member_ids: Sequence[int], category: str, since: datetime
) -> dict[int, int]:
    """Counted sends of a category since `since`, per member, in one grouped query."""
    if not member_ids:
        return {}
    rows = session.execute(
        select(ReachSend.member_id, func.count(ReachSend.id))
        .where(
            _among(session, ReachSend.member_id, member_ids),
            ReachSend.category == category,
            ReachSend.status.in_(COUNTED),
            ReachSend.created_at >= since,
        )
        .group_by(ReachSend.member_id)
    )
    return {int(member): int(count) for member, count in rows}


def add_sends(session: Session, rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Insert sends in one statement, skipping dedupe keys already taken: {dedupe key: id}
    of the rows inserted (a key missing was there before, or raced in meanwhile). Every row
    has the same keys."""
    if not rows:
        return {}
    table = ReachSend.__table__
    assert isinstance(table, Table)
    names = list(rows[0])
    statement: Any
    if _pg(session):
        batch = _unnest(table, rows, names)
        statement = postgresql.insert(table).from_select(
            names, select(*(batch.c[name] for name in names))
        )
        statement = statement.on_conflict_do_nothing(
            index_elements=["workspace_id", "dedupe_key"]
        ).returning(table.c.dedupe_key, table.c.id)
        result = session.execute(statement)
    else:
        statement = (
            sqlite.insert(table)
            .on_conflict_do_nothing(index_elements=["workspace_id", "dedupe_key"])
            .returning(table.c.dedupe_key, table.c.id)
        )
        result = session.execute(statement, list(rows))
    return {key: int(send_id) for key, send_id in result}


def list_sends_by_keys(
    session: Session, workspace_id: int, keys: Sequence[str]
) -> list[dict[str, Any]]:
    """The sends of these dedupe keys, as the columns of a `SendRead` (no ORM objects, and
    the encrypted data is not read)."""
    if not keys:
        return []
    table = ReachSend.__table__
    assert isinstance(table, Table)
    shown = [c for c in table.c if c.name not in ("data", "openid", "msgid", "template_row_id")]
    rows = session.execute(
        select(*shown).where(
            table.c.workspace_id == workspace_id, _among(session, table.c.dedupe_key, keys)
        )
    )
    return [dict(row._mapping) for row in rows]


def update_sends(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Write decisions by primary key in one statement (every dict has the same keys)."""
    if not rows:
        return
    if _pg(session):
        table = ReachSend.__table__
        assert isinstance(table, Table)
        names = list(rows[0])
        batch = _unnest(table, rows, names)
        session.execute(
            update(table)
            .where(table.c.id == batch.c.id)
            .values({name: batch.c[name] for name in names if name != "id"})
        )
        return
    session.execute(update(ReachSend), list(rows))


def lock_held_sends(session: Session, send_ids: Sequence[int]) -> list[ReachSend]:
    """The held sends among these ids, locked (on PostgreSQL, skipping those another
    transaction holds: it is deciding them)."""
    if not send_ids:
        return []
    return list(
        session.scalars(
            select(ReachSend)
            .where(_among(session, ReachSend.id, send_ids), ReachSend.status == SendStatus.held)
            .order_by(ReachSend.id)
            .with_for_update(skip_locked=True)
        )
    )


def claim_sends(session: Session, send_ids: Sequence[int], now: datetime) -> list[dict[str, Any]]:
    """Mark the queued sends among these ids as being sent, in one statement: the claimed
    rows. On PostgreSQL a row another transaction holds is skipped (SKIP LOCKED): it is being
    claimed there; only one claim can turn a row from queued to sending."""
    if not send_ids:
        return []
    table = ReachSend.__table__
    assert isinstance(table, Table)
    due = (
        select(table.c.id)
        .where(_among(session, table.c.id, send_ids), table.c.status == SendStatus.queued)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    result = session.execute(
        update(table)
        .where(table.c.id.in_(due), table.c.status == SendStatus.queued)
        .values(status=SendStatus.sending, claimed_at=now, attempts=table.c.attempts + 1)
        .returning(
            table.c.id,
            table.c.workspace_id,
            table.c.member_id,
            table.c.channel,
            table.c.openid,
            table.c.app_id,
            table.c.template_row_id,
            table.c.data,
            table.c.attempts,
        )
    )
    return [dict(row._mapping) for row in result]


def list_templates_by_id(session: Session, template_ids: Sequence[int]) -> list[ReachTemplate]:
    if not template_ids:
        return []
    return list(
        session.scalars(select(ReachTemplate).where(ReachTemplate.id.in_(list(template_ids))))
    )


def mark_sends_sent(
    session: Session, msgids: dict[int, str | None], now: datetime
) -> list[dict[str, Any]]:
    """Record many sends WeChat accepted, in one statement (each with its msgid): the rows
    that were still being sent (a sweep may have given one up meanwhile)."""
    if not msgids:
        return []
    table = ReachSend.__table__
    assert isinstance(table, Table)
    given = {k: v for k, v in msgids.items() if v is not None}
    msgid: Any = case(given, value=table.c.id, else_=None) if given else None
    result = session.execute(
        update(table)
        .where(_among(session, table.c.id, list(msgids)), table.c.status == SendStatus.sending)
        .values(status=SendStatus.sent, sent_at=now, reason=None, msgid=msgid)
        .returning(
            table.c.id,
            table.c.workspace_id,
            table.c.member_id,
            table.c.template_key,
            table.c.category,
            table.c.channel,
            table.c.app_id,
        )
    )
    return [dict(row._mapping) for row in result]


def requeue_sends(
    session: Session, send_ids: Sequence[int], errcode: int, max_attempts: int
) -> list[tuple[int, int]]:
    """Sends a transient failure sends back to the queue (those with attempts left): their
    (id, attempts)."""
    if not send_ids:
        return []
    table = ReachSend.__table__
    assert isinstance(table, Table)
    result = session.execute(
        update(table)
        .where(
            _among(session, table.c.id, send_ids),
            table.c.status == SendStatus.sending,
            table.c.attempts < max_attempts,
        )
        .values(status=SendStatus.queued, errcode=errcode)
        .returning(table.c.id, table.c.attempts)
    )
    return [(int(r[0]), int(r[1])) for r in result]


# --- backlog (for /metrics and the console's overview) ---------------------------------------


def queued_backlog(session: Session) -> tuple[int, datetime | None]:
    """Sends waiting for their delivery job, and when the oldest was made (or last claimed)."""
    count, oldest = session.execute(
        select(func.count(), func.min(func.coalesce(ReachSend.claimed_at, ReachSend.created_at)))
        .select_from(ReachSend)
        .where(ReachSend.status == SendStatus.queued)
    ).one()
    return int(count or 0), oldest


def count_sent_since(session: Session, since: datetime) -> int:
    return int(
        session.scalar(
            select(func.count()).select_from(ReachSend).where(ReachSend.sent_at >= since)
        )
        or 0
    )
