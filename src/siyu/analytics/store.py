"""The analytics store: a columnar copy of the timeline, in one of three engines behind one
small interface (DDL, a read with a time budget, a writer that inserts, deletes and compacts).

- **DuckDB** (default): a file under `data_dir`, no server. DuckDB lets one process write a
  file, or several processes read it, never both at once. So nobody keeps it open: every read
  opens it read-only under a shared `flock` on a lock file beside it, every write (the sync
  job, in the worker; `siyu analytics sync`) opens it read-write under an exclusive one. A
  read waits for a sync batch to finish (a batch is short) and never the other way round for
  long.
- **chDB**: ClickHouse in-process (a directory); the engine CI runs ClickHouse's SQL on.
- **ClickHouse** over HTTP, for a brand that outgrows one machine (`clickhouse://…`).

Queries arrive in the store's own dialect from `queries.py`; nothing else writes SQL for it.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from siyu.analytics import errors
from siyu.core.config import Settings

COLUMNS: tuple[tuple[str, str, str], ...] = (
    # name, DuckDB type, ClickHouse type
    ("id", "BIGINT", "Int64"),
    ("workspace_id", "BIGINT", "Int64"),
    ("member_id", "BIGINT", "Int64"),
    ("origin_member_id", "BIGINT", "Int64"),
    ("app_id", "BIGINT", "Nullable(Int64)"),
    ("app_kind", "VARCHAR", "LowCardinality(String)"),
    ("name", "VARCHAR", "LowCardinality(String)"),
    ("ts", "TIMESTAMP", "DateTime64(6)"),
    ("channel", "VARCHAR", "Nullable(String)"),
    ("props", "VARCHAR", "String"),
)

ARROW_SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("workspace_id", pa.int64()),
        ("member_id", pa.int64()),
        ("origin_member_id", pa.int64()),
        ("app_id", pa.int64()),
        ("app_kind", pa.string()),
        ("name", pa.string()),
        ("ts", pa.timestamp("us")),
        ("channel", pa.string()),
        ("props", pa.string()),
    ]
)


class Writer(Protocol):
    def insert(self, batch: pa.Table) -> None: ...
    def delete_members(self, workspace_id: int, member_ids: Sequence[int]) -> None: ...
    def delete_ids(self, ids: Sequence[int]) -> None: ...
    def present_ids(self, low: int, high: int) -> set[int]: ...
    def get_state(self, key: str) -> int: ...
    def set_state(self, key: str, value: int) -> None: ...
    def compact(self) -> None: ...


class Store(Protocol):
    dialect: str
    budget_s: float

    def read(self, sql: str, budget_s: float | None = None) -> list[tuple[Any, ...]]: ...
    def read_many(self, sqls: Sequence[str]) -> list[list[tuple[Any, ...]]]: ...
    def writer(self) -> contextlib.AbstractContextManager[Writer]: ...
    def describe(self) -> str: ...


# --- DuckDB -----------------------------------------------------------------------------


@dataclass
class DuckDBStore:
    path: Path
    # Test hook: store strings uncompressed, so that a test can look for a value in the file.
    uncompressed: bool = False
    dialect: str = "duckdb"
    budget_s: float = 10.0

    def describe(self) -> str:
        return f"duckdb:{self.path}"

    @contextlib.contextmanager
    def _locked(self, exclusive: bool) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _connect(self, read_only: bool) -> Any:
        import duckdb

        conn = duckdb.connect(str(self.path), read_only=read_only)
        if self.uncompressed and not read_only:
            conn.execute("PRAGMA force_compression='uncompressed'")
        return conn

    def _ensure(self) -> None:
        if self.path.exists():
            return
        with self._locked(exclusive=True):
            conn = self._connect(read_only=False)
            try:
                _create_duckdb(conn)
            finally:
                conn.close()

    def read(self, sql: str, budget_s: float | None = None) -> list[tuple[Any, ...]]:
        return self._read([sql], budget_s or self.budget_s)[0]

    def read_many(self, sqls: Sequence[str]) -> list[list[tuple[Any, ...]]]:
        """Several queries on one opening of the file, within one budget."""
        return self._read(sqls, self.budget_s)

    def _read(self, sqls: Sequence[str], budget_s: float) -> list[list[tuple[Any, ...]]]:
        import duckdb

        self._ensure()
        with self._locked(exclusive=False):
            deadline = time.monotonic() + budget_s
            conn = self._connect(read_only=True)
            timer = threading.Timer(budget_s, conn.interrupt)
            timer.start()
            over = errors.QUERY_BUDGET(
                f"the query ran past its budget of {budget_s:g} s and was stopped",
                seconds=f"{budget_s:g}",
            )
            try:
                results = []
                for sql in sqls:
                    # The timer interrupts a running query; a budget spent before the next
                    # one starts (an interrupt between queries does nothing) stops it here.
                    if time.monotonic() >= deadline:
                        raise over
                    results.append([tuple(r) for r in conn.execute(sql).fetchall()])
                return results
            except duckdb.InterruptException as exc:
                raise over from exc
            finally:
                timer.cancel()
                conn.close()

    @contextlib.contextmanager
    def writer(self) -> Iterator[Writer]:
        with self._locked(exclusive=True):
            conn = self._connect(read_only=False)
            try:
                _create_duckdb(conn)
                conn.execute("BEGIN")
                writer = _DuckDBWriter(conn, self)
                yield writer
                conn.execute("COMMIT")
                if writer.compact_wanted:
                    conn.close()
                    conn = None
                    self._rewrite()
            finally:
                if conn is not None:
                    conn.close()

    def _rewrite(self) -> None:
        """Copy the live rows into a new file and put it in place: DuckDB leaves deleted or
        updated values in freed blocks of the file, and an erased value must not survive."""
        import duckdb

        fresh = self.path.with_name(self.path.name + ".compact")
        fresh.unlink(missing_ok=True)
        conn = duckdb.connect(":memory:")
        try:
            conn.execute(f"ATTACH '{_quote_path(self.path)}' AS old")
            conn.execute(f"ATTACH '{_quote_path(fresh)}' AS fresh")
            if self.uncompressed:
                conn.execute("PRAGMA force_compression='uncompressed'")
            conn.execute("COPY FROM DATABASE old TO fresh")
            conn.execute("DETACH old")
            conn.execute("DETACH fresh")
        finally:
            conn.close()
        Path(f"{self.path}.wal").unlink(missing_ok=True)
        fresh.replace(self.path)


def _quote_path(path: Path) -> str:
    return str(path).replace("'", "''")


def _create_duckdb(conn: Any) -> None:
    cols = ", ".join(f"{name} {duck}" for name, duck, _ in COLUMNS)
    conn.execute(f"CREATE TABLE IF NOT EXISTS events ({cols})")
    conn.execute("CREATE TABLE IF NOT EXISTS sync_state (key VARCHAR PRIMARY KEY, value BIGINT)")


class _DuckDBWriter:
    def __init__(self, conn: Any, store: DuckDBStore) -> None:
        self.conn = conn
        self.store = store
        self.compact_wanted = False

    def insert(self, batch: pa.Table) -> None:
        self.conn.register("incoming", batch)
        try:
            self.conn.execute("INSERT INTO events SELECT * FROM incoming")
        finally:
            self.conn.unregister("incoming")

    def delete_members(self, workspace_id: int, member_ids: Sequence[int]) -> None:
        ids = [int(i) for i in member_ids]
        self.conn.execute(
            "DELETE FROM events WHERE workspace_id = ? AND (list_contains(?, member_id)"
            " OR list_contains(?, origin_member_id))",
            [workspace_id, ids, ids],
        )

    def delete_ids(self, ids: Sequence[int]) -> None:
        self.conn.execute("DELETE FROM events WHERE list_contains(?, id)", [list(ids)])

    def present_ids(self, low: int, high: int) -> set[int]:
        rows = self.conn.execute(
            "SELECT id FROM events WHERE id > ? AND id <= ?", [low, high]
        ).fetchall()
        return {int(r[0]) for r in rows}

    def get_state(self, key: str) -> int:
        row = self.conn.execute("SELECT value FROM sync_state WHERE key = ?", [key]).fetchone()
        return int(row[0]) if row else 0

    def set_state(self, key: str, value: int) -> None:
        self.conn.execute(
            "INSERT INTO sync_state VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = ?",
            [key, value, value],
        )

    def compact(self) -> None:
        self.compact_wanted = True


# --- ClickHouse (chDB in-process, or a server over HTTP) -------------------------------


class _ClickHouseBase:
    dialect = "clickhouse"
    budget_s = 10.0
    _lock = threading.Lock()

    def _run(self, sql: str, body: bytes | None = None) -> list[list[Any]]:
        raise NotImplementedError

    def _ensure(self) -> None:
        cols = ", ".join(f"{name} {ch}" for name, _, ch in COLUMNS)
        self._run(
            f"CREATE TABLE IF NOT EXISTS events ({cols}) ENGINE = MergeTree"
            " ORDER BY (workspace_id, name, ts, id)"
        )
        self._run(
            "CREATE TABLE IF NOT EXISTS sync_state (key String, value Int64)"
            " ENGINE = ReplacingMergeTree ORDER BY key"
        )

    def read(self, sql: str, budget_s: float | None = None) -> list[tuple[Any, ...]]:
        budget_s = budget_s or self.budget_s
        self._ensure()
        settings = f" SETTINGS max_execution_time={budget_s:g}, join_use_nulls=1"
        try:
            return [tuple(r) for r in self._run(sql + settings)]
        except RuntimeError as exc:
            if "TIMEOUT_EXCEEDED" in str(exc):
                raise errors.QUERY_BUDGET(
                    f"the query ran past its budget of {budget_s:g} s and was stopped",
                    seconds=f"{budget_s:g}",
                ) from exc
            raise

    def read_many(self, sqls: Sequence[str]) -> list[list[tuple[Any, ...]]]:
        return [self.read(sql) for sql in sqls]

    @contextlib.contextmanager
    def writer(self) -> Iterator[Writer]:
        with self._lock:
            self._ensure()
            yield _ClickHouseWriter(self)


class _ClickHouseWriter:
    def __init__(self, store: _ClickHouseBase) -> None:
        self.store = store

    def insert(self, batch: pa.Table) -> None:
        sink = pa.BufferOutputStream()
        pq.write_table(batch, sink)
        self.store._run("INSERT INTO events FORMAT Parquet", sink.getvalue().to_pybytes())

    def delete_members(self, workspace_id: int, member_ids: Sequence[int]) -> None:
        ids = ", ".join(str(int(i)) for i in member_ids) or "NULL"
        self.store._run(
            f"DELETE FROM events WHERE workspace_id = {int(workspace_id)}"
            f" AND (member_id IN ({ids}) OR origin_member_id IN ({ids}))"
        )

    def delete_ids(self, ids: Sequence[int]) -> None:
        listed = ", ".join(str(int(i)) for i in ids) or "NULL"
        self.store._run(f"DELETE FROM events WHERE id IN ({listed})")

    def present_ids(self, low: int, high: int) -> set[int]:
        rows = self.store._run(f"SELECT id FROM events WHERE id > {int(low)} AND id <= {int(high)}")
        return {int(r[0]) for r in rows}

    def get_state(self, key: str) -> int:
        rows = self.store._run(
            f"SELECT value FROM sync_state FINAL WHERE key = '{_ch_string(key)}'"
        )
        return int(rows[0][0]) if rows else 0

    def set_state(self, key: str, value: int) -> None:
        self.store._run(f"INSERT INTO sync_state VALUES ('{_ch_string(key)}', {int(value)})")

    def compact(self) -> None:
        # Lightweight deletes only mask rows; OPTIMIZE … FINAL rewrites the parts without them.
        self.store._run("OPTIMIZE TABLE events FINAL")


def _ch_string(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


_chdb_sessions: dict[str, Any] = {}
_chdb_guard = threading.Lock()


@dataclass
class ChDBStore(_ClickHouseBase):
    path: Path

    def describe(self) -> str:
        return f"chdb:{self.path}"

    def _session(self) -> Any:
        import chdb.session

        key = str(self.path)
        session = _chdb_sessions.get(key)
        if session is None:
            # chDB holds one session per process: a store at another path replaces it.
            for old in list(_chdb_sessions):
                _chdb_sessions.pop(old).close()
            self.path.mkdir(parents=True, exist_ok=True)
            session = _chdb_sessions[key] = chdb.session.Session(key)  # type: ignore[no-untyped-call]
        return session

    def _run(self, sql: str, body: bytes | None = None) -> list[list[Any]]:
        with _chdb_guard:
            session = self._session()
            try:
                if body is not None:
                    with tempfile.NamedTemporaryFile(suffix=".parquet") as tmp:
                        tmp.write(body)
                        tmp.flush()
                        table = sql.split("INSERT INTO ", 1)[1].split(" ", 1)[0]
                        session.query(
                            f"INSERT INTO {table} SELECT * FROM file('{tmp.name}', Parquet)"
                        )
                    return []
                result = session.query(sql, "JSONCompact")
            except Exception as exc:
                raise RuntimeError(str(exc)) from exc
        raw = result.bytes()
        return list(orjson.loads(raw)["data"]) if raw else []


@dataclass
class ClickHouseHTTPStore(_ClickHouseBase):
    """A ClickHouse server (or a cluster's load balancer) over its HTTP interface."""

    url: str
    database: str
    user: str | None = None
    password: str | None = None

    def describe(self) -> str:
        return f"clickhouse:{self.url}/{self.database}"

    def _run(self, sql: str, body: bytes | None = None) -> list[list[Any]]:
        import httpx

        params = {"database": self.database, "default_format": "JSONCompact"}
        auth = (self.user or "default", self.password or "")
        if body is None:
            response = httpx.post(self.url, params=params, content=sql, auth=auth, timeout=600)
        else:
            response = httpx.post(
                self.url, params={**params, "query": sql}, content=body, auth=auth, timeout=600
            )
        if response.status_code != 200:
            raise RuntimeError(response.text[:500])
        return list(orjson.loads(response.content)["data"]) if response.content.strip() else []


def open_store(settings: Settings) -> Store:
    """The store the settings name (`SIYU_ANALYTICS_URL`), with their query budget."""
    store = _open(settings)
    store.budget_s = settings.analytics_query_budget_s
    return store


def _open(settings: Settings) -> Store:
    url = settings.analytics_url
    if not url:
        return DuckDBStore(settings.data_dir / "analytics.duckdb")
    parts = urlsplit(url)
    if parts.scheme == "duckdb":
        return DuckDBStore(Path(parts.path))
    if parts.scheme == "chdb":
        return ChDBStore(Path(parts.path))
    if parts.scheme in ("clickhouse", "clickhouse+http", "clickhouse+https"):
        scheme = "https" if parts.scheme.endswith("https") else "http"
        host = f"{parts.hostname}:{parts.port or (8443 if scheme == 'https' else 8123)}"
        return ClickHouseHTTPStore(
            url=f"{scheme}://{host}/",
            database=parts.path.strip("/") or "default",
            user=parts.username,
            password=parts.password,
        )
    raise ValueError(f"SIYU_ANALYTICS_URL: unknown scheme {parts.scheme!r}")


def to_arrow(rows: Sequence[tuple[Any, ...]]) -> pa.Table:
    """Rows in COLUMNS order (ts naive UTC) as the store's Arrow batch."""
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in COLUMNS]
    return pa.Table.from_arrays(
        [
            pa.array(list(col), type=field.type)
            for col, field in zip(columns, ARROW_SCHEMA, strict=True)
        ],
        schema=ARROW_SCHEMA,
    )


_CSV_COLUMNS = [f.name for f in ARROW_SCHEMA if f.name != "app_kind"]


def from_csv(data: bytes, kinds: dict[int, str]) -> pa.Table:
    """CSV of the store's columns but app_kind (COPY TO STDOUT) as the store's Arrow batch,
    app_kind filled from `kinds` (app id → kind), else from the event's name."""
    import pyarrow.compute as pc
    from pyarrow import csv

    if not data:
        return ARROW_SCHEMA.empty_table()
    types = {f.name: f.type for f in ARROW_SCHEMA if f.name != "app_kind"}
    table = csv.read_csv(
        io.BytesIO(data),
        read_options=csv.ReadOptions(column_names=_CSV_COLUMNS, block_size=1 << 24),
        convert_options=csv.ConvertOptions(
            column_types=types, strings_can_be_null=True, quoted_strings_can_be_null=False
        ),
    )
    apps = table["app_id"]
    known = pc.take(
        pa.array(list(kinds.values()), pa.string()),
        pc.index_in(apps, value_set=pa.array(list(kinds), pa.int64())),
    )
    names = table["name"]
    by_name = pc.if_else(
        pc.starts_with(names, "oa."),
        "oa",
        pc.if_else(pc.starts_with(names, "mp."), "mp", "other"),
    )
    kind = pc.if_else(pc.is_null(apps), by_name, pc.fill_null(known, "other"))
    return table.add_column(5, "app_kind", kind).cast(ARROW_SCHEMA)


def naive_utc(value: datetime) -> datetime:
    """A timestamp as the store keeps it: UTC without a zone."""
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
