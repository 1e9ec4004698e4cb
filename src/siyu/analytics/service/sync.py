"""Loading the store: the timeline copied by its id as a watermark, members refreshed when they
were merged, split or erased, and the store file rewritten after an erasure."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import pyarrow.compute as pc
from sqlalchemy.orm import Session

from siyu.analytics import repository
from siyu.analytics.schemas import SyncResult
from siyu.analytics.store import Store, Writer, from_csv, naive_utc, open_store, to_arrow
from siyu.core import clock
from siyu.core.config import Settings, current_settings
from siyu.identity import service as identity
from siyu.workspaces import service as workspaces
from siyu.workspaces.enums import AppKind

BATCH = 200_000
# Ids below the watermark checked again on each sync: a transaction that took its ids before
# another but committed after it (PostgreSQL hands out ids at insert, not at commit).
LATE_WINDOW = 5_000
REFRESH_BATCH = 5_000
WATERMARK = "events"

_OA = {AppKind.oa_service, AppKind.oa_subscription}


def store(settings: Settings | None = None) -> Store:
    """The store of these settings, or of this process's (`SIYU_ANALYTICS_URL`)."""
    return open_store(settings or current_settings())


class _Kinds:
    """App id → "oa" / "mp" / "other", read once per sync."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.known: dict[int, str] = {}

    def of(self, rows: Sequence[Any]) -> None:
        wanted = {r.app_id for r in rows if r.app_id is not None} - set(self.known)
        if wanted:
            apps = workspaces.get_apps_by_id(self.session, sorted(wanted))
            for app_id in wanted:
                app = apps.get(app_id)
                kind = app.kind if app is not None else None
                self.known[app_id] = (
                    "oa" if kind in _OA else "mp" if kind == AppKind.mp else "other"
                )

    def all(self) -> dict[int, str]:
        """Every app's kind (a handful per workspace), for a bulk batch."""
        for workspace in workspaces.list_workspaces(self.session):
            for app in workspaces.list_apps(self.session, workspace.id):
                self.known[app.id] = (
                    "oa" if app.kind in _OA else "mp" if app.kind == AppKind.mp else "other"
                )
        return self.known

    def kind(self, app_id: int | None, name: str) -> str:
        if app_id is not None:
            return self.known.get(app_id, "other")
        return name.split(".", 1)[0] if name.startswith(("oa.", "mp.")) else "other"


def _insert(writer: Writer, kinds: _Kinds, rows: Sequence[Any]) -> None:
    if not rows:
        return
    kinds.of(rows)
    writer.insert(
        to_arrow(
            [
                (
                    r.id,
                    r.workspace_id,
                    r.member_id,
                    r.origin_member_id,
                    r.app_id,
                    kinds.kind(r.app_id, r.name),
                    r.name,
                    naive_utc(r.ts),
                    r.channel,
                    r.props if r.props is not None else "{}",
                )
                for r in rows
            ]
        )
    )


def sync_store(
    session: Session, target: Store | None = None, *, limit: int | None = None
) -> SyncResult:
    """Copy what is new in the timeline into the store (up to `limit` events), refresh the
    members merged, split or erased since, and say how many events it took. The store commits
    its part itself; the caller's transaction then drops the refreshes taken (done again, it
    changes nothing)."""
    target = target or store()
    refreshes = repository.list_refreshes(session, REFRESH_BATCH)
    kinds = _Kinds(session)
    taken = 0
    erase = any(r.erase for r in refreshes)
    with target.writer() as writer:
        mark = writer.get_state(WATERMARK)
        by_workspace: dict[int, set[int]] = defaultdict(set)
        for refresh in refreshes:
            by_workspace[refresh.workspace_id].add(refresh.member_id)
        for workspace_id, members in by_workspace.items():
            ids = sorted(members)
            writer.delete_members(workspace_id, ids)
            _insert(
                writer, kinds, repository.list_events_of_members(session, workspace_id, ids, mark)
            )
        if mark:
            low = max(0, mark - LATE_WINDOW)
            late = repository.list_event_ids_between(session, low, mark) - writer.present_ids(
                low, mark
            )
            if late:
                rows = repository.list_events_by_id(session, sorted(late))
                _insert(writer, kinds, rows)
                taken += len(rows)
        bulk = session.get_bind().dialect.name == "postgresql"
        while limit is None or taken < limit:
            size = BATCH if limit is None else min(BATCH, limit - taken)
            if bulk:
                batch = from_csv(repository.copy_events_after(session, mark, size), kinds.all())
                if batch.num_rows:
                    writer.insert(batch)
                    taken += batch.num_rows
                    mark = int(pc.max(batch["id"]).as_py())
                if batch.num_rows < size:
                    break
                continue
            rows = repository.list_events_after(session, mark, size)
            if not rows:
                break
            _insert(writer, kinds, rows)
            taken += len(rows)
            mark = rows[-1].id
            if len(rows) < size:
                break
        writer.set_state(WATERMARK, mark)
        if erase:
            writer.compact()
    repository.delete_refreshes(session, [r.id for r in refreshes])
    return SyncResult(
        events=taken,
        refreshed_members=len({(r.workspace_id, r.member_id) for r in refreshes}),
        compacted=erase,
        watermark=mark,
    )


# --- Bus subscribers (registered in siyu.wiring) ----------------------------------------


def on_members_merged(session: Session, event: identity.MembersMerged) -> None:
    """A merge moved the merged member's events to the survivor: copy both again."""
    repository.add_refreshes(
        session,
        event.workspace_id,
        [event.survivor_id, event.merged_id],
        erase=False,
        at=clock.now(),
    )


def on_merge_undone(session: Session, event: identity.MergeUndone) -> None:
    """An undone merge gave the events back: copy both members again."""
    repository.add_refreshes(
        session,
        event.workspace_id,
        [event.survivor_id, event.merged_id],
        erase=False,
        at=clock.now(),
    )


def on_member_erased(session: Session, event: identity.MemberErased) -> None:
    """Erasure scrubbed the members' events in the primary database: copy them again as they
    are now and rewrite the store file, so that no erased value survives in it."""
    repository.add_refreshes(
        session, event.workspace_id, event.member_ids, erase=True, at=clock.now()
    )
