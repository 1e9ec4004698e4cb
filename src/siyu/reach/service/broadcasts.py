"""Broadcasts: a notice to an audience (a tag, the followers of an app, a list), advanced at a
throttled rate by a periodic job; OA mass broadcasts within WeChat's monthly and daily caps.
A broadcast sent now takes its first step at once (a job enqueued after commit), not at the
next minute tick; one scheduled for later waits for the tick."""

from __future__ import annotations

import json
from datetime import datetime, time
from typing import Any

from sqlalchemy.orm import Session

from siyu.core import clock, jobs
from siyu.core.logging import get_logger
from siyu.identity import service as identity
from siyu.reach import errors, repository
from siyu.reach import policy as policies
from siyu.reach.enums import BroadcastStatus, SendStatus
from siyu.reach.models import ReachBroadcast, ReachSend
from siyu.reach.schemas import BroadcastCreate, BroadcastRead
from siyu.reach.service.common import MASS, audit, family_of, month
from siyu.reach.service.preferences import get_policy
from siyu.reach.service.sending import Intent, drop, notify_many, refusal
from siyu.reach.service.templates import check_data, templates_of
from siyu.security.schemas import Principal
from siyu.workspaces import service as workspaces
from siyu.workspaces.enums import AppKind
from siyu.workspaces.schemas import AppRead

log = get_logger(__name__)


def create_broadcast(
    session: Session, workspace_id: int, data: BroadcastCreate, actor: Principal | str
) -> BroadcastRead:
    """A notice to an audience (tag, followers of an app, or a list), sent at `per_minute`."""
    policy = get_policy(session, workspace_id)
    if data.category not in policy.categories:
        raise errors.UNKNOWN_CATEGORY(
            f"unknown category {data.category!r}", categories=data.category
        )
    members, audience, values = _audience_of(session, workspace_id, data)
    if not members:
        raise errors.EMPTY_AUDIENCE("the audience has no member")
    now = clock.now()
    row = ReachBroadcast(
        workspace_id=workspace_id,
        name=data.name,
        template_key=data.template_key or MASS,
        category=data.category,
        urgency=data.urgency,
        data=json.dumps(values, ensure_ascii=False),
        audience=audience,
        member_ids=sorted(members),
        cursor=0,
        per_minute=data.per_minute,
        status=BroadcastStatus.scheduled,
        scheduled_at=data.scheduled_at or now,
        created_by=actor.actor if isinstance(actor, Principal) else actor,
        created_at=now,
    )
    session.add(row)
    session.flush()
    audit(
        session,
        actor,
        "reach.broadcast_create",
        workspace_id,
        ("reach_broadcast", row.id),
        detail={"audience": len(members), "template": data.template_key or MASS},
    )
    if row.scheduled_at <= now:
        # Sent now: its first batch goes at once, once the broadcast is committed; the minute
        # tick (`reach.run_broadcasts`) carries the rest at `per_minute`.
        jobs.enqueue(session, "reach.start_broadcast", row.id)
    return _broadcast_read(session, row)


def _survivors(session: Session, workspace_id: int, member_ids: list[int]) -> set[int]:
    """The members these are now: the ledger stays with the member who followed, so a follower
    merged into another (their OA and MP identities met by UnionID) counts as the survivor,
    who carries the tags (else a mass message to a tag misses every merged follower)."""
    families, erased = identity.member_families(session, workspace_id, member_ids)
    return {families[m][0] for m in member_ids if m in families and m not in erased}


def _audience_of(
    session: Session, workspace_id: int, data: BroadcastCreate
) -> tuple[set[int] | None, dict[str, Any], dict[str, str]]:
    """The members the broadcast reaches, its audience as recorded, and the notice's values;
    each criterion given narrows the audience."""
    members: set[int] | None = None
    audience: dict[str, Any] = {}
    values = dict(data.data)
    if data.mass_appid is not None:
        if data.template_key is not None or not data.mass_text:
            raise errors.INVALID_BROADCAST(
                "a mass broadcast has a text, no template", reason="群发要填写文字，不用模板。"
            )
        app = workspaces.get_app_by_appid(session, data.mass_appid, workspace_id)
        if app.kind == AppKind.oa_subscription:
            _check_subscription_mass(session, workspace_id, app, data)
            # One sendall reaches everyone at once, to all followers or to one OA tag's.
            audience["to_all"] = True
            if data.mass_tag_id is not None:
                audience["oa_tag_id"] = data.mass_tag_id
        elif data.mass_tag_id is not None:
            raise errors.WRONG_APP(
                "a broadcast to an OA tag comes from a subscription account",
                reason="按公众号标签群发只用于订阅号。",
            )
        elif app.kind != AppKind.oa_service:
            raise errors.WRONG_APP(
                "mass broadcasts come from an Official Account", reason="群发只能由公众号发出。"
            )
        members = _survivors(session, workspace_id, repository.list_followers(session, app.id))
        audience["mass"], values = data.mass_appid, {"text": data.mass_text}
    elif data.template_key is None:
        raise errors.INVALID_BROADCAST(
            "name a template, or a mass broadcast's text", reason="请选择模板，或填写群发文字。"
        )
    else:
        check_data(templates_of(session, workspace_id, data.template_key), values)
    if data.tag is not None:
        tagged = set(identity.members_with_tag(session, workspace_id, data.tag))
        members = tagged if members is None else members & tagged
        audience["tag"] = data.tag
    if data.following_appid is not None:
        app = workspaces.get_app_by_appid(session, data.following_appid, workspace_id)
        fans = _survivors(session, workspace_id, repository.list_followers(session, app.id))
        members = fans if members is None else members & fans
        audience["following"] = data.following_appid
    if data.member_ids is not None:
        listed = set(data.member_ids)
        members = listed if members is None else members & listed
        audience["members"] = len(listed)
    return members, audience, values


def _check_subscription_mass(
    session: Session, workspace_id: int, app: AppRead, data: BroadcastCreate
) -> None:
    """A subscription account broadcasts once a day, to all its followers by `sendall` (fact
    sheet §2.6): no list, no tag of ours, and not twice on one Beijing day."""
    # A broadcast to one OA tag names that tag's members (the audience domain knows them).
    by_oa_tag = data.mass_tag_id is not None
    if (
        data.tag is not None
        or data.following_appid is not None
        or (data.member_ids is not None and not by_oa_tag)
    ):
        raise errors.INVALID_BROADCAST(
            "a subscription account broadcasts to all its followers or one OA tag at once: "
            "no siyu tag, no list",
            reason="订阅号一次发给全部关注者或一个公众号标签，不能按 siyu 标签或名单发送。",
        )
    now = clock.now()
    zone = clock.BEIJING
    day_start = datetime.combine(now.astimezone(zone).date(), time(0), tzinfo=zone)
    for audience in repository.list_audiences_since(session, workspace_id, day_start):
        if audience.get("mass") == app.appid and audience.get("to_all"):
            raise errors.DAILY_MASS_USED(
                f"{app.name or app.appid} broadcast today already (once a day); "
                "schedule it for tomorrow",
                app=app.name or app.appid,
            )


def _broadcast(session: Session, workspace_id: int, broadcast_id: int) -> ReachBroadcast:
    row = session.get(ReachBroadcast, broadcast_id, with_for_update=True)
    if row is None or row.workspace_id != workspace_id:
        raise errors.UNKNOWN_BROADCAST(f"no broadcast {broadcast_id}")
    return row


def _broadcast_read(session: Session, row: ReachBroadcast) -> BroadcastRead:
    return BroadcastRead(
        id=row.id,
        name=row.name,
        template_key=row.template_key,
        category=row.category,
        status=row.status,
        audience=row.audience,
        total=len(row.member_ids),
        done=row.cursor,
        per_minute=row.per_minute,
        scheduled_at=row.scheduled_at,
        created_at=row.created_at,
        finished_at=row.finished_at,
        outcomes=repository.count_outcomes(session, row.id),
    )


def get_broadcast(session: Session, workspace_id: int, broadcast_id: int) -> BroadcastRead:
    return _broadcast_read(session, _broadcast(session, workspace_id, broadcast_id))


def list_broadcasts(session: Session, workspace_id: int) -> list[BroadcastRead]:
    return [
        _broadcast_read(session, row) for row in repository.list_broadcasts(session, workspace_id)
    ]


def pause_broadcast(
    session: Session, workspace_id: int, broadcast_id: int, actor: Principal | str, *, pause: bool
) -> BroadcastRead:
    row = _broadcast(session, workspace_id, broadcast_id)
    if row.status == BroadcastStatus.done:
        raise errors.BROADCAST_DONE("the broadcast has finished")
    if pause:
        row.status = BroadcastStatus.paused
    elif row.status == BroadcastStatus.paused:
        row.status = BroadcastStatus.running if row.cursor else BroadcastStatus.scheduled
    session.flush()
    action = "reach.broadcast_pause" if pause else "reach.broadcast_resume"
    audit(session, actor, action, workspace_id, ("reach_broadcast", row.id))
    return _broadcast_read(session, row)


def advance_broadcast(session: Session, broadcast_id: int, limit: int | None = None) -> int:
    """Notify the next members of a running broadcast (at most its per-minute rate)."""
    row = session.get(ReachBroadcast, broadcast_id, with_for_update=True)
    if row is None or row.status not in (BroadcastStatus.scheduled, BroadcastStatus.running):
        return 0
    if row.scheduled_at > clock.now():
        return 0
    row.status = BroadcastStatus.running
    # A sendall reaches every follower in one call: the whole audience at once.
    step = len(row.member_ids) if row.audience.get("to_all") else limit or row.per_minute
    taken = row.member_ids[row.cursor : row.cursor + step]
    data = json.loads(row.data)
    if MASS in row.audience:
        _advance_mass(session, row, taken, data["text"])
    else:
        # One batch: the members' state read once, the sends written in one statement; an
        # erased member is skipped.
        notify_many(
            session,
            row.workspace_id,
            [
                Intent(
                    member_id=member_id,
                    template_key=row.template_key,
                    data=data,
                    category=row.category,
                    urgency=row.urgency,
                    dedupe_key=f"broadcast:{row.id}:{member_id}",
                    broadcast_id=row.id,
                )
                for member_id in taken
            ],
        )
    row.cursor += len(taken)
    if row.cursor >= len(row.member_ids):
        row.status, row.finished_at = BroadcastStatus.done, clock.now()
    session.flush()
    return len(taken)


def start_broadcast(session: Session, broadcast_id: int) -> int:
    """The first step of a broadcast sent now. Nothing when a step was taken already (the minute
    tick came first, or this job ran before) or the broadcast is paused: a job run twice never
    takes a second batch ahead of the tick."""
    row = session.get(ReachBroadcast, broadcast_id, with_for_update=True)
    if row is None or row.status != BroadcastStatus.scheduled or row.cursor:
        return 0
    return advance_broadcast(session, broadcast_id)


def _advance_mass(session: Session, row: ReachBroadcast, batch: list[int], text: str) -> None:
    """One mass call for the batch's followers who still have room this month (4 a month
    for a service account's follower, fact sheet §2.6); the others are dropped, with why."""
    app = workspaces.get_app_by_appid(session, row.audience[MASS], row.workspace_id)
    to_all = bool(row.audience.get("to_all"))
    policy = get_policy(session, row.workspace_id)
    now = clock.now()
    this_month = month(now)
    queued: list[int] = []
    for member_id in batch:
        key = f"broadcast:{row.id}:{member_id}"
        if repository.get_send_by_key(session, row.workspace_id, key) is not None:
            continue  # a tick run twice
        if identity.get_member(session, row.workspace_id, member_id).erased_at is not None:
            continue
        family = family_of(session, row.workspace_id, member_id)
        send = ReachSend(
            workspace_id=row.workspace_id,
            member_id=family[0],
            dedupe_key=key,
            template_key=MASS,
            category=row.category,
            urgency=row.urgency,
            status=SendStatus.held,
            channel=MASS,
            app_id=app.id,
            attempts=0,
            broadcast_id=row.id,
            created_at=now,
        )
        session.add(send)
        session.flush()
        reason = refusal(session, send, policy, family, now)
        fans = [
            r
            for r in repository.list_ledger_rows(session, family)
            if r.app_id == app.id and r.following
        ]
        if reason is None and not fans:
            reason = "not_following"
        if reason is None:
            ledger = fans[0]
            if ledger.mass_month != this_month:
                ledger.mass_month, ledger.mass_count = this_month, 0
            if to_all and app.kind == AppKind.oa_subscription:
                send.status, send.openid = SendStatus.queued, ledger.openid  # no monthly cap
                queued.append(send.id)
            elif ledger.mass_count >= policies.MASS_PER_MONTH:
                reason = "monthly_mass_cap"
            else:
                ledger.mass_count += 1
                send.status, send.openid = SendStatus.queued, ledger.openid
                queued.append(send.id)
        if reason is not None:
            drop(session, send, reason, now)
    session.flush()
    if queued:
        _enqueue_mass(session, row, queued, text, to_all=to_all)


def _enqueue_mass(
    session: Session, row: ReachBroadcast, queued: list[int], text: str, *, to_all: bool
) -> None:
    if to_all and row.audience.get("oa_tag_id") is not None:
        jobs.enqueue(
            session, "reach.deliver_mass_all", row.id, queued, text,
            tag_id=int(row.audience["oa_tag_id"]),
        )  # fmt: skip
    else:
        name = "reach.deliver_mass_all" if to_all else "reach.deliver_mass"
        jobs.enqueue(session, name, row.id, queued, text)


def due_broadcasts(session: Session) -> list[int]:
    return repository.list_due_broadcasts(session, clock.now())
