"""Official Account tag sync: an OA user tag kept equal to a siyu audience (a tag now, a segment
once segments exist), the OA's own tags imported as siyu tags, and a broadcast to a synced tag.

A sync diffs the audience against the last-synced set (`audience_oa_tag_members`) and calls
`batchtagging` / `batchuntagging` with ≤ 50 openids of followers of that OA (fact sheet §2.7).
It calls WeChat between transactions, never inside one; each group of confirmed batches is
committed with the report's counts, so a sync that stops (a crash, WeChat down) resumes from
the set it left: the next run's diff holds only what is left to do, and a run after a complete
one calls nothing. A user WeChat refuses because they carry 20 tags already (45059, all or
nothing for the batch) is found by asking for each user's tags, reported and left out.
"""

from __future__ import annotations

import secrets
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy.orm import Session

from siyu.audience import errors, repository
from siyu.audience.enums import OaTagSource, OaTagSyncStatus, SkipReason
from siyu.audience.models import OaTagSync
from siyu.audience.schemas import (
    OA_TAG_NAME_MAX,
    OaTagBroadcastCreate,
    OaTagImportReport,
    OaTagSyncCreate,
    OaTagSyncRead,
    OaTagSyncReport,
    SkippedMember,
    report_of,
)
from siyu.core import clock, jobs
from siyu.core.config import Settings, current_settings
from siyu.core.db import Database
from siyu.core.logging import get_logger
from siyu.identity import service as identity
from siyu.reach import service as reach
from siyu.reach.schemas import BroadcastCreate, BroadcastRead
from siyu.security import service as security
from siyu.security.schemas import Principal
from siyu.wechat import service as wechat
from siyu.wechat.service import Gateway, WeChatError
from siyu.workspaces import service as workspaces
from siyu.workspaces.enums import AppKind
from siyu.workspaces.schemas import AppRead

log = get_logger(__name__)

MAX_OA_TAGS = 100  # tags an Official Account may have (45056 beyond, fact sheet §2.7)
TAG_BATCH = 50  # openids a batch(un)tagging call takes (40032 beyond, fact sheet §2.7)
MAX_TAGS_PER_USER = 20  # tags one follower may carry (45059 beyond, fact sheet §2.7)
USER_TAG_LIMIT = 45059
RESERVED_NAMES = frozenset({"星标组"})  # tag 2, WeChat's own
COMMIT_EVERY = 20  # batches confirmed between two commits of progress (1 000 members)
# Tagging calls in flight at once: WeChat answers each in tens of milliseconds; the gateway's
# keep-alive pool holds 32 connections.
CALLS_IN_FLIGHT = 4
EXAMPLES = 100  # skipped members named in a report

T = TypeVar("T")
A = TypeVar("A")
R = TypeVar("R")
Actor = Principal | str
# The members an audience holds now: (session, workspace, source) → member ids. Segments
# register theirs with `register_member_source`.
MemberSource = Callable[[Session, int, str], Iterable[int]]


def _tagged(session: Session, workspace_id: int, tag: str) -> Iterable[int]:
    return identity.members_with_tag(session, workspace_id, tag)


def _segment_members(session: Session, workspace_id: int, name: str) -> Iterable[int]:
    """A segment's members as of its last refresh (the refresh job keeps them current)."""
    segment = repository.get_segment_by_name(session, workspace_id, name)
    if segment is None:
        raise errors.SEGMENT_NOT_FOUND(f"no segment named {name!r}")
    return repository.member_ids(session, segment.id)


MEMBER_SOURCES: dict[OaTagSource, MemberSource] = {
    OaTagSource.tag: _tagged,
    OaTagSource.segment: _segment_members,
}


def register_member_source(kind: OaTagSource, source: MemberSource) -> None:
    MEMBER_SOURCES[kind] = source


def _app(session: Session, app_id: int) -> AppRead:
    return workspaces.get_apps_by_id(session, [app_id])[app_id]


def _actor_name(actor: Actor) -> str:
    return actor.actor if isinstance(actor, Principal) else actor


def _official_account(session: Session, workspace_id: int, appid: str) -> AppRead:
    app = workspaces.get_app_by_appid(session, appid, workspace_id)
    if app.kind not in (AppKind.oa_service, AppKind.oa_subscription):
        raise errors.NOT_AN_OFFICIAL_ACCOUNT(f"{appid} is not an Official Account", appid=appid)
    return app


def _check_name(name: str) -> str:
    cleaned = name.strip()
    size = len(cleaned.encode("utf-8"))
    if not 1 <= size <= OA_TAG_NAME_MAX or cleaned in RESERVED_NAMES or not cleaned.isprintable():
        raise errors.OA_TAG_NAME_INVALID(
            f"an OA tag name is 1–{OA_TAG_NAME_MAX} bytes on one line, not a reserved name"
        )
    return cleaned


def _read(session: Session, row: OaTagSync, appid: str | None = None) -> OaTagSyncRead:
    if appid is None:
        appid = _app(session, row.app_id).appid
    return OaTagSyncRead(
        id=row.id,
        appid=appid,
        source_kind=row.source_kind,
        source=row.source,
        oa_tag_name=row.oa_tag_name,
        oa_tag_id=row.oa_tag_id,
        status=row.status,
        members=repository.count_synced(session, [row.id]).get(row.id, 0),
        report=report_of(row.report),
        started_at=row.started_at,
        finished_at=row.finished_at,
        created_by=row.created_by,
        created_at=row.created_at,
    )


def _sync(session: Session, workspace_id: int, sync_id: int, *, lock: bool = False) -> OaTagSync:
    row = repository.get_oa_tag_sync(session, sync_id, lock=lock)
    if row is None or row.workspace_id != workspace_id:
        raise errors.OA_TAG_SYNC_NOT_FOUND(f"no OA tag sync {sync_id}")
    return row


# -- operations -------------------------------------------------------------------------------


def create_oa_tag_sync(
    session: Session, workspace_id: int, data: OaTagSyncCreate, actor: Actor
) -> OaTagSyncRead:
    """Map a siyu audience to an OA tag (made on WeChat by the first sync); audited."""
    app = _official_account(session, workspace_id, data.appid)
    if data.source_kind not in MEMBER_SOURCES:
        raise errors.UNKNOWN_SOURCE(f"cannot sync a {data.source_kind}", kind=data.source_kind)
    source = data.source.strip()
    name = _check_name(data.oa_tag_name or source)
    if repository.get_oa_tag_sync_by_source(session, app.id, data.source_kind, source):
        raise errors.SOURCE_ALREADY_MAPPED(f"{source} already syncs to {app.appid}", source=source)
    if repository.get_oa_tag_sync_by_name(session, app.id, name):
        raise errors.OA_TAG_ALREADY_MAPPED(f"the OA tag {name} already has a source", name=name)
    if repository.count_oa_tag_syncs(session, app.id) >= MAX_OA_TAGS:
        raise errors.TOO_MANY_OA_TAGS(
            f"an Official Account has at most {MAX_OA_TAGS} tags", limit=MAX_OA_TAGS
        )
    row = OaTagSync(
        workspace_id=workspace_id,
        app_id=app.id,
        source_kind=data.source_kind,
        source=source,
        oa_tag_name=name,
        oa_tag_id=None,
        status=OaTagSyncStatus.idle,
        run_token="",
        report={},
        created_by=_actor_name(actor),
        created_at=clock.now(),
    )
    session.add(row)
    session.flush()
    security.record_audit(
        session,
        actor,
        "audience.oa_tag_sync_created",
        workspace_id=workspace_id,
        target_type="oa_tag_sync",
        target_id=row.id,
        detail={"appid": app.appid, "source": source, "oa_tag": name},
    )
    return _read(session, row, app.appid)


def find_or_create_oa_tag_sync(  # noqa: PLR0917 - the command's natural arguments
    session: Session,
    workspace_id: int,
    appid: str,
    tag: str,
    actor: Actor,
    kind: OaTagSource = OaTagSource.tag,
) -> OaTagSyncRead:
    """The sync of this siyu tag (or segment) to this OA, made if there is none
    (`siyu tags sync`)."""
    app = _official_account(session, workspace_id, appid)
    row = repository.get_oa_tag_sync_by_source(session, app.id, kind, tag.strip())
    if row is not None:
        return _read(session, row, app.appid)
    return create_oa_tag_sync(
        session, workspace_id, OaTagSyncCreate(appid=appid, source=tag, source_kind=kind), actor
    )


def get_oa_tag_sync(session: Session, workspace_id: int, sync_id: int) -> OaTagSyncRead:
    return _read(session, _sync(session, workspace_id, sync_id))


def list_oa_tag_syncs(
    session: Session, workspace_id: int, appid: str | None = None
) -> list[OaTagSyncRead]:
    app_id = None if appid is None else _official_account(session, workspace_id, appid).id
    rows = repository.list_oa_tag_syncs(session, workspace_id, app_id)
    counts = repository.count_synced(session, [r.id for r in rows])
    appids = {a.id: a.appid for a in workspaces.list_apps(session, workspace_id)}
    found = []
    for row in rows:
        read = _read(session, row, appids.get(row.app_id))
        found.append(read.model_copy(update={"members": counts.get(row.id, 0)}))
    return found


def start_oa_tag_sync(
    session: Session, workspace_id: int, sync_id: int, actor: Actor
) -> OaTagSyncRead:
    """Ask for a sync (audited; the job `audience.sync_oa_tag` runs it). A sync still marked
    running — its runner stopped — is resumed, not restarted: its report keeps counting."""
    row = _sync(session, workspace_id, sync_id, lock=True)
    if row.status != OaTagSyncStatus.running:
        row.status, row.report = OaTagSyncStatus.running, {}
        row.started_at, row.finished_at = clock.now(), None
    session.flush()
    security.record_audit(
        session,
        actor,
        "audience.oa_tag_sync_started",
        workspace_id=workspace_id,
        target_type="oa_tag_sync",
        target_id=row.id,
    )
    jobs.enqueue(session, "audience.sync_oa_tag", row.id)
    return _read(session, row)


# -- the sync itself (calls WeChat between transactions) ----------------------------------------


@dataclass
class _Run:
    """One runner's view of a sync: what to do and what it did."""

    sync_id: int
    workspace_id: int
    appid: str
    app_id: int
    token: str
    report: OaTagSyncReport
    tag_id: int = 0
    name: str = ""
    pending_add: list[tuple[int, str]] = field(default_factory=list)
    pending_remove: list[int] = field(default_factory=list)
    remove_openids: dict[int, str] = field(default_factory=dict)

    def skip(self, member_ids: Iterable[int], reason: SkipReason) -> None:
        for member_id in member_ids:
            self.report.skipped[reason] = self.report.skipped.get(reason, 0) + 1
            if len(self.report.examples) < EXAMPLES:
                self.report.examples.append(SkippedMember(member_id=member_id, reason=reason))


def _claim(db: Database, workspace_id: int | None, sync_id: int) -> _Run:
    """Take the sync for this runner (a new token: an older runner stops at its next commit)."""
    with db.session_scope() as session:
        row = repository.get_oa_tag_sync(session, sync_id, lock=True)
        if row is None or (workspace_id is not None and row.workspace_id != workspace_id):
            raise errors.OA_TAG_SYNC_NOT_FOUND(f"no OA tag sync {sync_id}")
        resumed = row.status == OaTagSyncStatus.running
        report = report_of(row.report) if resumed else OaTagSyncReport()
        # Skips are counted afresh by each run (the users are looked at again); WeChat's
        # confirmed tagging and untagging carry over from the run this one resumes.
        report.skipped, report.examples, report.error = {}, [], None
        row.status, row.run_token = OaTagSyncStatus.running, secrets.token_hex(8)
        if not resumed or row.started_at is None:
            row.started_at = clock.now()
        row.finished_at = None
        row.report = report.model_dump(mode="json")
        app = _app(session, row.app_id)
        return _Run(
            row.id, row.workspace_id, app.appid, app.id, row.run_token, report,
            tag_id=row.oa_tag_id or 0, name=row.oa_tag_name,
        )  # fmt: skip


def _ensure_oa_tag(db: Database, gateway: Gateway, run: _Run) -> None:
    """The OA tag's id: the one stored if WeChat still has it, else found by name or made."""
    tags = {t.id: t.name for t in gateway.get_tags(run.appid)}
    run.report.calls += 1
    if run.tag_id and tags.get(run.tag_id) == run.name:
        return
    by_name = {name: tag_id for tag_id, name in tags.items()}
    if run.name in by_name:
        run.tag_id = by_name[run.name]
    else:
        run.tag_id = gateway.create_tag(run.appid, run.name).id
        run.report.calls += 1
    with db.session_scope() as session:
        row = _owned(session, run)
        if row.oa_tag_id != run.tag_id:
            # A different tag on WeChat: what we had synced is not on it.
            repository.remove_synced(session, run.sync_id, repository.list_synced(session, row.id))
        row.oa_tag_id = run.tag_id


def _owned(session: Session, run: _Run) -> OaTagSync:
    row = repository.get_oa_tag_sync(session, run.sync_id, lock=True)
    if row is None or row.run_token != run.token:
        raise errors.SYNC_TAKEN_OVER("another run took the sync over")
    return row


def _plan(db: Database, run: _Run) -> None:
    """The diff: followers of the audience not on the tag yet, and members on it who left the
    audience; members who do not follow the OA are skipped (and untagged if they were on it)."""
    with db.session_scope() as session:
        row = _owned(session, run)
        wanted = set(MEMBER_SOURCES[row.source_kind](session, run.workspace_id, row.source))
        followers = reach.follower_openids(session, run.app_id)
        # A follower in the audience is tagged by their own openid. The ledger stays with the
        # member who followed, while tags go to the survivor of a merge: the other followers
        # are followed to their survivor (few are merged; looking is what costs).
        openid_of = {m: openid for m, openid in followers.items() if m in wanted}
        others = [m for m in followers if m not in wanted]
        families, erased = identity.member_families(session, run.workspace_id, others)
        for member_id in others:
            family = families.get(member_id)
            if family is not None and member_id not in erased and family[0] in wanted:
                openid_of.setdefault(family[0], followers[member_id])
        synced = repository.list_synced(session, run.sync_id)
    run.pending_add = sorted(
        (m, openid_of[m]) for m in wanted if m in openid_of and m not in synced
    )
    run.skip(sorted(m for m in wanted if m not in openid_of), SkipReason.not_following)
    gone = sorted(m for m in synced if m not in wanted)
    unfollowed = [m for m in synced if m in wanted and m not in openid_of]
    # Someone who unfollowed is no longer a follower WeChat would tag: forget them.
    if unfollowed:
        with db.session_scope() as session:
            _owned(session, run)
            repository.remove_synced(session, run.sync_id, unfollowed)
    run.pending_remove = gone
    run.remove_openids = {m: synced[m] for m in gone}


def _save(
    db: Database,
    run: _Run,
    report: OaTagSyncReport,
    added: Sequence[tuple[int, str]],
    removed: Sequence[int],
) -> None:
    """Confirmed batches and the report as it stood after them, in one commit."""
    with db.session_scope() as session:
        row = _owned(session, run)
        repository.add_synced(session, run.sync_id, added)
        repository.remove_synced(session, run.sync_id, removed)
        row.report = report.model_dump(mode="json")


@dataclass(frozen=True)
class _Tagged:
    """What one batch came to: the members now on the tag, those at 20 tags, calls made."""

    done: list[tuple[int, str]]
    full: list[int]
    calls: int


def _tag_batch(gateway: Gateway, run: _Run, batch: Sequence[tuple[int, str]]) -> _Tagged:
    """Tag one batch; when WeChat refuses it for a user at 20 tags (all or nothing), find them
    by asking for each user's tags and tag the rest. Runs on the calling threads: it only
    reads `run`."""
    openids = [openid for _m, openid in batch]
    try:
        gateway.tag_users_once(run.appid, run.tag_id, openids, add=True)
        return _Tagged(list(batch), [], 1)
    except WeChatError as exc:
        if exc.errcode != USER_TAG_LIMIT:
            raise
    full: list[int] = []
    rest: list[tuple[int, str]] = []
    for member_id, openid in batch:
        tags = gateway.get_user_tags(run.appid, openid)
        if run.tag_id not in tags and len(tags) >= MAX_TAGS_PER_USER:
            full.append(member_id)
        else:
            rest.append((member_id, openid))  # room left, or on the tag already
    todo = [openid for member_id, openid in rest]
    if todo:
        # Tags may have changed meanwhile: a second refusal is WeChat's to report.
        gateway.tag_users_once(run.appid, run.tag_id, todo, add=True)
    return _Tagged(rest, full, 2 + len(batch) if todo else 1 + len(batch))


def _untag_batch(gateway: Gateway, run: _Run, batch: Sequence[int]) -> list[int]:
    openids = [run.remove_openids[m] for m in batch]
    gateway.tag_users_once(run.appid, run.tag_id, openids, add=False)
    return list(batch)


def _chunks(items: Sequence[T], size: int) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class _Writer:
    """Commits confirmed batches on a thread of its own while the next ones go to WeChat (the
    calls, not the database, set the pace); one commit in flight at a time, in order, and its
    failure (a runner that took over) raised at the next one."""

    def __init__(self, db: Database, run: _Run) -> None:
        self.db, self.run = db, run
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="oa-tag-sync")
        self.pending: Future[None] | None = None

    def save(self, added: Sequence[tuple[int, str]], removed: Sequence[int]) -> None:
        self.wait()
        report = self.run.report.model_copy(deep=True)
        self.pending = self.pool.submit(_save, self.db, self.run, report, added, removed)

    def wait(self) -> None:
        if self.pending is not None:
            pending, self.pending = self.pending, None
            pending.result()

    def close(self) -> None:
        try:
            self.wait()
        finally:
            self.pool.shutdown(wait=True)


def _in_order(pool: ThreadPoolExecutor, call: Callable[[A], R], items: Iterable[A]) -> Iterator[R]:
    """`call` over `items` on the pool, a few ahead of the results, which come in order."""
    pending: deque[Future[R]] = deque()
    for item in items:
        pending.append(pool.submit(call, item))
        if len(pending) >= 2 * CALLS_IN_FLIGHT:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def _apply(db: Database, gateway: Gateway, run: _Run) -> None:
    """The diff sent `CALLS_IN_FLIGHT` calls at a time; every `COMMIT_EVERY` confirmed batches
    (in order) are committed by the writer while the next ones are sent."""
    writer = _Writer(db, run)
    calls = ThreadPoolExecutor(CALLS_IN_FLIGHT, thread_name_prefix="oa-tag-call")
    try:
        added: list[tuple[int, str]] = []
        adds = _chunks(run.pending_add, TAG_BATCH)
        tagging = _in_order(calls, lambda batch: _tag_batch(gateway, run, batch), adds)
        for n, tagged in enumerate(tagging, start=1):
            added.extend(tagged.done)
            run.report.tagged += len(tagged.done)
            run.report.calls += tagged.calls
            run.skip(tagged.full, SkipReason.user_tag_limit)
            if n % COMMIT_EVERY == 0:
                writer.save(added, [])
                added = []
        writer.save(added, [])
        removed: list[int] = []
        removes = _chunks(run.pending_remove, TAG_BATCH)
        untagging = _in_order(calls, lambda batch: _untag_batch(gateway, run, batch), removes)
        for n, done in enumerate(untagging, start=1):
            removed.extend(done)
            run.report.untagged += len(done)
            run.report.calls += 1
            if n % COMMIT_EVERY == 0:
                writer.save([], removed)
                removed = []
        writer.save([], removed)
    finally:
        calls.shutdown(wait=True)
        writer.close()


def _finish(db: Database, run: _Run, error: str | None) -> None:
    run.report.error = error
    with db.session_scope() as session:
        row = repository.get_oa_tag_sync(session, run.sync_id, lock=True)
        if row is None or row.run_token != run.token:
            return
        row.status = OaTagSyncStatus.failed if error else OaTagSyncStatus.done
        row.finished_at = clock.now()
        row.report = run.report.model_dump(mode="json")


def sync_oa_tag(
    db: Database,
    sync_id: int,
    *,
    workspace_id: int | None = None,
    gateway: Gateway | None = None,
    settings: Settings | None = None,
) -> OaTagSyncReport:
    """Run (or resume) a sync to its end: the OA tag made if missing, the diff tagged and
    untagged in batches of ≤ 50 openids, progress committed as it goes; the report. WeChat's
    refusal is recorded on the sync (status failed, with its words) and raised."""
    run = _claim(db, workspace_id, sync_id)
    gateway = gateway or wechat.shared_gateway(settings or current_settings(), db)
    try:
        _ensure_oa_tag(db, gateway, run)
        _plan(db, run)
        _apply(db, gateway, run)
    except WeChatError as exc:
        refusal = wechat.refusal(exc, f"sync the OA tag {run.name}")
        _finish(db, run, refusal.message)
        log.warning("audience_oa_tag_sync_failed", sync=sync_id, errcode=exc.errcode)
        raise refusal from exc
    _finish(db, run, None)
    log.info(
        "audience_oa_tag_synced", sync=sync_id, tagged=run.report.tagged,
        untagged=run.report.untagged, skipped=sum(run.report.skipped.values()),
    )  # fmt: skip
    return run.report


# -- import and broadcast -------------------------------------------------------------------------


def import_oa_tags(
    db: Database,
    workspace_id: int,
    appid: str,
    actor: Actor,
    *,
    gateway: Gateway | None = None,
    settings: Settings | None = None,
) -> OaTagImportReport:
    """The OA's tags as siyu tags on the members WeChat lists under them, each tag then kept
    in sync (its sync made, its set recorded: a later sync calls WeChat only for changes);
    audited. Followers siyu has not met yet are counted, not made up."""
    with db.session_scope() as session:
        app = _official_account(session, workspace_id, appid)
    gateway = gateway or wechat.shared_gateway(settings or current_settings(), db)
    report = OaTagImportReport()
    try:
        tags = [t for t in gateway.get_tags(app.appid) if t.id > 2]  # 0/1/2: WeChat's own
        pages = {
            t.id: [o for page in gateway.get_tag_fans(app.appid, t.id) for o in page] for t in tags
        }
    except WeChatError as exc:
        raise wechat.refusal(exc, "read the OA's tags") from exc
    with db.session_scope() as session:
        for tag in tags:
            openids = pages[tag.id]
            known = reach.members_by_openid(session, app.id, openids)
            report.unknown_openids += len(openids) - len(known)
            members = sorted(set(known.values()))
            if members:
                report.members_tagged += identity.tag_members(
                    session, workspace_id, members, tag.name, actor=_actor_name(actor)
                )
            row = repository.get_oa_tag_sync_by_name(session, app.id, tag.name)
            if row is None:
                row = OaTagSync(
                    workspace_id=workspace_id, app_id=app.id, source_kind=OaTagSource.tag,
                    source=tag.name, oa_tag_name=tag.name, oa_tag_id=tag.id,
                    status=OaTagSyncStatus.done, run_token="", report={},
                    created_by=_actor_name(actor), created_at=clock.now(),
                )  # fmt: skip
                session.add(row)
                session.flush()
            if row.oa_tag_id == tag.id:
                synced = repository.list_synced(session, row.id)
                repository.add_synced(
                    session, row.id,
                    sorted((m, o) for o, m in known.items() if m not in synced),
                )  # fmt: skip
            report.tags.append(tag.name)
        security.record_audit(
            session,
            actor,
            "audience.oa_tags_imported",
            workspace_id=workspace_id,
            target_type="app",
            target_id=app.id,
            detail={"tags": len(report.tags), "members": report.members_tagged},
        )
    return report


def broadcast_to_oa_tag(
    session: Session, workspace_id: int, sync_id: int, data: OaTagBroadcastCreate, actor: Actor
) -> BroadcastRead:
    """A subscription account's mass message to a synced OA tag: one `sendall` with its
    `tag_id` (once a day, fact sheet §2.6), recorded against the members last synced."""
    row = _sync(session, workspace_id, sync_id)
    members = sorted(repository.list_synced(session, row.id))
    if row.oa_tag_id is None or not members:
        raise errors.NOT_SYNCED_YET(f"the OA tag {row.oa_tag_name} has not been synced")
    app = _app(session, row.app_id)
    return reach.create_broadcast(
        session,
        workspace_id,
        BroadcastCreate(
            name=data.name,
            mass_appid=app.appid,
            mass_text=data.text,
            mass_tag_id=row.oa_tag_id,
            member_ids=members,
            scheduled_at=data.scheduled_at,
        ),
        actor,
    )
