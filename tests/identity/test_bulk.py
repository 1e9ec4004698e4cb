"""Bulk writes (COPY or executemany) and the pipelined event writer of the import."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select, text

from siyu.core.db import Database
from siyu.identity import bulk
from siyu.identity.bulk import PipelinedWriter, insert_rows
from siyu.identity.models import Member, TimelineEvent
from siyu.identity.service.importer import EVENT_COLUMNS, chunked, pipelined_import, read_lines
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

CST = timezone(timedelta(hours=8))


def _count(db: Database, model: Any, workspace_id: int) -> int:
    with db.session_scope() as session:
        return (
            session.scalar(
                select(func.count()).select_from(model).where(model.workspace_id == workspace_id)
            )
            or 0
        )


def _lines(first: int, count: int, appid: str) -> list[bytes]:
    ts = datetime(2026, 6, 1, 9, tzinfo=CST)
    return [
        orjson.dumps(
            {
                "event": "mp.page_view",
                "ts": (ts + timedelta(minutes=n)).isoformat(),
                "appid": appid,
                "openid": openid(n),
                "props": {"n": n},
            }
        )
        for n in range(first, first + count)
    ]


def test_insert_rows_stores_what_the_orm_reads_back(
    db: Database, workspace_id: int, mp_app: AppRead
) -> None:
    # Given events with a zone other than UTC, nested and non-ASCII props, a null channel
    # and one time received for all (a constant column, converted once)
    received = datetime(2026, 6, 2, tzinfo=UTC)
    rows = [
        (workspace_id, 7, 7, mp_app.id, "mp.page_view", datetime(2026, 6, 1, 9, tzinfo=CST),
         None, {"页面": "首页", "tags": [1, 2.5, None, True]}, received),
        (workspace_id, 8, 7, None, "pay.paid", datetime(2026, 6, 1, 1, tzinfo=UTC),
         "海报", {}, received),
    ]  # fmt: skip
    # When they are written in bulk
    with db.session_scope() as session:
        insert_rows(session.connection(), TimelineEvent.__table__, EVENT_COLUMNS, rows)
    # Then the ORM reads back exactly those values
    with db.session_scope() as session:
        stored = session.scalars(select(TimelineEvent).order_by(TimelineEvent.ts.desc())).all()
        got = [
            (e.workspace_id, e.member_id, e.origin_member_id, e.app_id, e.name, e.ts, e.channel,
             e.props, e.received_at)
            for e in stored
        ]  # fmt: skip
    assert got == rows
    assert all(e.ts.tzinfo is not None for e in stored)


class _HeldWrites:
    """Holds each pipelined write back until the next one is handed over, or the import
    settles or ends: the widest window in which a merge could miss events not yet written."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.gates: list[threading.Event] = []
        self.taken = 0
        self.settles = 0
        submit, settle, close, write = (
            PipelinedWriter.submit,
            PipelinedWriter.settle,
            PipelinedWriter.close,
            PipelinedWriter._write,
        )

        def held_submit(writer: PipelinedWriter, *args: Any) -> None:
            self._release()
            self.gates.append(threading.Event())
            submit(writer, *args)

        def held_settle(writer: PipelinedWriter) -> None:
            self.settles += 1
            self._release()
            settle(writer)

        def held_close(writer: PipelinedWriter, **kwargs: Any) -> None:
            self._release()
            close(writer, **kwargs)

        def held_write(writer: PipelinedWriter, pending: Any) -> None:
            gate = self.gates[self.taken]
            self.taken += 1
            gate.wait()
            write(writer, pending)

        monkeypatch.setattr(PipelinedWriter, "submit", held_submit)
        monkeypatch.setattr(PipelinedWriter, "settle", held_settle)
        monkeypatch.setattr(PipelinedWriter, "close", held_close)
        monkeypatch.setattr(PipelinedWriter, "_write", held_write)

    def _release(self) -> None:
        for gate in self.gates:
            gate.set()


@pytest.mark.postgres_only
def test_a_merge_waits_for_the_events_handed_over(
    db: Database,
    workspace_id: int,
    mp_app: AppRead,
    oa_app: AppRead,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given chunks whose merges move members' events written by earlier chunks, and a writer
    # that writes each chunk's events only once the next chunk is resolved
    lines = scenario(7)
    slow = import_lines(db, workspace_id, jsonl(lines, mp_app.appid, oa_app.appid), fast=False)
    held = _HeldWrites(monkeypatch)
    # When the same lines are imported through the pipelined writer
    fast_workspace = make_fast_workspace(db)
    fast = import_pipelined(db, fast_workspace, jsonl(lines, FAST_MP, FAST_OA))
    # Then each merge waited for the events handed over, and moved them with the member
    expected = snapshot(db, workspace_id, slow, {mp_app.appid: "MP", oa_app.appid: "OA"})
    got = snapshot(db, fast_workspace, fast, {FAST_MP: "MP", FAST_OA: "OA"})
    assert expected["merges"]
    assert got["events"] == expected["events"]
    assert got == expected
    assert held.settles > 0


@pytest.mark.postgres_only
def test_a_rolled_back_chunk_takes_its_events_with_it(
    db: Database, workspace_id: int, mp_app: AppRead
) -> None:
    # Given an import whose first chunk commits
    data = _lines(1, 30, mp_app.appid)
    chunks = list(chunked(read_lines(data), 20))
    with (  # noqa: PT012 - the failure is the second chunk's, after the first committed
        pytest.raises(RuntimeError, match="the entrypoint failed"),
        pipelined_import(db, workspace_id) as importer,
    ):
        assert importer.writer is not None
        with db.session_scope() as session:
            importer.import_chunk(session, chunks[0])
        # When the second chunk's transaction fails after its events were handed over
        with db.session_scope() as session:
            importer.import_chunk(session, chunks[1])
            raise RuntimeError("the entrypoint failed")
    # Then the second chunk wrote nothing: neither its members nor its events
    assert _count(db, TimelineEvent, workspace_id) == 20
    assert _count(db, Member, workspace_id) == 20


@pytest.mark.postgres_only
def test_a_failed_write_stops_the_import(
    db: Database, workspace_id: int, mp_app: AppRead, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a writer whose write fails (its connection dropped, say)
    send = bulk._send_copy

    def failing(*args: Any) -> None:
        if threading.current_thread().name == "siyu-pipelined-writer":
            raise ConnectionError("server closed the connection")
        send(*args)

    monkeypatch.setattr(bulk, "_send_copy", failing)
    chunks = list(chunked(read_lines(_lines(1, 30, mp_app.appid)), 20))
    # When the import goes on to the next chunk
    with (  # noqa: PT012 - the failure shows at the chunk after the write
        pytest.raises(RuntimeError, match="writing events failed") as caught,
        pipelined_import(db, workspace_id) as importer,
    ):
        for chunk in chunks:
            with db.session_scope() as session:
                importer.import_chunk(session, chunk)
    # Then it stops with the cause, and the chunk that noticed it wrote nothing
    assert isinstance(caught.value.__cause__, ConnectionError)
    assert _count(db, TimelineEvent, workspace_id) == 0
    assert _count(db, Member, workspace_id) == 20  # the first chunk's, committed before


def _cut_the_writer(db: Database) -> int:
    """pg_terminate_backend on the writer's connection (its COPY sent, waiting for the
    chunk's commit) in this test's database; how many were cut."""
    waiting = text(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND state = 'idle in transaction' AND query LIKE 'COPY %'"
    )
    with db.engine.connect() as conn:
        pids: list[int] = []
        for _ in range(600):  # until the writer has sent its COPY (a bounded wait)
            pids = list(conn.execute(waiting).scalars())
            conn.rollback()  # pg_stat_activity is read once a transaction: look again anew
            if pids:
                break
            threading.Event().wait(0.01)
        for pid in pids:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        return len(pids)


@pytest.mark.postgres_only
def test_a_write_cut_before_its_commit_is_sent_again_and_no_chunk_is_half(
    db: Database, workspace_id: int, mp_app: AppRead
) -> None:
    # Given an import whose first chunk's events were handed over to the writer
    chunks = list(chunked(read_lines(_lines(1, 30, mp_app.appid)), 20))
    with pipelined_import(db, workspace_id) as importer:
        with db.session_scope() as session:
            importer.import_chunk(session, chunks[0])
            # When the writer's connection is cut (pg_terminate_backend) before the chunk commits
            assert _cut_the_writer(db) == 1
        with db.session_scope() as session:
            importer.import_chunk(session, chunks[1])
    # Then the chunk's events were sent again and committed: every member has its events
    assert _count(db, TimelineEvent, workspace_id) == 30
    assert _count(db, Member, workspace_id) == 30


@pytest.mark.postgres_only
def test_an_error_before_the_chunk_transaction_ends_does_not_hang(
    db: Database, workspace_id: int, mp_app: AppRead
) -> None:
    # Given a chunk imported in a session the caller has not ended yet
    chunk = next(chunked(read_lines(_lines(1, 5, mp_app.appid)), 20))
    session = db.sessions()
    failed: list[BaseException] = []

    def run() -> None:
        try:
            with pipelined_import(db, workspace_id) as importer:
                importer.import_chunk(session, chunk)
                raise RuntimeError("the entrypoint failed")
        except RuntimeError as exc:
            failed.append(exc)

    # When the import stops on an error before that transaction ends
    worker = threading.Thread(target=run)
    worker.start()
    worker.join(timeout=60)  # a guard against a hang, not a timing
    session.rollback()
    session.close()
    # Then it stopped without waiting for the commit, and its events were rolled back
    assert not worker.is_alive()
    assert [str(e) for e in failed] == ["the entrypoint failed"]
    assert _count(db, TimelineEvent, workspace_id) == 0


@pytest.mark.postgres_only
def test_a_second_write_in_one_transaction_is_written_in_it(
    db: Database, workspace_id: int, mp_app: AppRead
) -> None:
    # Given two chunks imported in one transaction (a second pipelined write would wait for
    # a commit that waits for it)
    chunks = list(chunked(read_lines(_lines(1, 30, mp_app.appid)), 20))
    with pipelined_import(db, workspace_id) as importer, db.session_scope() as session:
        for chunk in chunks:
            importer.import_chunk(session, chunk)
    # Then both were written, without a deadlock
    assert _count(db, TimelineEvent, workspace_id) == 30


def test_sqlite_imports_in_the_chunk_transaction(db: Database, workspace_id: int) -> None:
    # SQLite has one writer at a time: a second connection would only wait for the first.
    with pipelined_import(db, workspace_id) as importer:
        assert (importer.writer is not None) == (db.dialect == "postgresql")


@pytest.fixture(autouse=True)
def _no_leftover_writer_threads() -> Iterator[None]:
    yield
    assert not [t for t in threading.enumerate() if t.name == "siyu-pipelined-writer"]
