"""Loading the store: new events only, by their id; merges, undone merges and erasure follow."""

from __future__ import annotations

from typing import Any

from siyu.analytics import service as analytics
from siyu.analytics.store import DuckDBStore, Store
from siyu.core.db import Database
from siyu.identity import service as identity
from siyu.security.schemas import Principal
from tests.support.analytics import SECRET, Scenario, at, event


def sync(db: Database, store: Store) -> int:
    with db.session_scope() as session:
        return analytics.sync_store(session, store).events


def member_events(store: Store, workspace_id: int) -> dict[int, int]:
    rows = store.read(
        f"SELECT member_id, count(*) FROM events WHERE workspace_id = {workspace_id}"
        " GROUP BY member_id ORDER BY member_id"
    )
    return {int(m): int(n) for m, n in rows}


def test_sync_copies_the_timeline_once_with_apps_and_channels(
    db: Database, scenario: Scenario, analytics_store: Store
) -> None:
    # when the store is synced twice
    first = sync(db, analytics_store)
    second = sync(db, analytics_store)
    # then every event was taken once
    assert (first, second) == (15, 0)
    m = scenario.members
    assert member_events(analytics_store, scenario.workspace_id) == {
        m["A"]: 6,
        m["B"]: 3,
        m["C"]: 2,
        m["D"]: 4,
    }
    kinds: dict[str, Any] = {
        str(name): str(kind)
        for name, kind in analytics_store.read(
            "SELECT DISTINCT name, app_kind FROM events ORDER BY 1"
        )
    }
    assert kinds["oa.subscribe"] == "oa"
    assert kinds["mp.launch"] == "mp"
    channels = analytics_store.read(
        "SELECT channel FROM events WHERE channel IS NOT NULL ORDER BY 1"
    )
    assert [c for (c,) in channels] == ["qr_autumn", "qr_spring"]
    # and a new event is taken by the next sync, alone
    with db.session_scope() as session:
        identity.ingest_events(session, scenario.workspace_id, [event("mp.launch", at(20, 9), "B")])
    assert sync(db, analytics_store) == 1


def test_merges_and_their_undoing_move_the_events_in_the_store(
    db: Database, scenario: Scenario, analytics_store: Store, owner: Principal
) -> None:
    # given a synced store
    sync(db, analytics_store)
    m = scenario.members
    # when staff merge C into B and the store syncs
    with db.session_scope() as session:
        merge = identity.merge_members(session, owner, m["B"], m["C"])
    assert sync(db, analytics_store) == 0
    # then C's events are B's in the store too
    assert member_events(analytics_store, scenario.workspace_id) == {
        m["A"]: 6,
        m["B"]: 5,
        m["D"]: 4,
    }
    # when the merge is undone
    with db.session_scope() as session:
        identity.undo_merge(session, owner, merge.id)
    sync(db, analytics_store)
    # then they are C's again, and nothing is left to refresh
    assert member_events(analytics_store, scenario.workspace_id) == {
        m["A"]: 6,
        m["B"]: 3,
        m["C"]: 2,
        m["D"]: 4,
    }
    with db.session_scope() as session:
        again = analytics.sync_store(session, analytics_store)
    assert (again.events, again.refreshed_members) == (0, 0)


def test_no_erased_value_survives_in_the_store_file(
    db: Database, scenario: Scenario, duck_store: DuckDBStore, owner: Principal
) -> None:
    # given the store holds A's payment with a receiver's name in it (as written in the file)
    sync(db, duck_store)
    assert SECRET.encode() in duck_store.path.read_bytes()
    assert duck_store.read(f"SELECT count(*) FROM events WHERE props LIKE '%{SECRET}%'") == [(1,)]
    # when A is erased and the store syncs
    with db.session_scope() as session:
        identity.erase_member(
            session, scenario.workspace_id, scenario.members["A"], actor=owner.actor, via="staff"
        )
    with db.session_scope() as session:
        result = analytics.sync_store(session, duck_store)
    # then the value is in no row and nowhere in the file, and the figures stay
    assert result.compacted
    assert duck_store.read(f"SELECT count(*) FROM events WHERE props LIKE '%{SECRET}%'") == [(0,)]
    assert SECRET.encode() not in duck_store.path.read_bytes()
    assert not duck_store.path.with_name(duck_store.path.name + ".wal").exists() or (
        SECRET.encode() not in duck_store.path.with_name(duck_store.path.name + ".wal").read_bytes()
    )
    assert sum(member_events(duck_store, scenario.workspace_id).values()) == 15
    amounts = duck_store.read(
        "SELECT sum(CAST(json_extract(props, '$.amount_fen') AS BIGINT)) FROM events"
        " WHERE name = 'pay.paid'"
    )
    assert amounts == [(9900 + 9900 + 500,)]


def test_erasure_reaches_the_clickhouse_store_too(
    db: Database, scenario: Scenario, analytics_store: Store, owner: Principal
) -> None:
    sync(db, analytics_store)
    with db.session_scope() as session:
        identity.erase_member(
            session, scenario.workspace_id, scenario.members["A"], actor=owner.actor, via="staff"
        )
    sync(db, analytics_store)
    rows = analytics_store.read("SELECT props FROM events")
    assert len(rows) == 15
    assert not any(SECRET in str(p) for (p,) in rows)


def test_an_event_committed_late_below_the_watermark_is_still_taken(
    db: Database, scenario: Scenario, duck_store: DuckDBStore
) -> None:
    # given a synced store, from which one event is missing (as when a transaction holding
    # a lower id commits after a sync took the higher ones)
    sync(db, duck_store)
    with duck_store.writer() as writer:
        lowest = min(writer.present_ids(0, 10**12))
        writer.delete_ids([lowest])
    # when the store syncs again
    taken = sync(db, duck_store)
    # then it took that event
    assert taken == 1
    assert lowest in {int(i) for (i,) in duck_store.read("SELECT id FROM events")}
