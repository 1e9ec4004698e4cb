"""Queries of points, sign-in and levels (get_/list_/add_/count_). Batches are set-based: on
PostgreSQL a batch's rows go as one array per column (`unnest`), one parameter each."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Enum,
    String,
    Table,
    and_,
    any_,
    bindparam,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from siyu.members.enums import EntryKind
from siyu.members.models import (
    MemberLevel,
    PointsAccount,
    PointsEntry,
    PointsLot,
    PointsPolicy,
    PointsRule,
    PointsTally,
    Signin,
)

LOT_COLUMNS = ["workspace_id", "member_id", "entry_id", "amount", "remaining", "earned_at"]
LOT_COLUMNS += ["expires_at"]
SQLITE_CHUNK = 500  # rows per multi-VALUES insert on SQLite (its bound-parameter limit)


def _pg(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _among(session: Session, column: Any, values: Iterable[Any]) -> ColumnElement[bool]:
    """`column IN values`; on PostgreSQL `= ANY(array)`: one parameter, one cached plan."""
    wanted = list(values)
    if _pg(session):
        return column == any_(bindparam(None, wanted, type_=postgresql.ARRAY(column.type)))  # type: ignore[no-any-return]
    return column.in_(wanted)  # type: ignore[no-any-return]


def _unnest(table: Table, rows: Sequence[Mapping[str, Any]], names: Sequence[str]) -> Any:
    arrays = []
    for name in names:
        kind = table.c[name].type
        element = String(64) if isinstance(kind, Enum) else kind
        arrays.append(bindparam(None, [row[name] for row in rows], type_=postgresql.ARRAY(element)))
    return func.unnest(*arrays).table_valued(*names).render_derived(name="batch")


def _insert_ignoring(
    session: Session,
    model: Any,
    rows: Sequence[Mapping[str, Any]],
    conflict: Sequence[str],
    returning: Sequence[Any],
) -> list[Any]:
    """INSERT … ON CONFLICT (conflict) DO NOTHING RETURNING …: the rows that went in."""
    if not rows:
        return []
    table: Table = model.__table__
    names = list(rows[0])
    if _pg(session):
        statement = postgresql.insert(model).from_select(names, select(_unnest(table, rows, names)))
        return list(
            session.execute(
                statement.on_conflict_do_nothing(index_elements=list(conflict)).returning(
                    *returning
                )
            )
        )
    made: list[Any] = []
    for start in range(0, len(rows), SQLITE_CHUNK):
        chunk = [dict(r) for r in rows[start : start + SQLITE_CHUNK]]
        lite = sqlite.insert(model).values(chunk)
        made.extend(
            session.execute(
                lite.on_conflict_do_nothing(index_elements=list(conflict)).returning(*returning)
            )
        )
    return made


def _insert(session: Session, model: Any, rows: Sequence[Mapping[str, Any]]) -> None:
    if not rows:
        return
    table: Table = model.__table__
    names = list(rows[0])
    if _pg(session):
        session.execute(
            postgresql.insert(model).from_select(names, select(_unnest(table, rows, names)))
        )
        return
    for start in range(0, len(rows), SQLITE_CHUNK):
        session.execute(
            sqlite.insert(model).values([dict(r) for r in rows[start : start + SQLITE_CHUNK]])
        )


# --- policy, rules, levels -------------------------------------------------------------------


def get_policy(session: Session, workspace_id: int) -> PointsPolicy | None:
    return session.get(PointsPolicy, workspace_id)


def add(session: Session, row: Any) -> None:
    session.add(row)
    session.flush()


def list_rules(session: Session, workspace_id: int) -> list[PointsRule]:
    return list(
        session.scalars(
            select(PointsRule)
            .where(PointsRule.workspace_id == workspace_id)
            .order_by(PointsRule.id)
        )
    )


def get_rule(session: Session, workspace_id: int, rule_id: int) -> PointsRule | None:
    rule = session.get(PointsRule, rule_id)
    return rule if rule is not None and rule.workspace_id == workspace_id else None


def get_rule_by_trigger(session: Session, workspace_id: int, trigger: str) -> PointsRule | None:
    return session.scalar(
        select(PointsRule).where(
            PointsRule.workspace_id == workspace_id, PointsRule.trigger == trigger
        )
    )


def delete_row(session: Session, row: Any) -> None:
    session.delete(row)
    session.flush()


def list_levels(session: Session, workspace_id: int) -> list[MemberLevel]:
    return list(
        session.scalars(
            select(MemberLevel)
            .where(MemberLevel.workspace_id == workspace_id)
            .order_by(MemberLevel.rank)
        )
    )


def get_level(session: Session, workspace_id: int, level_id: int) -> MemberLevel | None:
    level = session.get(MemberLevel, level_id)
    return level if level is not None and level.workspace_id == workspace_id else None


# --- accounts --------------------------------------------------------------------------------


def add_accounts(
    session: Session, workspace_id: int, member_ids: Iterable[int], now: datetime, period: date
) -> None:
    """An account for each member that has none (a concurrent maker wins quietly)."""
    rows = [
        {
            "workspace_id": workspace_id,
            "member_id": member_id,
            "balance": 0,
            "earned": 0,
            "growth": 0,
            "period_growth": 0,
            "period_start": period,
            "level_rank": 0,
            "updated_at": now,
        }
        for member_id in sorted(set(member_ids))
    ]
    _insert_ignoring(session, PointsAccount, rows, ["member_id"], [PointsAccount.id])


def get_account(session: Session, member_id: int) -> PointsAccount | None:
    return session.scalar(select(PointsAccount).where(PointsAccount.member_id == member_id))


def lock_accounts(session: Session, member_ids: Iterable[int]) -> dict[int, PointsAccount]:
    """The members' accounts, locked until commit, taken in id order (no deadlock between two
    batches that share members)."""
    wanted = sorted(set(member_ids))
    if not wanted:
        return {}
    rows = session.scalars(
        select(PointsAccount)
        .where(_among(session, PointsAccount.member_id, wanted))
        .order_by(PointsAccount.id)
        .with_for_update()
    )
    return {row.member_id: row for row in rows}


@dataclass
class AccountRow:
    """An account's figures, read under lock and written back in one statement (the earning
    batch's: no ORM object per member)."""

    id: int
    member_id: int
    balance: int
    earned: int
    growth: int
    period_growth: int
    level_rank: int


def lock_account_rows(session: Session, member_ids: Iterable[int]) -> dict[int, AccountRow]:
    wanted = sorted(set(member_ids))
    if not wanted:
        return {}
    rows = session.execute(
        select(
            PointsAccount.id,
            PointsAccount.member_id,
            PointsAccount.balance,
            PointsAccount.earned,
            PointsAccount.growth,
            PointsAccount.period_growth,
            PointsAccount.level_rank,
        )
        .where(_among(session, PointsAccount.member_id, wanted))
        .order_by(PointsAccount.id)
        .with_for_update()
    )
    return {row.member_id: AccountRow(*row) for row in rows}


def write_account_rows(session: Session, rows: Sequence[AccountRow], now: datetime) -> None:
    """Balances, earned and growth back, by id, in one statement (the rows are locked)."""
    if not rows:
        return
    names = ["id", "balance", "earned", "growth", "period_growth"]
    values = [{n: getattr(r, n) for n in names} for r in rows]
    table: Table = PointsAccount.__table__  # type: ignore[assignment]
    if _pg(session):
        batch = _unnest(table, values, names)
        session.execute(
            update(PointsAccount)
            .where(PointsAccount.id == batch.c.id)
            .values(
                balance=batch.c.balance,
                earned=batch.c.earned,
                growth=batch.c.growth,
                period_growth=batch.c.period_growth,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        return
    session.execute(
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values(
            balance=bindparam("b_balance"),
            earned=bindparam("b_earned"),
            growth=bindparam("b_growth"),
            period_growth=bindparam("b_period_growth"),
            updated_at=now,
        ),
        [{f"b_{k}": v for k, v in row.items()} for row in values],
    )


def set_level_ranks(session: Session, ranks: Mapping[int, int], now: datetime) -> None:
    """Account id → its new level rank (the rows are locked)."""
    if ranks:
        session.execute(
            update(PointsAccount),
            [{"id": i, "level_rank": r, "level_changed_at": now} for i, r in ranks.items()],
        )


def add_lots_of_entries(
    session: Session, entry_ids: Sequence[int], earned_at: datetime, expires_at: datetime | None
) -> None:
    """A lot for each of these earn entries (its amount), earned and expiring as given: one
    INSERT … SELECT from the entries (their figures are not sent twice)."""
    if not entry_ids:
        return
    source = select(
        PointsEntry.workspace_id,
        PointsEntry.member_id,
        PointsEntry.id,
        PointsEntry.amount,
        PointsEntry.amount,
        bindparam("earned_at", earned_at, type_=PointsLot.earned_at.type),
        bindparam("expires_at", expires_at, type_=PointsLot.expires_at.type),
    ).where(_among(session, PointsEntry.id, entry_ids), PointsEntry.amount > 0)
    session.execute(insert(PointsLot).from_select(LOT_COLUMNS, source))


def debit(session: Session, member_id: int, amount: int, now: datetime) -> bool:
    """Take `amount` off the balance if it holds that much: one atomic statement, which also
    locks the account until commit (concurrent spends wait, then see the new balance)."""
    result = session.execute(
        update(PointsAccount)
        .where(PointsAccount.member_id == member_id, PointsAccount.balance >= amount)
        .values(balance=PointsAccount.balance - amount, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def credit(session: Session, member_id: int, amount: int, now: datetime) -> None:
    session.execute(
        update(PointsAccount)
        .where(PointsAccount.member_id == member_id)
        .values(balance=PointsAccount.balance + amount, updated_at=now)
        .execution_options(synchronize_session=False)
    )


def list_accounts(
    session: Session, workspace_id: int, *, min_rank: int = 0, limit: int = 1000, after_id: int = 0
) -> list[PointsAccount]:
    return list(
        session.scalars(
            select(PointsAccount)
            .where(
                PointsAccount.workspace_id == workspace_id,
                PointsAccount.level_rank >= min_rank,
                PointsAccount.id > after_id,
            )
            .order_by(PointsAccount.id)
            .limit(limit)
        )
    )


def stale_period_accounts(
    session: Session, workspace_id: int, period: date, limit: int
) -> list[PointsAccount]:
    """Accounts still counting an earlier level period, locked (the re-qualification job)."""
    return list(
        session.scalars(
            select(PointsAccount)
            .where(PointsAccount.workspace_id == workspace_id, PointsAccount.period_start < period)
            .order_by(PointsAccount.id)
            .limit(limit)
            .with_for_update()
        )
    )


def count_by_level(session: Session, workspace_id: int) -> dict[int, int]:
    rows = session.execute(
        select(PointsAccount.level_rank, func.count())
        .where(PointsAccount.workspace_id == workspace_id)
        .group_by(PointsAccount.level_rank)
    )
    return {int(rank): int(n) for rank, n in rows}


# --- entries ---------------------------------------------------------------------------------


def add_entries(session: Session, rows: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Insert entries whose source key is new; source key → id of those that went in."""
    made = _insert_ignoring(
        session,
        PointsEntry,
        rows,
        ["workspace_id", "source_key"],
        [PointsEntry.source_key, PointsEntry.id],
    )
    return dict(made)


def get_entry_by_source(session: Session, workspace_id: int, source_key: str) -> PointsEntry | None:
    return session.scalar(
        select(PointsEntry).where(
            PointsEntry.workspace_id == workspace_id, PointsEntry.source_key == source_key
        )
    )


def existing_source_keys(session: Session, workspace_id: int, keys: Iterable[str]) -> set[str]:
    wanted = list(set(keys))
    if not wanted:
        return set()
    return set(
        session.scalars(
            select(PointsEntry.source_key).where(
                PointsEntry.workspace_id == workspace_id,
                _among(session, PointsEntry.source_key, wanted),
            )
        )
    )


def clawed_back(session: Session, workspace_id: int, earn_key: str) -> int:
    """Points already taken back (or owed: the shortfall) from the earn with this key."""
    total = session.scalar(
        select(func.coalesce(func.sum(-PointsEntry.amount + PointsEntry.shortfall), 0)).where(
            PointsEntry.workspace_id == workspace_id,
            PointsEntry.related_key == earn_key,
            PointsEntry.kind == EntryKind.clawback,
        )
    )
    return int(total or 0)


def list_entries(
    session: Session,
    workspace_id: int,
    *,
    member_id: int | None = None,
    kind: EntryKind | None = None,
    source: str | None = None,
    nonzero: bool = False,
    limit: int = 50,
    offset: int = 0,
) -> list[PointsEntry]:
    query = select(PointsEntry).where(PointsEntry.workspace_id == workspace_id)
    if member_id is not None:
        query = query.where(PointsEntry.member_id == member_id)
    if kind is not None:
        query = query.where(PointsEntry.kind == kind)
    if source:
        query = query.where(PointsEntry.source_key.startswith(source, autoescape=True))
    if nonzero:
        query = query.where((PointsEntry.amount != 0) | (PointsEntry.shortfall != 0))
    return list(session.scalars(query.order_by(PointsEntry.id.desc()).limit(limit).offset(offset)))


def count_entries(session: Session, workspace_id: int, member_id: int | None = None) -> int:
    query = (
        select(func.count())
        .select_from(PointsEntry)
        .where(PointsEntry.workspace_id == workspace_id)
    )
    if member_id is not None:
        query = query.where(PointsEntry.member_id == member_id)
    return int(session.scalar(query) or 0)


# --- lots ------------------------------------------------------------------------------------


def add_lots(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    _insert(session, PointsLot, rows)


def list_open_lots(session: Session, member_id: int) -> list[PointsLot]:
    return list(
        session.scalars(
            select(PointsLot)
            .where(PointsLot.member_id == member_id, PointsLot.remaining > 0)
            .order_by(PointsLot.expires_at.asc().nulls_last(), PointsLot.id)
        )
    )


def open_lots_for_update(session: Session, member_id: int) -> list[PointsLot]:
    """The member's lots that hold points, first to expire first (never-expiring last)."""
    return list(
        session.scalars(
            select(PointsLot)
            .where(PointsLot.member_id == member_id, PointsLot.remaining > 0)
            .order_by(PointsLot.expires_at.asc().nulls_last(), PointsLot.id)
            .with_for_update()
        )
    )


def members_with_due_lots(
    session: Session, now: datetime, limit: int, workspace_id: int | None = None
) -> list[tuple[int, int]]:
    """(workspace, member) pairs holding lots expired by `now`, about `limit` members: read
    from the first due lots by the partial index of open lots (those expired before leave
    it, so each batch reads only its own)."""
    query = (
        select(PointsLot.workspace_id, PointsLot.member_id)
        .where(PointsLot.remaining > 0, PointsLot.expires_at <= now)
        .order_by(PointsLot.expires_at)
        .limit(limit * 100)
    )
    if workspace_id is not None:
        query = query.where(PointsLot.workspace_id == workspace_id)
    pairs = dict.fromkeys((int(w), int(m)) for w, m in session.execute(query))
    return list(pairs)[:limit]


def expire_lots(session: Session, member_ids: Sequence[int], now: datetime) -> dict[int, int]:
    """Empty the members' lots expired by `now` (their accounts locked by the caller):
    member → points expired."""
    due = and_(
        _among(session, PointsLot.member_id, member_ids),
        PointsLot.remaining > 0,
        PointsLot.expires_at <= now,
    )
    totals = {
        int(m): int(n)
        for m, n in session.execute(
            select(PointsLot.member_id, func.sum(PointsLot.remaining))
            .where(due)
            .group_by(PointsLot.member_id)
        )
    }
    session.execute(
        update(PointsLot)
        .where(due)
        .values(remaining=0)
        .execution_options(synchronize_session=False)
    )
    return totals


def set_balances(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """Write accounts back by id (`{"id", column: value…}`; the rows are locked)."""
    if rows:
        session.execute(update(PointsAccount), [dict(r) for r in rows])


def set_lot_remaining(session: Session, remaining: Mapping[int, int]) -> None:
    if remaining:
        session.execute(
            update(PointsLot), [{"id": lot_id, "remaining": n} for lot_id, n in remaining.items()]
        )


def lots_to_remind(
    session: Session, workspace_id: int, now: datetime, until: datetime, limit: int
) -> list[PointsLot]:
    return list(
        session.scalars(
            select(PointsLot)
            .where(
                PointsLot.workspace_id == workspace_id,
                PointsLot.remaining > 0,
                PointsLot.expires_at > now,
                PointsLot.expires_at <= until,
                PointsLot.reminded_at.is_(None),
            )
            .order_by(PointsLot.member_id, PointsLot.expires_at)
            .limit(limit)
        )
    )


def mark_reminded(session: Session, lot_ids: Sequence[int], now: datetime) -> None:
    if lot_ids:
        session.execute(
            update(PointsLot)
            .where(_among(session, PointsLot.id, lot_ids))
            .values(reminded_at=now)
            .execution_options(synchronize_session=False)
        )


def workspaces_with_policy(session: Session) -> list[int]:
    return [int(w) for w in session.scalars(select(PointsPolicy.workspace_id))]


# --- tallies (caps) --------------------------------------------------------------------------


def tallies(
    session: Session, member_ids: Iterable[int], triggers: Iterable[str], day: date
) -> tuple[dict[tuple[int, str], int], dict[tuple[int, str], int]]:
    """(member, trigger) → points earned on `day`, and in all."""
    members, kinds = list(set(member_ids)), list(set(triggers))
    if not members or not kinds:
        return {}, {}
    today: dict[tuple[int, str], int] = {}
    total: dict[tuple[int, str], int] = {}
    rows = session.execute(
        select(
            PointsTally.member_id,
            PointsTally.trigger,
            func.sum(PointsTally.points),
            func.sum(func.coalesce(PointsTally.points, 0)).filter(PointsTally.day == day),
        )
        .where(
            _among(session, PointsTally.member_id, members),
            _among(session, PointsTally.trigger, kinds),
        )
        .group_by(PointsTally.member_id, PointsTally.trigger)
    )
    for member_id, trigger, all_days, on_day in rows:
        total[(member_id, trigger)] = int(all_days or 0)
        today[(member_id, trigger)] = int(on_day or 0)
    return today, total


def add_to_tallies(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """Add points to (member, trigger, day) tallies, made on first use."""
    if not rows:
        return
    if _pg(session):
        names = ["member_id", "trigger", "day", "points"]
        pg = postgresql.insert(PointsTally).from_select(
            names,
            select(_unnest(PointsTally.__table__, rows, names)),  # type: ignore[arg-type]
        )
        session.execute(
            pg.on_conflict_do_update(
                index_elements=["member_id", "trigger", "day"],
                set_={"points": PointsTally.points + pg.excluded.points},
            )
        )
        return
    for start in range(0, len(rows), SQLITE_CHUNK):
        lite = sqlite.insert(PointsTally).values(
            [dict(r) for r in rows[start : start + SQLITE_CHUNK]]
        )
        session.execute(
            lite.on_conflict_do_update(
                index_elements=["member_id", "trigger", "day"],
                set_={"points": PointsTally.points + lite.excluded.points},
            )
        )


# --- sign-ins --------------------------------------------------------------------------------


def add_signin(session: Session, row: Mapping[str, Any]) -> int | None:
    """The sign-in, unless the member has one that day (then None: nothing written)."""
    made = _insert_ignoring(session, Signin, [row], ["member_id", "day"], [Signin.id])
    return int(made[0][0]) if made else None


def get_signin(session: Session, member_id: int, day: date) -> Signin | None:
    return session.scalar(select(Signin).where(Signin.member_id == member_id, Signin.day == day))


def list_signins(session: Session, member_id: int, start: date, end: date) -> list[Signin]:
    return list(
        session.scalars(
            select(Signin)
            .where(Signin.member_id == member_id, Signin.day >= start, Signin.day <= end)
            .order_by(Signin.day)
        )
    )
