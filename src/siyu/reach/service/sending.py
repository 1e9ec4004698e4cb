"""Send by intent: the policy picks the channel the ledger allows, or the notice is held (with
an expiry) or dropped, and the reason recorded; held notices are decided again later.

Notices are decided in batches (one notice is a batch of one): the member's family,
preferences, consent, caps and ledger are read once per batch in set-based queries, the batch
is decided in memory (each notice sees what the ones before it in the batch spent), the quota
is reserved with conditional updates (a notice that lost a race for the last credit is decided
again), and the sends are written in one statement."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from siyu.core import clock, jobs
from siyu.core.errors import SiyuError
from siyu.core.logging import get_logger
from siyu.identity import service as identity
from siyu.reach import errors, repository
from siyu.reach import policy as policies
from siyu.reach.enums import SendStatus, TemplateKind
from siyu.reach.models import ReachLedger, ReachSend, ReachTemplate
from siyu.reach.schemas import SendRead
from siyu.reach.service.common import CHANNEL_OF_KIND, audit, timeline, window_until
from siyu.reach.service.preferences import get_policy
from siyu.reach.service.templates import check_data, templates_of
from siyu.security.schemas import Principal

log = get_logger(__name__)
# Queued sends go to delivery jobs in lists this long: one job claims them in one statement
# and calls WeChat for them concurrently.
DELIVERY_BATCH = 100
# Larger lists are decided in batches this long (bounded IN lists and memory).
NOTIFY_BATCH = 1000
# A notice that loses the race for a credit or a window message is decided again with fresh
# reads; each round some notice wins, so a few rounds settle any batch.
MAX_ROUNDS = 5


@dataclass(frozen=True)
class Intent:
    member_id: int
    template_key: str
    data: dict[str, str]
    category: str = "service"
    urgency: str = "normal"
    dedupe_key: str | None = None
    broadcast_id: int | None = None


def default_dedupe_key(intent: Intent) -> str:
    """The same notice (member, template, category, data) asked twice is one send."""
    blob = json.dumps(
        [intent.member_id, intent.template_key, intent.category, intent.data],
        sort_keys=True,
        ensure_ascii=False,
    )
    return "auto:" + hashlib.sha256(blob.encode()).hexdigest()[:40]


def notify(
    session: Session, workspace_id: int, intent: Intent, actor: Principal | str = "system"
) -> SendRead:
    """Send a notice by intent: the policy picks the channel the ledger allows, or the notice
    is held (with an expiry) or dropped, and the reason recorded. Bad input writes nothing."""
    policy = get_policy(session, workspace_id)
    _check(session, workspace_id, policy, [intent])
    families, erased = identity.member_families(session, workspace_id, [intent.member_id])
    if intent.member_id not in families:
        identity.get_member(session, workspace_id, intent.member_id)  # raises: not found
    if intent.member_id in erased:
        raise errors.MEMBER_ERASED(f"member {intent.member_id} was erased")
    read = _notify_batch(session, workspace_id, policy, [intent], families)[0]
    if not isinstance(actor, str) or actor != "system":
        audit(
            session,
            actor,
            "reach.notify",
            workspace_id,
            ("member", read.member_id),
            detail={
                "send_id": read.id,
                "template": intent.template_key,
                "status": str(read.status),
            },
        )
    return read


def notify_many(
    session: Session,
    workspace_id: int,
    intents: Sequence[Intent],
    actor: Principal | str = "system",
) -> list[SendRead | None]:
    """Notify a list of members (a segment, a tag, a broadcast's next members) in one batch,
    deciding as `notify` would one by one. Bad input (category, template, data) refuses the
    whole batch; an erased or unknown member is skipped (None in its place)."""
    policy = get_policy(session, workspace_id)
    _check(session, workspace_id, policy, intents)
    result: list[SendRead | None] = []
    skipped = 0
    for start in range(0, len(intents), NOTIFY_BATCH):
        chunk = intents[start : start + NOTIFY_BATCH]
        families, erased = identity.member_families(
            session, workspace_id, {i.member_id for i in chunk}
        )
        kept = [i for i in chunk if i.member_id in families and i.member_id not in erased]
        skipped += len(chunk) - len(kept)
        reads = iter(_notify_batch(session, workspace_id, policy, kept, families))
        result += [
            next(reads) if i.member_id in families and i.member_id not in erased else None
            for i in chunk
        ]
    if skipped:
        log.info("notify_members_skipped", skipped=skipped)
    if not isinstance(actor, str) or actor != "system":
        audit(
            session,
            actor,
            "reach.notify_many",
            workspace_id,
            ("workspace", workspace_id),
            detail={"notices": len(intents), "skipped": skipped},
        )
    return result


def _check(
    session: Session, workspace_id: int, policy: policies.Policy, intents: Sequence[Intent]
) -> None:
    """Refuse bad input before anything is written: each (template, data) checked once."""
    checked: set[tuple[str, str]] = set()
    for intent in intents:
        if intent.category not in policy.categories:
            raise errors.UNKNOWN_CATEGORY(
                f"unknown category {intent.category!r}", categories=intent.category
            )
        key = (intent.template_key, json.dumps(intent.data, sort_keys=True, ensure_ascii=False))
        if key not in checked:
            check_data(templates_of(session, workspace_id, intent.template_key), intent.data)
            checked.add(key)


@dataclass
class _Pending:
    """One send being decided: what it asks, then what was decided for it."""

    send_id: int
    member_id: int  # the send's member (its timeline)
    family: list[int]  # survivor first: the batch's state is kept per survivor
    template_key: str
    category: str
    urgency: str
    created_at: datetime
    status: SendStatus = SendStatus.held
    channel: str | None = None
    reason: str | None = None
    app_id: int | None = None
    template_row_id: int | None = None
    openid: str | None = None
    hold_until: datetime | None = None
    finished_at: datetime | None = None
    taken: tuple[str, int] | None = None  # ("credit" | "window", row id) reserved

    def row(self) -> dict[str, Any]:
        return {
            "id": self.send_id,
            "status": self.status,
            "channel": self.channel,
            "reason": self.reason,
            "app_id": self.app_id,
            "template_row_id": self.template_row_id,
            "openid": self.openid,
            "hold_until": self.hold_until,
            "finished_at": self.finished_at,
        }


def _notify_batch(
    session: Session,
    workspace_id: int,
    policy: policies.Policy,
    intents: Sequence[Intent],
    families: dict[int, list[int]],
) -> list[SendRead]:
    """Decide the batch's new notices (a dedupe key seen before keeps its send), write them
    in one statement, and answer each intent's send in order."""
    now = clock.now()
    keys = [i.dedupe_key or default_dedupe_key(i) for i in intents]
    found = {s["dedupe_key"]: s for s in repository.list_sends_by_keys(session, workspace_id, keys)}
    asked: dict[str, tuple[Intent, _Pending]] = {}
    for intent, key in zip(intents, keys, strict=True):
        if key in found or key in asked:
            continue  # asked before, or twice in this batch: one send
        family = families[intent.member_id]
        send = _Pending(
            send_id=0,
            member_id=family[0],
            family=family,
            template_key=intent.template_key,
            category=intent.category,
            urgency=intent.urgency,
            created_at=now,
        )
        asked[key] = (intent, send)
    pending = [send for _intent, send in asked.values()]
    settle(session, workspace_id, policy, pending, now)
    rows = [
        {
            **send.row(),
            "workspace_id": workspace_id,
            "member_id": send.member_id,
            "dedupe_key": key,
            "template_key": send.template_key,
            "category": send.category,
            "urgency": send.urgency,
            "data": json.dumps(intent.data, ensure_ascii=False),
            "attempts": 0,
            "broadcast_id": intent.broadcast_id,
            "created_at": now,
        }
        for key, (intent, send) in asked.items()
    ]
    for row in rows:
        del row["id"]
    inserted = repository.add_sends(session, rows)
    raced = [key for key in asked if key not in inserted]
    if raced:  # the same notice, asked at the same moment elsewhere: that one stands
        _release(session, [asked[key][1] for key in raced], now)
        found.update(
            (s["dedupe_key"], s)
            for s in repository.list_sends_by_keys(session, workspace_id, raced)
        )
    mine = []
    for key, send_id in inserted.items():
        intent, send = asked[key]
        send.send_id = send_id
        mine.append(send)
        found[key] = {
            **send.row(),
            "member_id": send.member_id,
            "dedupe_key": key,
            "template_key": send.template_key,
            "category": send.category,
            "urgency": send.urgency,
            "errcode": None,
            "attempts": 0,
            "broadcast_id": intent.broadcast_id,
            "created_at": now,
            "sent_at": None,
        }
    announce(session, workspace_id, mine, now)
    return [SendRead.model_validate(found[key]) for key in keys]


@dataclass
class _State:
    """What a batch reads once: preferences, consent, caps and the ledger of its families."""

    dnc: set[int] = field(default_factory=set)
    muted: dict[int, set[str]] = field(default_factory=dict)
    consenting: set[int] = field(default_factory=set)
    recent: dict[tuple[int, str], int] = field(default_factory=dict)  # (survivor, category)
    ledger: dict[int, list[ReachLedger]] = field(default_factory=dict)  # survivor → rows
    # survivor → [credit id, app, template id, left], id order
    credits: dict[int, list[list[Any]]] = field(default_factory=dict)
    windows_used: dict[int, int] = field(default_factory=dict)  # ledger id → used


def _load(
    session: Session,
    policy: policies.Policy,
    pending: Sequence[_Pending],
    forms: Sequence[ReachTemplate],
    now: datetime,
) -> _State:
    state = _State()
    survivors = {p.family[0]: p.family for p in pending}
    owner = {m: top for top, family in survivors.items() for m in family}
    everyone = list(owner)
    for member_id, dnc, muted in repository.list_preference_flags(session, everyone):
        if dnc:
            state.dnc.add(owner[member_id])
        state.muted.setdefault(owner[member_id], set()).update(muted)
    if any(p.category in policy.consent_required for p in pending):
        state.consenting = identity.families_consenting(session, survivors, "marketing")
    for category in {p.category for p in pending} & set(policy.caps):
        since = now - timedelta(hours=policy.caps[category].hours)
        for member_id, count in repository.count_recent_by_member(
            session, everyone, category, since
        ).items():
            key = (owner[member_id], category)
            state.recent[key] = state.recent.get(key, 0) + count
    app_ids = sorted({t.app_id for t in forms})
    for row in repository.list_ledger_for_apps(session, everyone, app_ids):
        state.ledger.setdefault(owner[row.member_id], []).append(row)
        state.windows_used[row.id] = row.window_used
    pairs = sorted(
        {(t.app_id, t.template_id) for t in forms if t.kind == TemplateKind.mp_subscribe}
    )
    for credit_id, member_id, app_id, template_id, left in repository.list_open_credits(
        session, everyone, pairs
    ):
        state.credits.setdefault(owner[member_id], []).append(
            [credit_id, app_id, template_id, left]
        )
    return state


def settle(
    session: Session,
    workspace_id: int,
    policy: policies.Policy,
    pending: list[_Pending],
    now: datetime,
) -> None:
    """Decide every pending send of one workspace and reserve their quota in the database.
    A send whose credit or window another transaction spent first is decided again, with
    fresh reads and what the rest of the batch already took."""
    if not pending:
        return
    templates = {
        key: templates_of(session, workspace_id, key) for key in {p.template_key for p in pending}
    }
    undecided = pending
    for round_ in range(MAX_ROUNDS):
        forms = {t.id: t for p in undecided for t in templates[p.template_key]}
        state = _load(session, policy, undecided, list(forms.values()), now)
        if round_:  # the batch's queued sends are not written yet: count them in the caps
            settled = {id(p) for p in undecided}
            for p in pending:
                if id(p) not in settled and p.status == SendStatus.queued:
                    key = (p.family[0], p.category)
                    state.recent[key] = state.recent.get(key, 0) + 1
        for send in undecided:
            _decide(send, policy, templates[send.template_key], state, now)
        lost = _reserve(session, undecided, now)
        if not lost:
            return
        log.info("reach_reservation_raced", sends=len(lost), round=round_)
        undecided = lost
    for send in undecided:  # pragma: no cover - needs MAX_ROUNDS consecutive lost races
        send.status, send.channel, send.reason, send.taken = (
            SendStatus.held,
            None,
            "no_channel",
            None,
        )
        send.app_id = send.template_row_id = send.openid = None
        send.hold_until = now


def announce(session: Session, workspace_id: int, pending: list[_Pending], now: datetime) -> None:
    """After the sends are written: the dropped ones on the timeline (one statement), the
    queued ones to delivery jobs (lists of DELIVERY_BATCH)."""
    identity.record_events(
        session,
        [
            identity.NewEvent(
                workspace_id=workspace_id,
                member_id=p.member_id,
                name="message.failed",
                ts=now,
                props={
                    "send_id": p.send_id,
                    "template": p.template_key,
                    "category": p.category,
                    "channel": None,
                    "reason": p.reason,
                },
            )
            for p in pending
            if p.status == SendStatus.dropped
        ],
    )
    queued = [p.send_id for p in pending if p.status == SendStatus.queued]
    for start in range(0, len(queued), DELIVERY_BATCH):
        jobs.enqueue(session, "reach.deliver_batch", queued[start : start + DELIVERY_BATCH])


def _decide(
    send: _Pending,
    policy: policies.Policy,
    templates: list[ReachTemplate],
    state: _State,
    now: datetime,
) -> None:
    """Pick the channel (spending the batch's view of the quota), or hold or drop the send."""
    send.channel = send.app_id = send.template_row_id = send.openid = send.taken = None
    send.hold_until = send.finished_at = None
    reason = _refusal(send, policy, state)
    if reason is not None:
        _drop(send, reason, now)
        return
    quiet_until = (
        None
        if send.urgency == "urgent" or policy.quiet_hours is None
        else policy.quiet_hours.holds(now)
    )
    expires = send.created_at + policy.hold_for(send.urgency)
    if quiet_until is not None:
        if quiet_until > expires:
            _drop(send, "quiet_hours", now)
        else:
            send.status, send.reason, send.hold_until = SendStatus.held, "quiet_hours", quiet_until
        return
    by_channel = {CHANNEL_OF_KIND[t.kind]: t for t in templates}
    for channel in policy.channels(send.urgency):
        template = by_channel.get(channel)
        if template is None:
            continue
        openid = _spend(send, template, state, now)
        if openid is not None:
            send.status, send.channel, send.reason = SendStatus.queued, channel, None
            send.app_id, send.template_row_id, send.openid = template.app_id, template.id, openid
            key = (send.family[0], send.category)
            state.recent[key] = state.recent.get(key, 0) + 1  # counts toward the caps
            return
    if now >= expires:
        _drop(send, "hold_expired", now)
        return
    send.status, send.reason, send.hold_until = SendStatus.held, "no_channel", expires


def _refusal(send: _Pending, policy: policies.Policy, state: _State) -> str | None:
    """Why the member's choices or the policy's caps forbid this send whatever the channel."""
    top = send.family[0]
    if top in state.dnc:
        return "do_not_contact"
    if send.category in state.muted.get(top, ()):
        return "category_muted"
    if send.category in policy.consent_required and top not in state.consenting:
        return "no_consent"
    cap = policy.caps.get(send.category)
    if cap is not None and state.recent.get((top, send.category), 0) >= cap.count:
        return "frequency_cap"
    return None


def _spend(send: _Pending, template: ReachTemplate, state: _State, now: datetime) -> str | None:
    """The openid to send to, with the channel's quota spent in the batch's view; None if the
    ledger refuses."""
    rows = [r for r in state.ledger.get(send.family[0], []) if r.app_id == template.app_id]
    if not rows:
        return None
    if template.kind == TemplateKind.oa_template:
        followers = [r for r in rows if r.following]
        return followers[0].openid if followers else None
    if template.kind == TemplateKind.mp_subscribe:
        for credit in state.credits.get(send.family[0], []):
            if credit[1] == template.app_id and credit[2] == template.template_id and credit[3]:
                credit[3] -= 1
                send.taken = ("credit", credit[0])
                return rows[0].openid
        return None
    for row in rows:
        until = window_until(row)
        used = state.windows_used[row.id]
        if until is not None and now < until and used < policies.WINDOW_QUOTA:
            state.windows_used[row.id] = used + 1
            send.taken = ("window", row.id)
            return row.openid
    return None


def _reserve(session: Session, pending: Sequence[_Pending], now: datetime) -> list[_Pending]:
    """Spend in the database what the batch spent in memory, each row in one conditional
    update: the sends whose row another transaction spent first (to be decided again)."""
    credits: dict[int, int] = {}
    windows: dict[int, int] = {}
    for send in pending:
        if send.taken is not None:
            kind, row_id = send.taken
            target = credits if kind == "credit" else windows
            target[row_id] = target.get(row_id, 0) + 1
    spent_credits = repository.take_credits(session, credits, now) if credits else set()
    opened_after = now - policies.WINDOW + policies.WINDOW_MARGIN
    spent_windows = (
        repository.take_windows(session, windows, opened_after, policies.WINDOW_QUOTA, now)
        if windows
        else set()
    )
    return [
        send
        for send in pending
        if send.taken is not None
        and send.taken[1] not in (spent_credits if send.taken[0] == "credit" else spent_windows)
    ]


def _release(session: Session, pending: Sequence[_Pending], now: datetime) -> None:
    """Give back what these sends reserved (their notice was written elsewhere first). This
    transaction updated those rows, so it still holds them: the counts return exactly."""
    credits: dict[int, int] = {}
    windows: dict[int, int] = {}
    for send in pending:
        if send.taken is not None:
            target = credits if send.taken[0] == "credit" else windows
            target[send.taken[1]] = target.get(send.taken[1], 0) + 1
    repository.give_back(session, credits, windows, now)


def _drop(send: _Pending, reason: str, now: datetime) -> None:
    """Not sent, for `reason`: final (the batch puts it on the member's timeline)."""
    send.status, send.reason, send.hold_until, send.finished_at = (
        SendStatus.dropped,
        reason,
        None,
        now,
    )
    send.channel = send.app_id = send.template_row_id = send.openid = send.taken = None


def refusal(
    session: Session, send: ReachSend, policy: policies.Policy, family: list[int], now: datetime
) -> str | None:
    """Why the member's choices or the policy's caps forbid this one send (a mass send)."""
    ask = _Pending(
        send_id=send.id,
        member_id=send.member_id,
        family=family,
        template_key=send.template_key,
        category=send.category,
        urgency=send.urgency,
        created_at=send.created_at,
    )
    return _refusal(ask, policy, _load(session, policy, [ask], [], now))


def drop(session: Session, send: ReachSend, reason: str, now: datetime) -> None:
    """Not sent, for `reason`: final, and on the member's timeline (one mass send)."""
    send.status, send.reason, send.hold_until, send.finished_at = (
        SendStatus.dropped,
        reason,
        None,
        now,
    )
    session.flush()
    timeline(session, send, "message.failed", {"reason": reason})


def retry_held(session: Session, send_ids: list[int]) -> int:
    """Decide again for held sends (their hold ended, or the member's ledger changed), in a
    batch per workspace; a send another transaction is deciding is left to it."""
    now = clock.now()
    rows = repository.lock_held_sends(session, send_ids)
    moved = 0
    by_workspace: dict[int, list[Any]] = {}
    for row in rows:
        by_workspace.setdefault(row.workspace_id, []).append(row)
    for workspace_id, held in by_workspace.items():
        families, _erased = identity.member_families(
            session, workspace_id, {r.member_id for r in held}
        )
        pending = []
        for row in held:
            if row.member_id not in families:  # pragma: no cover - members are never deleted
                continue
            try:
                templates_of(session, workspace_id, row.template_key)
            except SiyuError:  # pragma: no cover - templates are never deleted
                continue
            pending.append(
                _Pending(
                    send_id=row.id,
                    member_id=row.member_id,
                    family=families[row.member_id],
                    template_key=row.template_key,
                    category=row.category,
                    urgency=row.urgency,
                    created_at=row.created_at,
                )
            )
        settle(session, workspace_id, get_policy(session, workspace_id), pending, now)
        repository.update_sends(session, [p.row() for p in pending])
        announce(session, workspace_id, pending, now)
        moved += sum(p.status != SendStatus.held for p in pending)
    for row in rows:
        session.expire(row)  # written by primary key above
    return moved


def held_of_member(session: Session, member_id: int) -> list[int]:
    return repository.list_held_sends(session, member_ids=[member_id])


def held_due(session: Session) -> list[int]:
    return repository.list_held_sends(session, due_before=clock.now())
