"""The points ledger: earning by rules (idempotent by source key, capped per day and per
member, multiplied by the member's level), spending from the lots that expire first, refunds
taking back what their payment earned, expiry and its reminder, staff adjustments.

Invariants: an account's balance is the sum of its lots' `remaining` and is never negative
(a CHECK, and spends are `UPDATE … WHERE balance >= n`); every entry has a source key unique
in its workspace, inserted with ON CONFLICT DO NOTHING, so that a source earns, spends or takes
back once whatever the retries; an account is locked (its row) before its lots, by every
writer, so that writers of one member queue and never deadlock.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from siyu.core import clock
from siyu.core.logging import get_logger
from siyu.members import errors
from siyu.members import points_repository as repo
from siyu.members.enums import EarnTrigger, EntryKind, ExpiryMode
from siyu.members.models import PointsPolicy, PointsRule
from siyu.members.schemas import (
    AdjustIn,
    BalanceRead,
    EntryRead,
    PolicyIn,
    PolicyRead,
    RuleIn,
    RuleRead,
)
from siyu.members.service import levels
from siyu.members.service.policy import (
    beijing_day,
    expiry_of,
    get_policy,
    period_start,
    policy_read,
)
from siyu.security import service as security
from siyu.security.schemas import Principal

log = get_logger(__name__)

SYSTEM = "system"
EARN_BATCH = 1000


def set_policy(session: Session, principal: Principal, data: PolicyIn) -> PolicyRead:
    """Set expiry, reminders, sign-in points and level periods (audited)."""
    if data.expiry_mode == ExpiryMode.fixed:
        if data.expiry_fixed_day is None:
            raise errors.INVALID_POLICY(
                "a fixed expiry needs expiry_fixed_day (MM-DD)", problem="固定日期未填写"
            )
        month, dom = (int(p) for p in data.expiry_fixed_day.split("-"))
        if not (1 <= month <= 12 and 1 <= dom <= calendar.monthrange(2024, month)[1]):
            raise errors.INVALID_POLICY(
                f"no such day: {data.expiry_fixed_day}",
                problem=f"没有 {data.expiry_fixed_day} 这一天",
            )
    row = repo.get_policy(session, principal.workspace_id)
    values: dict[str, Any] = data.model_dump()
    values["streak_bonuses"] = {str(k): v for k, v in data.streak_bonuses.items()}
    if row is None:
        row = PointsPolicy(workspace_id=principal.workspace_id, updated_at=clock.now(), **values)
        repo.add(session, row)
    else:
        for name, value in values.items():
            setattr(row, name, value)
        row.updated_at = clock.now()
        session.flush()
    security.record_audit(
        session,
        principal,
        "points.policy_set",
        workspace_id=principal.workspace_id,
        target_type="points_policy",
        target_id=principal.workspace_id,
        detail={"expiry_mode": str(data.expiry_mode), "expiry_months": data.expiry_months},
    )
    return policy_read(row)


# --- rules -----------------------------------------------------------------------------------


def list_rules(session: Session, workspace_id: int) -> list[RuleRead]:
    return [RuleRead.model_validate(r) for r in repo.list_rules(session, workspace_id)]


def create_rule(session: Session, principal: Principal, data: RuleIn) -> RuleRead:
    """One rule per trigger: what it earns, its growth value and its caps (audited)."""
    if repo.get_rule_by_trigger(session, principal.workspace_id, data.trigger) is not None:
        raise errors.RULE_EXISTS(f"trigger {data.trigger} already has a rule")
    now = clock.now()
    row = PointsRule(
        workspace_id=principal.workspace_id, created_at=now, updated_at=now, **data.model_dump()
    )
    repo.add(session, row)
    _audit_rule(session, principal, "points.rule_created", row)
    return RuleRead.model_validate(row)


def update_rule(session: Session, principal: Principal, rule_id: int, data: RuleIn) -> RuleRead:
    row = repo.get_rule(session, principal.workspace_id, rule_id)
    if row is None:
        raise errors.RULE_NOT_FOUND(f"no rule {rule_id}")
    other = repo.get_rule_by_trigger(session, principal.workspace_id, data.trigger)
    if other is not None and other.id != row.id:
        raise errors.RULE_EXISTS(f"trigger {data.trigger} already has a rule")
    for name, value in data.model_dump().items():
        setattr(row, name, value)
    row.updated_at = clock.now()
    session.flush()
    _audit_rule(session, principal, "points.rule_updated", row)
    return RuleRead.model_validate(row)


def delete_rule(session: Session, principal: Principal, rule_id: int) -> None:
    row = repo.get_rule(session, principal.workspace_id, rule_id)
    if row is None:
        raise errors.RULE_NOT_FOUND(f"no rule {rule_id}")
    _audit_rule(session, principal, "points.rule_deleted", row)
    repo.delete_row(session, row)


def _audit_rule(session: Session, principal: Principal, action: str, row: PointsRule) -> None:
    security.record_audit(
        session,
        principal,
        action,
        workspace_id=principal.workspace_id,
        target_type="points_rule",
        target_id=row.id,
        detail={"trigger": str(row.trigger), "points": row.points, "growth": row.growth},
    )


# --- earning ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Earn:
    """One event that may earn points by its trigger's rule.

    `units` multiplies the rule (yuan paid); `points`/`growth`, when given, replace the rule's
    (a sign-in's points come from the policy) while its caps still apply; without a rule only
    an explicit `points` earns. `source_key` is unique in the workspace: the same source never
    earns twice."""

    member_id: int
    trigger: EarnTrigger
    source_key: str
    units: int = 1
    points: int | None = None
    growth: int | None = None
    at: datetime | None = None
    actor: str = SYSTEM
    reason: str | None = None


@dataclass
class Earned:
    member_id: int
    source_key: str
    points: int
    growth: int
    capped: bool
    duplicate: bool
    balance: int = 0


@dataclass
class _Plan:
    earn: Earn
    points: int = 0
    growth: int = 0
    capped: bool = False
    stored: bool = False  # its entry went in (not a source another writer stored first)


@dataclass
class _Batch:
    workspace_id: int
    now: datetime
    policy: PolicyRead
    today: date
    accounts: dict[int, repo.AccountRow]
    plans: list[_Plan | None]

    @property
    def live(self) -> list[_Plan]:
        return [p for p in self.plans if p is not None]


def earn(session: Session, workspace_id: int, item: Earn) -> Earned:
    """One event's points (a batch of one of `earn_many`)."""
    return earn_many(session, workspace_id, [item])[0]


def earn_many(session: Session, workspace_id: int, items: Sequence[Earn]) -> list[Earned]:
    """Earn points for a batch of events in a few set-based statements: accounts made and
    locked (id order), caps read from the day's tallies, entries inserted ON CONFLICT DO
    NOTHING (a source already stored earns nothing), lots, tallies and balances written,
    upgrades applied. Returns one result per event, in order."""
    if not items:
        return []
    batch = _open_batch(session, workspace_id, items)
    _apply_rules(session, batch)
    _write(session, batch)
    results: list[Earned] = []
    for item, plan in zip(items, batch.plans, strict=True):
        if plan is None or not plan.stored:
            results.append(Earned(item.member_id, item.source_key, 0, 0, False, True))
            continue
        balance = batch.accounts[item.member_id].balance
        results.append(
            Earned(
                item.member_id, item.source_key, plan.points, plan.growth, plan.capped, False,
                balance,
            )
        )  # fmt: skip
    return results


def _open_batch(session: Session, workspace_id: int, items: Sequence[Earn]) -> _Batch:
    """The batch's new sources (those stored already, or twice in it, earn nothing), and its
    members' accounts, made if need be and locked."""
    now = clock.now()
    policy = get_policy(session, workspace_id)
    today = beijing_day(now)
    stored = repo.existing_source_keys(session, workspace_id, (i.source_key for i in items))
    seen: set[str] = set()
    plans: list[_Plan | None] = []
    for item in items:
        fresh = item.source_key not in stored and item.source_key not in seen
        seen.add(item.source_key)
        plans.append(_Plan(item) if fresh else None)
    members = {p.earn.member_id for p in plans if p is not None}
    period = period_start(today, policy.level_period_months)
    repo.add_accounts(session, workspace_id, members, now, period)
    accounts = repo.lock_account_rows(session, members)
    return _Batch(workspace_id, now, policy, today, accounts, plans)


def _apply_rules(session: Session, batch: _Batch) -> None:
    """Each plan's points and growth: the rule's (or the event's own), times the level's
    multiplier, within the day's and the member's caps (read from the tallies)."""
    rules = {r.trigger: r for r in repo.list_rules(session, batch.workspace_id) if r.active}
    multipliers = levels.multipliers(session, batch.workspace_id)
    live = batch.live
    on_day, in_all = repo.tallies(
        session,
        {p.earn.member_id for p in live},
        {str(p.earn.trigger) for p in live},
        batch.today,
    )
    for plan in live:
        item, rule = plan.earn, rules.get(plan.earn.trigger)
        if rule is None:
            plan.points = max(item.points or 0, 0)
            plan.growth = max(item.growth or 0, 0)
            continue
        units = max(item.units, 0)
        base = item.points if item.points is not None else rule.points * units
        plan.growth = item.growth if item.growth is not None else rule.growth * units
        rank = batch.accounts[item.member_id].level_rank
        wanted = base * multipliers.get(rank, 100) // 100
        key = (item.member_id, str(item.trigger))
        room = wanted
        if rule.daily_cap is not None:
            room = min(room, rule.daily_cap - on_day.get(key, 0))
        if rule.member_cap is not None:
            room = min(room, rule.member_cap - in_all.get(key, 0))
        plan.points = max(room, 0)
        plan.capped = plan.points < wanted
        on_day[key] = on_day.get(key, 0) + plan.points
        in_all[key] = in_all.get(key, 0) + plan.points


def _write(session: Session, batch: _Batch) -> None:
    """Entries (ON CONFLICT DO NOTHING), then for those that went in: lots, tallies, the
    accounts' balances and growth, and the upgrades the growth reached."""
    live = [p for p in batch.live if p.points > 0 or p.growth > 0 or p.capped]
    rows = [
        _entry_row(
            batch.workspace_id, p.earn.member_id, EntryKind.earn, p.points, p.earn.source_key,
            actor=p.earn.actor, now=p.earn.at or batch.now, growth=p.growth,
            trigger=str(p.earn.trigger), reason=p.earn.reason or ("capped" if p.capped else None),
        )
        for p in live
    ]  # fmt: skip
    made = repo.add_entries(session, rows)
    lots: dict[datetime, list[int]] = defaultdict(list)
    tally: dict[tuple[int, str], int] = defaultdict(int)
    grown: set[int] = set()
    touched: dict[int, repo.AccountRow] = {}
    for plan in live:
        entry_id = made.get(plan.earn.source_key)
        if entry_id is None:
            continue  # a concurrent writer stored the same source first
        plan.stored = True
        item = plan.earn
        account = touched[item.member_id] = batch.accounts[item.member_id]
        if plan.points > 0:
            lots[item.at or batch.now].append(entry_id)
            tally[(item.member_id, str(item.trigger))] += plan.points
            account.balance += plan.points
            account.earned += plan.points
        if plan.growth > 0:
            account.growth += plan.growth
            account.period_growth += plan.growth
            grown.add(item.member_id)
    for quiet in batch.plans:
        if quiet is not None and not quiet.stored and quiet not in live:
            quiet.stored = True  # nothing to write (no rule, nothing given): not a duplicate
    for at, entry_ids in lots.items():
        repo.add_lots_of_entries(session, entry_ids, at, expiry_of(batch.policy, at))
    repo.add_to_tallies(
        session,
        [
            {"member_id": m, "trigger": t, "day": batch.today, "points": n}
            for (m, t), n in tally.items()
        ],
    )
    repo.write_account_rows(session, list(touched.values()), batch.now)
    if grown:
        levels.upgrade_if_due(
            session, batch.workspace_id, [batch.accounts[m] for m in grown], batch.now
        )


def _lot_row(
    workspace_id: int,
    member_id: int,
    entry_id: int,
    points: int,
    at: datetime,
    *,
    policy: PolicyRead,
) -> dict[str, Any]:
    return {
        "workspace_id": workspace_id,
        "member_id": member_id,
        "entry_id": entry_id,
        "amount": points,
        "remaining": points,
        "earned_at": at,
        "expires_at": expiry_of(policy, at),
        "reminded_at": None,
    }


# --- spending --------------------------------------------------------------------------------


def _take_from_lots(session: Session, member_id: int, amount: int) -> int:
    """Take `amount` from the member's lots, first to expire first (the account is locked)."""
    left = amount
    changed: dict[int, int] = {}
    for lot in repo.open_lots_for_update(session, member_id):
        if left <= 0:
            break
        take = min(lot.remaining, left)
        changed[lot.id] = lot.remaining - take
        left -= take
    repo.set_lot_remaining(session, changed)
    if left:
        log.error("points_lots_short", member_id=member_id, short=left)
    return amount - left


def spend_points(
    session: Session,
    member_id: int,
    amount: int,
    source_key: str,
    *,
    reason: str | None = None,
    actor: str = SYSTEM,
) -> EntryRead:
    """Spend `amount` points of the member's (a points-mall exchange, say), once per
    `source_key`: asked again with the same key and amount, the first spend is returned.

    Atomic and safe under concurrency: the balance is taken by one `UPDATE … WHERE balance >=
    amount` (which locks the account: concurrent spends queue and each sees the balance the
    previous one left), then the lots that expire first give the points. Not enough points:
    `members.insufficient_points` (409), nothing written."""
    if amount <= 0:
        raise errors.INVALID_AMOUNT(f"cannot spend {amount} points")
    account = repo.get_account(session, member_id)
    if account is None:
        raise errors.INSUFFICIENT_POINTS(
            f"member {member_id} has 0 points, {amount} needed", balance=0, amount=amount
        )
    workspace_id = account.workspace_id
    existing = repo.get_entry_by_source(session, workspace_id, source_key)
    if existing is not None:
        return _replayed(existing, member_id, EntryKind.spend, -amount)
    now = clock.now()
    if not repo.debit(session, member_id, amount, now):
        session.refresh(account)
        raise errors.INSUFFICIENT_POINTS(
            f"member {member_id} has {account.balance} points, {amount} needed",
            balance=account.balance,
            amount=amount,
        )
    made = repo.add_entries(
        session,
        [
            _entry_row(
                workspace_id,
                member_id,
                EntryKind.spend,
                -amount,
                source_key,
                actor=actor,
                now=now,
                reason=reason,
            )
        ],
    )
    if source_key not in made:
        # A concurrent spend with this key went first: give the points back, answer as it did.
        repo.credit(session, member_id, amount, now)
        session.flush()
        entry = repo.get_entry_by_source(session, workspace_id, source_key)
        assert entry is not None
        return _replayed(entry, member_id, EntryKind.spend, -amount)
    _take_from_lots(session, member_id, amount)
    session.flush()
    entry = repo.get_entry_by_source(session, workspace_id, source_key)
    assert entry is not None
    return EntryRead.model_validate(entry)


def _replayed(entry: Any, member_id: int, kind: EntryKind, amount: int) -> EntryRead:
    if entry.member_id != member_id or entry.kind != kind or entry.amount != amount:
        raise errors.SOURCE_KEY_REUSED(f"source key {entry.source_key} is another entry's")
    return EntryRead.model_validate(entry)


def _entry_row(
    workspace_id: int,
    member_id: int,
    kind: EntryKind,
    amount: int,
    source_key: str,
    *,
    actor: str,
    now: datetime,
    reason: str | None = None,
    related_key: str | None = None,
    shortfall: int = 0,
    growth: int = 0,
    trigger: str | None = None,
) -> dict[str, Any]:
    return {
        "workspace_id": workspace_id,
        "member_id": member_id,
        "kind": kind.value,
        "amount": amount,
        "growth": growth,
        "trigger": trigger,
        "source_key": source_key,
        "related_key": related_key,
        "shortfall": shortfall,
        "reason": reason,
        "actor": actor[:64],
        "created_at": now,
    }


# --- refunds take back -----------------------------------------------------------------------


def claw_back(
    session: Session,
    workspace_id: int,
    earn_key: str,
    source_key: str,
    *,
    refunded: int,
    paid: int,
    actor: str = SYSTEM,
) -> EntryRead | None:
    """Take back the share `refunded / paid` of what the entry `earn_key` earned (all of it for
    a full refund, never more in all), down to a zero balance; what the balance could not give
    is recorded as the entry's shortfall. Once per `source_key` (the refund)."""
    earned = repo.get_entry_by_source(session, workspace_id, earn_key)
    if earned is None or earned.kind != EntryKind.earn or paid <= 0:
        return None
    if repo.get_entry_by_source(session, workspace_id, source_key) is not None:
        return None
    accounts = repo.lock_accounts(session, [earned.member_id])
    account = accounts[earned.member_id]
    already = repo.clawed_back(session, workspace_id, earn_key)
    share = min(earned.amount, earned.amount * min(refunded, paid) // paid)
    if refunded >= paid:
        share = earned.amount
    want = max(0, min(share, earned.amount - already))
    growth_back = min(account.growth, earned.growth * min(refunded, paid) // paid)
    taken = min(want, account.balance)
    now = clock.now()
    made = repo.add_entries(
        session,
        [
            _entry_row(
                workspace_id,
                earned.member_id,
                EntryKind.clawback,
                -taken,
                source_key,
                actor=actor,
                now=now,
                related_key=earn_key,
                shortfall=want - taken,
                growth=-growth_back,
                trigger=earned.trigger,
                reason="refund",
            )
        ],
    )
    if source_key not in made:
        return None
    if taken:
        _take_from_lots(session, earned.member_id, taken)
    account.balance -= taken
    account.earned -= taken
    account.growth -= growth_back
    account.period_growth = max(0, account.period_growth - growth_back)
    account.updated_at = now
    session.flush()
    entry = repo.get_entry_by_source(session, workspace_id, source_key)
    return None if entry is None else EntryRead.model_validate(entry)


# --- staff adjustments -----------------------------------------------------------------------


def adjust(
    session: Session, principal: Principal, member_id: int, amount: int, reason: str, *, key: str
) -> EntryRead:
    """A staff grant (positive, a lot under the expiry policy) or deduction (negative, from the
    lots that expire first), with its reason, audited. `key` makes a double submit one entry."""
    reason = reason.strip()
    if not reason:
        raise errors.REASON_REQUIRED("an adjustment needs a reason")
    if amount == 0:
        raise errors.INVALID_AMOUNT("an adjustment of 0 points changes nothing")
    workspace_id = principal.workspace_id
    source_key = f"adjust:{key}"
    existing = repo.get_entry_by_source(session, workspace_id, source_key)
    if existing is not None:
        return _replayed(existing, member_id, EntryKind.adjust, amount)
    now = clock.now()
    actor = f"operator:{principal.operator_id}"
    policy = get_policy(session, workspace_id)
    repo.add_accounts(
        session,
        workspace_id,
        [member_id],
        now,
        period_start(beijing_day(now), policy.level_period_months),
    )
    account = repo.lock_accounts(session, [member_id])[member_id]
    if amount < 0 and account.balance < -amount:
        raise errors.ADJUST_BELOW_ZERO(
            f"the balance is {account.balance}: cannot deduct {-amount}", balance=account.balance
        )
    made = repo.add_entries(
        session,
        [
            _entry_row(
                workspace_id,
                member_id,
                EntryKind.adjust,
                amount,
                source_key,
                actor=actor,
                now=now,
                reason=reason,
            )
        ],
    )
    entry_id = made[source_key]
    if amount > 0:
        repo.add_lots(
            session,
            [
                {
                    "workspace_id": workspace_id,
                    "member_id": member_id,
                    "entry_id": entry_id,
                    "amount": amount,
                    "remaining": amount,
                    "earned_at": now,
                    "expires_at": expiry_of(policy, now),
                    "reminded_at": None,
                }
            ],
        )
    else:
        _take_from_lots(session, member_id, -amount)
    account.balance += amount
    account.updated_at = now
    session.flush()
    security.record_audit(
        session,
        principal,
        "points.adjusted",
        workspace_id=workspace_id,
        target_type="member",
        target_id=member_id,
        detail={"amount": amount, "entry_id": entry_id, "balance": account.balance},
    )
    entry = repo.get_entry_by_source(session, workspace_id, source_key)
    assert entry is not None
    return EntryRead.model_validate(entry)


def adjust_by_number(session: Session, principal: Principal, data: AdjustIn, key: str) -> EntryRead:
    """`adjust` for a member named by number (the API, the console and the CLI)."""
    from siyu.identity import service as identity

    member = identity.get_member_by_number(session, principal.workspace_id, data.member_number)
    identity.ensure_member_visible(session, principal, member.id)
    return adjust(session, principal, member.id, data.amount, data.reason, key=key)


# --- expiry and reminders --------------------------------------------------------------------


@dataclass
class ExpiryRun:
    members: int = 0
    points: int = 0


def expire_due(
    session: Session, *, limit: int = 2000, workspace_id: int | None = None
) -> ExpiryRun:
    """Expire the lots due by now of up to `limit` members: their accounts locked first (as
    every writer does), their due lots emptied in one statement, one `expire` entry per member
    and day written, balances lowered. Call again until it returns no member."""
    now = clock.now()
    pairs = repo.members_with_due_lots(session, now, limit, workspace_id)
    run = ExpiryRun()
    if not pairs:
        return run
    workspace_of = {m: w for w, m in pairs}
    accounts = repo.lock_accounts(session, workspace_of)
    expired = repo.expire_lots(session, list(workspace_of), now)
    day = beijing_day(now).isoformat()
    rows = []
    balances = []
    for member_id, points in expired.items():
        account = accounts[member_id]
        taken = min(points, account.balance)
        rows.append(
            _entry_row(
                workspace_of[member_id],
                member_id,
                EntryKind.expire,
                -taken,
                f"expire:{member_id}:{day}:{now.strftime('%H%M%S%f')}",
                actor=SYSTEM,
                now=now,
            )
        )
        balances.append({"id": account.id, "balance": account.balance - taken, "updated_at": now})
        run.points += taken
    by_workspace: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_workspace[row["workspace_id"]].append(row)
    for ws_rows in by_workspace.values():
        repo.add_entries(session, ws_rows)
    repo.set_balances(session, balances)
    session.expire_all()
    run.members = len(expired)
    return run


@dataclass(frozen=True)
class Reminder:
    member_id: int
    points: int
    expires_at: datetime
    lot_ids: list[int]


def due_reminders(session: Session, workspace_id: int, limit: int = 5000) -> list[Reminder]:
    """Members whose points expire within the policy's reminder window and were not told."""
    policy = get_policy(session, workspace_id)
    now = clock.now()
    until = now + timedelta(days=policy.reminder_days)
    grouped: dict[int, Reminder] = {}
    for lot in repo.lots_to_remind(session, workspace_id, now, until, limit):
        assert lot.expires_at is not None
        found = grouped.get(lot.member_id)
        if found is None:
            grouped[lot.member_id] = Reminder(
                lot.member_id, lot.remaining, lot.expires_at, [lot.id]
            )
        else:
            grouped[lot.member_id] = Reminder(
                lot.member_id,
                found.points + lot.remaining,
                min(found.expires_at, lot.expires_at),
                [*found.lot_ids, lot.id],
            )
    return list(grouped.values())


def remind_expiring(session: Session, workspace_id: int) -> int:
    """Tell each member whose points expire soon, through reach (the policy's template; data
    `points` and `expires_on`), once per lot. Without a template nobody is told."""
    from siyu.reach import service as reach

    policy = get_policy(session, workspace_id)
    if policy.reminder_template is None:
        return 0
    reminders = due_reminders(session, workspace_id)
    if not reminders:
        return 0
    intents = [
        reach.Intent(
            member_id=r.member_id,
            template_key=policy.reminder_template,
            data={
                "points": str(r.points),
                "expires_on": beijing_day(r.expires_at - timedelta(seconds=1)).isoformat(),
            },
            dedupe_key=f"points-expiry:{r.member_id}:{r.expires_at.date().isoformat()}",
        )
        for r in reminders
    ]
    reach.notify_many(session, workspace_id, intents)
    repo.mark_reminded(session, [lot for r in reminders for lot in r.lot_ids], clock.now())
    return len(reminders)


# --- reading ---------------------------------------------------------------------------------


def balance_of(session: Session, workspace_id: int, member_id: int) -> BalanceRead:
    account = repo.get_account(session, member_id)
    names = {lv.rank: lv.name for lv in repo.list_levels(session, workspace_id)}
    reminders = due_reminders_all(session, workspace_id, member_id)
    soon = sum(r.points for r in reminders)
    at = min((r.expires_at for r in reminders), default=None)
    if account is None or account.workspace_id != workspace_id:
        return BalanceRead(
            member_id=member_id, balance=0, earned=0, growth=0, period_growth=0,
            level_rank=0, level_name=None,
        )  # fmt: skip
    return BalanceRead(
        member_id=member_id,
        balance=account.balance,
        earned=account.earned,
        growth=account.growth,
        period_growth=account.period_growth,
        level_rank=account.level_rank,
        level_name=names.get(account.level_rank),
        expiring_soon=soon,
        expiring_at=at,
    )


def due_reminders_all(session: Session, workspace_id: int, member_id: int) -> list[Reminder]:
    """The member's lots expiring within the reminder window, told or not."""
    policy = get_policy(session, workspace_id)
    now = clock.now()
    until = now + timedelta(days=max(policy.reminder_days, 1))
    lots = [
        lot
        for lot in repo.list_open_lots(session, member_id)
        if lot.expires_at is not None and now < lot.expires_at <= until
    ]
    return [
        Reminder(member_id, lot.remaining, lot.expires_at, [lot.id])
        for lot in lots
        if lot.expires_at
    ]


def ledger(
    session: Session,
    workspace_id: int,
    *,
    member_id: int | None = None,
    kind: EntryKind | None = None,
    source: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[EntryRead]:
    """Ledger entries, newest first (search by member, kind, source key prefix)."""
    rows = repo.list_entries(
        session,
        workspace_id,
        member_id=member_id,
        kind=kind,
        source=source,
        limit=limit,
        offset=offset,
    )
    return [EntryRead.model_validate(r) for r in rows]
