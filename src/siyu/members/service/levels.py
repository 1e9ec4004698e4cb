"""Levels: thresholds of growth value (成长值) per level period, an upgrade as soon as a
member's period growth reaches the next threshold, re-qualification when a period ends (a
member below their level's threshold drops one level, told in advance through reach), and the
benefits a level gives (a points multiplier, member-only content, a coupon pack on upgrade:
`MemberLevelChanged` on the bus, which the coupons subscribe to).

Every change is `member.level_changed` on the member's timeline."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise

from sqlalchemy.orm import Session

from siyu.core import clock
from siyu.core.events import DomainEvent, bus
from siyu.identity import service as identity
from siyu.members import errors
from siyu.members import points_repository as repo
from siyu.members.enums import LevelChange
from siyu.members.models import MemberLevel, PointsAccount
from siyu.members.schemas import LevelIn, LevelRead, MyLevel
from siyu.members.service.policy import beijing_day, get_policy, period_end, period_start
from siyu.security import service as security
from siyu.security.schemas import Principal

REQUALIFY_BATCH = 1000


@dataclass(frozen=True, slots=True)
class MemberLevelChanged(DomainEvent):
    """A member's level changed (published inside the changing transaction). On an upgrade,
    `coupon_pack` names the pack the new level gives (the coupons give it)."""

    workspace_id: int
    member_id: int
    from_rank: int
    to_rank: int
    change: str  # LevelChange
    coupon_pack: str | None
    at: datetime


# --- definitions -----------------------------------------------------------------------------


def list_levels(session: Session, workspace_id: int) -> list[LevelRead]:
    return [LevelRead.model_validate(lv) for lv in repo.list_levels(session, workspace_id)]


def _check_order(levels: Sequence[LevelIn | MemberLevel]) -> None:
    ordered = sorted(levels, key=lambda lv: lv.rank)
    for lower, higher in pairwise(ordered):
        if higher.threshold <= lower.threshold:
            raise errors.INVALID_LEVELS(
                f"rank {higher.rank} needs a threshold above rank {lower.rank}'s "
                f"({lower.threshold})",
                problem=f"{higher.name} ≤ {lower.name}",
            )


def create_level(session: Session, principal: Principal, data: LevelIn) -> LevelRead:
    existing = repo.list_levels(session, principal.workspace_id)
    if any(lv.rank == data.rank for lv in existing):
        raise errors.LEVEL_EXISTS(f"rank {data.rank} exists")
    _check_order([*existing, data])
    row = MemberLevel(
        workspace_id=principal.workspace_id, created_at=clock.now(), **data.model_dump()
    )
    repo.add(session, row)
    _audit(session, principal, "points.level_created", row)
    return LevelRead.model_validate(row)


def update_level(session: Session, principal: Principal, level_id: int, data: LevelIn) -> LevelRead:
    row = repo.get_level(session, principal.workspace_id, level_id)
    if row is None:
        raise errors.LEVEL_NOT_FOUND(f"no level {level_id}")
    others = [lv for lv in repo.list_levels(session, principal.workspace_id) if lv.id != row.id]
    if any(lv.rank == data.rank for lv in others):
        raise errors.LEVEL_EXISTS(f"rank {data.rank} exists")
    _check_order([*others, data])
    for name, value in data.model_dump().items():
        setattr(row, name, value)
    session.flush()
    _audit(session, principal, "points.level_updated", row)
    return LevelRead.model_validate(row)


def delete_level(session: Session, principal: Principal, level_id: int) -> None:
    row = repo.get_level(session, principal.workspace_id, level_id)
    if row is None:
        raise errors.LEVEL_NOT_FOUND(f"no level {level_id}")
    _audit(session, principal, "points.level_deleted", row)
    repo.delete_row(session, row)


def _audit(session: Session, principal: Principal, action: str, row: MemberLevel) -> None:
    security.record_audit(
        session,
        principal,
        action,
        workspace_id=principal.workspace_id,
        target_type="member_level",
        target_id=row.id,
        detail={"rank": row.rank, "threshold": row.threshold, "multiplier": row.multiplier},
    )


def members_by_level(session: Session, workspace_id: int) -> dict[int, int]:
    """Rank → how many members hold it (0: members with points but no level)."""
    return repo.count_by_level(session, workspace_id)


def multipliers(session: Session, workspace_id: int) -> dict[int, int]:
    """Rank → percent of the rules' points (no level: 100)."""
    return {lv.rank: lv.multiplier for lv in repo.list_levels(session, workspace_id)}


# --- changes ---------------------------------------------------------------------------------


def _changed(
    session: Session,
    account: PointsAccount,
    to: MemberLevel | None,
    change: LevelChange,
    now: datetime,
) -> None:
    from_rank, to_rank = account.level_rank, (to.rank if to is not None else 0)
    account.level_rank = to_rank
    account.level_changed_at = now
    identity.record_event(
        session,
        account.workspace_id,
        account.member_id,
        "member.level_changed",
        now,
        props={"from": from_rank, "to": to_rank, "change": change.value},
    )
    bus.publish(
        session,
        MemberLevelChanged(
            account.workspace_id,
            account.member_id,
            from_rank,
            to_rank,
            change.value,
            to.coupon_pack if to is not None and change == LevelChange.upgrade else None,
            now,
        ),
    )


def upgrade_if_due(
    session: Session, workspace_id: int, accounts: Sequence[repo.AccountRow], now: datetime
) -> None:
    """Raise each (locked, written) account to the highest level its period growth reaches,
    at once: one UPDATE and one timeline insert for the batch, then the bus events."""
    levels = repo.list_levels(session, workspace_id)
    if not levels:
        return
    raised: list[tuple[repo.AccountRow, int, MemberLevel]] = []
    for row in accounts:
        reached = [lv for lv in levels if lv.threshold <= row.period_growth]
        if reached and reached[-1].rank > row.level_rank:
            raised.append((row, row.level_rank, reached[-1]))
            row.level_rank = reached[-1].rank
    if not raised:
        return
    repo.set_level_ranks(session, {row.id: level.rank for row, _old, level in raised}, now)
    identity.record_events(
        session,
        [
            identity.NewEvent(
                workspace_id,
                row.member_id,
                "member.level_changed",
                now,
                props={"from": old, "to": level.rank, "change": LevelChange.upgrade.value},
            )
            for row, old, level in raised
        ],
    )
    for row, old, level in raised:
        bus.publish(
            session,
            MemberLevelChanged(
                workspace_id,
                row.member_id,
                old,
                level.rank,
                LevelChange.upgrade.value,
                level.coupon_pack,
                now,
            ),
        )


def requalify(session: Session, workspace_id: int) -> int:
    """Close the level periods that ended: a member whose growth in the period fell short of
    their level's threshold drops one level; every account starts the new period at zero.
    Idempotent (an account is done once per period); returns how many accounts it closed."""
    policy = get_policy(session, workspace_id)
    now = clock.now()
    current = period_start(beijing_day(now), policy.level_period_months)
    levels = repo.list_levels(session, workspace_id)
    by_rank = {lv.rank: lv for lv in levels}
    done = 0
    while True:
        accounts = repo.stale_period_accounts(session, workspace_id, current, REQUALIFY_BATCH)
        if not accounts:
            return done
        for account in accounts:
            level = by_rank.get(account.level_rank)
            if level is not None and account.period_growth < level.threshold:
                lower = [lv for lv in levels if lv.rank < level.rank]
                _changed(session, account, lower[-1] if lower else None, LevelChange.requalify, now)
            account.period_growth = 0
            account.period_start = current
            account.updated_at = now
        session.flush()
        done += len(accounts)


def notify_at_risk(session: Session, workspace_id: int) -> int:
    """Within the policy's notice days before a period ends, tell each member whose period
    growth is below their level's threshold (reach; template data `level`, `needed`,
    `period_end`), once per member and period. Without a template nobody is told."""
    from siyu.reach import service as reach

    policy = get_policy(session, workspace_id)
    if policy.level_notice_template is None:
        return 0
    today = beijing_day(clock.now())
    start = period_start(today, policy.level_period_months)
    end = period_end(start, policy.level_period_months)
    if today < end - timedelta(days=policy.level_notice_days):
        return 0
    levels = {lv.rank: lv for lv in repo.list_levels(session, workspace_id)}
    intents = []
    after = 0
    while True:
        accounts = repo.list_accounts(session, workspace_id, min_rank=1, after_id=after)
        if not accounts:
            break
        after = accounts[-1].id
        for account in accounts:
            level = levels.get(account.level_rank)
            if level is None or account.period_growth >= level.threshold:
                continue
            intents.append(
                reach.Intent(
                    member_id=account.member_id,
                    template_key=policy.level_notice_template,
                    data={
                        "level": level.name,
                        "needed": str(level.threshold - account.period_growth),
                        "period_end": end.isoformat(),
                    },
                    dedupe_key=f"level-risk:{account.member_id}:{end.isoformat()}",
                )
            )
    if intents:
        reach.notify_many(session, workspace_id, intents)
    return len(intents)


def my_level(session: Session, workspace_id: int, member_id: int) -> MyLevel:
    """The member's level, its benefits and their progress towards the next one."""
    policy = get_policy(session, workspace_id)
    start = period_start(beijing_day(clock.now()), policy.level_period_months)
    account = repo.get_account(session, member_id)
    rank = account.level_rank if account is not None else 0
    growth = account.period_growth if account is not None and account.period_start >= start else 0
    levels = repo.list_levels(session, workspace_id)
    current = next((lv for lv in levels if lv.rank == rank), None)
    upper = next((lv for lv in levels if lv.rank > rank), None)
    return MyLevel(
        rank=rank,
        name=current.name if current else None,
        multiplier=current.multiplier if current else 100,
        member_only=current.member_only if current else False,
        period_growth=growth,
        period_start=start,
        period_end=period_end(start, policy.level_period_months),
        next_rank=upper.rank if upper else None,
        next_name=upper.name if upper else None,
        next_threshold=upper.threshold if upper else None,
        to_next=max(upper.threshold - growth, 0) if upper else None,
        keep_threshold=current.threshold if current else None,
    )
