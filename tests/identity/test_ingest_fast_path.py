"""The import's fast path makes exactly the members `resolve_member` makes one by one.

The same JSON Lines are imported twice into one database: once in a workspace whose import
resolves every person through `resolve_member` (`fast=False`), once in a second
workspace (with other appids) through the fast path. Both must end with the same members by
number, the same identities, merges, conflicts, rejected lines and events per member.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

import orjson
import pytest

from siyu.core.db import Database
from siyu.identity.service import importer as bulk_import
from siyu.identity.service import resolution
from siyu.identity.service.importer import EventImport, chunked, read_lines
from siyu.workspaces.schemas import AppRead
from tests.support.ingest import (
    FAST_MP,
    FAST_OA,
    import_lines,
    import_pipelined,
    jsonl,
    make_fast_workspace,
    scenario,
    snapshot,
)
from tests.support.names import openid


class _Counting:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        self._resolve = resolution.resolve_member
        monkeypatch.setattr(resolution, "resolve_member", self)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return self._resolve(*args, **kwargs)


@pytest.mark.parametrize(
    ("seed", "chunk", "cache_size", "pipelined"),
    [
        (7, 10, bulk_import.CACHE_SIZE, False),
        (7, 10, 3, False),
        (11, 37, 50, False),
        (7, 10, bulk_import.CACHE_SIZE, True),
        (11, 37, 50, True),
    ],
)
def test_fast_path_makes_the_members_of_the_slow_path(
    db: Database,
    workspace_id: int,
    mp_app: AppRead,
    oa_app: AppRead,
    monkeypatch: pytest.MonkeyPatch,
    seed: int,
    chunk: int,
    cache_size: int,
    pipelined: bool,
) -> None:
    monkeypatch.setattr(bulk_import, "CACHE_SIZE", cache_size)
    lines = scenario(seed)
    resolves = _Counting(monkeypatch)
    slow = import_lines(
        db, workspace_id, jsonl(lines, mp_app.appid, oa_app.appid), fast=False, chunk=chunk
    )
    slow_calls, resolves.calls = resolves.calls, 0
    fast_workspace = make_fast_workspace(db)
    data = jsonl(lines, FAST_MP, FAST_OA)
    if pipelined:
        fast = import_pipelined(db, fast_workspace, data, chunk=chunk)
    else:
        fast = import_lines(db, fast_workspace, data, fast=True, chunk=chunk)

    expected = snapshot(db, workspace_id, slow, {mp_app.appid: "MP", oa_app.appid: "OA"})
    got = snapshot(db, fast_workspace, fast, {FAST_MP: "MP", FAST_OA: "OA"})
    for part in expected:
        assert got[part] == expected[part], part
    # The scenario exercises merges, conflicts and refusals; the fast path skipped most calls.
    assert expected["merges"]
    assert expected["conflicts"]
    assert {code for _line, code in expected["rejected"]} >= {
        "events.invalid",
        "identity.unionid_mismatch",
    }
    assert resolves.calls < slow_calls / 2
    # And the events are stored as given (COPY or executemany: the same values come back).
    rejected = {line for line, _code in got["rejected"]}
    given = Counter(
        (e["event"], datetime.fromisoformat(e["ts"]), e.get("channel"), orjson.dumps(e["props"]))
        for n, e in enumerate(lines, start=1)
        if n not in rejected
    )
    stored: Counter[tuple[Any, ...]] = Counter()
    for (_member, _origin, *event), count in got["events"].items():
        stored[tuple(event)] += count
    assert stored == given


def test_first_chunk_cases_resolve_as_expected(
    db: Database,
    workspace_id: int,
    mp_app: AppRead,
    oa_app: AppRead,
) -> None:
    """Spot checks of the scenario's first two chunks through the fast path."""
    data = jsonl(scenario()[:20], mp_app.appid, oa_app.appid)
    report = import_lines(db, workspace_id, data, fast=True)
    snap = snapshot(db, workspace_id, report, {mp_app.appid: "MP", oa_app.appid: "OA"})
    owner = {(k, app, v): n for n, k, app, v, _secret in snap["identities"]}
    a, b, c, d, e = (owner["openid", "MP", openid(n)] for n in range(1, 6))
    # A, seen without UnionID in chunk 1, gains it in chunk 2; openid 7 joins by that UnionID.
    assert owner["unionid", "", openid(1, "u")] == a == owner["openid", "OA", openid(7)]
    # E: first without, then with a phone, then with a UnionID, all in chunk 2: one member.
    assert owner["unionid", "", openid(5, "u")] == e
    # F and openid 9 (chunk 2) bring B's phone (chunk 1): new openids joining B, no new member.
    assert owner["openid", "MP", openid(6)] == b == owner["openid", "OA", openid(9)]
    assert snap["merges"] == []
    # D on the OA is a member of its own; on the MP it carries C's UnionID: C, with a phone.
    assert owner["openid", "OA", openid(4)] != c == owner["unionid", "", openid(2, "u")] == d
    assert sorted(n for n, kind, *_rest in snap["identities"] if kind == "phone") == [b, c, e]
    assert snap["created"] == len(snap["members"]) == 6  # A, B, C, D (OA), E, openid 8
    assert snap["accepted"] == 18
    assert [code for _line, code in snap["rejected"]] == ["events.invalid", "events.invalid"]


def test_concurrent_writer_falls_back_to_the_slow_path(
    db: Database,
    workspace_id: int,
    mp_app: AppRead,
    oa_app: AppRead,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A key written by someone else after the lookup: the chunk is redone one by one."""
    lines = scenario()[:40]
    slow = import_lines(db, workspace_id, jsonl(lines, mp_app.appid, oa_app.appid), fast=False)
    fast_workspace = make_fast_workspace(db)
    data = jsonl(lines, FAST_MP, FAST_OA)
    importer = EventImport(fast_workspace)
    chunks = list(chunked(read_lines(data), 10))
    with db.session_scope() as session:
        importer.import_chunk(session, chunks[0])
    # Chunk 2's lookup misses what exists (as if written between lookup and insert).
    real_owners = bulk_import._owners
    monkeypatch.setattr(bulk_import, "_owners", lambda *args: {})
    resolves = _Counting(monkeypatch)
    redone: list[bool] = []
    forget = EventImport._forget

    def forgetting(importer: EventImport, attempt: Any) -> None:
        redone.append(True)
        forget(importer, attempt)

    monkeypatch.setattr(EventImport, "_forget", forgetting)
    with db.session_scope() as session:
        importer.import_chunk(session, chunks[1])
    assert redone == [True]  # the bulk insert failed and the chunk was redone one by one
    assert resolves.calls > 0
    monkeypatch.setattr(bulk_import, "_owners", real_owners)
    for chunk in chunks[2:]:
        with db.session_scope() as session:
            importer.import_chunk(session, chunk)

    expected = snapshot(db, workspace_id, slow, {mp_app.appid: "MP", oa_app.appid: "OA"})
    got = snapshot(db, fast_workspace, importer.report, {FAST_MP: "MP", FAST_OA: "OA"})
    assert got == expected
