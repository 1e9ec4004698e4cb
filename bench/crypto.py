"""Benchmark of field encryption and key rotation, each against a raw baseline of the same run.

    .venv/bin/python bench/crypto.py                         # 100,000 members, 1,000,000 values
    .venv/bin/python bench/crypto.py --members 20000 --rows 100000   # a quick run

  a. encrypting then decrypting the personal fields (phone, name, address) of `--members`
     members with siyu's `FieldCipher` (key id, context, base64 text) against raw AES-256-GCM
     from `cryptography` on the same plaintexts with the same key;
  b. the latency a page of 50 members adds by decrypting: the members page read through
     `identity.service.search_members` on PostgreSQL, timed with the real cipher and with a
     pass-through one, on the same rows (target: under 5 ms added);
  c. `siyu keys rotate` over `--rows` encrypted values on PostgreSQL (`security.service.rotation`,
     one transaction per batch, compare-and-swap updates), against psycopg executemany UPDATEs
     of the same rows with precomputed values in batches of the same size.

The PostgreSQL database `siyu_bench_crypto` is dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta

import psycopg
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import siyu.api.app  # noqa: F401 - every model, so that every encrypted column is known
from siyu.core import crypto
from siyu.core.config import Settings
from siyu.core.crypto import FieldCipher, configure_crypto, generate_data_key, parse_data_keys
from siyu.core.db import Database
from siyu.migrations import upgrade

PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
PG_DB = "siyu_bench_crypto"
TARGET_PAGE_MS = 5.0
PAGE = 50
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英"
STREETS = ["幸福路", "人民路", "解放路", "中山路", "建设路", "和平街", "文化路"]


def _settings(keys: str) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        env="test",
        database_url=f"{PG_SERVER}/{PG_DB}",
        secret_key="bench-secret-key-0123456789abcdef",
        data_keys=keys,
        lookup_key="bench-lookup-key-0123456789abcdef",
    )


def personal_fields(members: int, seed: int) -> list[tuple[str, str, str]]:
    rng = random.Random(seed)
    return [
        (
            f"+861{rng.choice('3456789')}{rng.randrange(10**9):09d}",
            rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.randint(1, 2))),
            f"{rng.choice(['北京市', '上海市', '广州市', '成都市'])}"
            f"{rng.choice(STREETS)}{rng.randint(1, 999)}号{rng.randint(1, 30)}楼",
        )
        for _ in range(members)
    ]


# --- a. encrypt + decrypt ------------------------------------------------------------------


def bench_fields(members: int, seed: int) -> tuple[float, float]:
    fields = personal_fields(members, seed)
    contexts = ("identities.secret", "members.name", "members.address")
    key = os.urandom(32)
    cipher = FieldCipher("k1", {"k1": key})
    aes = AESGCM(key)
    ctx = [c.encode() for c in contexts]

    started = time.perf_counter()
    for row in fields:
        for value, context in zip(row, contexts, strict=True):
            token = cipher.encrypt(value, context)
            assert cipher.decrypt(token, context) == value
    siyu_s = time.perf_counter() - started

    started = time.perf_counter()
    for row in fields:
        for value, aad in zip(row, ctx, strict=True):
            nonce = os.urandom(12)
            sealed = aes.encrypt(nonce, value.encode(), aad)
            assert aes.decrypt(nonce, sealed, aad).decode() == value
    raw_s = time.perf_counter() - started
    return siyu_s, raw_s


# --- PostgreSQL ----------------------------------------------------------------------------


def create_db() -> str:
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{PG_DB}"')
    url = f"{PG_SERVER}/{PG_DB}"
    upgrade(url)
    return url


def drop_db() -> None:
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')


# --- b. a page of 50 members ---------------------------------------------------------------


class PassThrough(FieldCipher):
    """A cipher that leaves stored text as it is: the same page without decryption."""

    def decrypt(self, token: str, context: str) -> str:
        return token


def seed_members(db: Database, members: int, seed: int) -> int:
    """Members with an openid, a UnionID and a phone each, through the fast import path."""
    import orjson

    from siyu.identity.service.importer import EventImport, chunked
    from siyu.workspaces import service as workspaces
    from siyu.workspaces.enums import AppKind
    from siyu.workspaces.schemas import AppCreate

    with db.session_scope() as session:
        ws = workspaces.create_workspace(session, "bench").id
        workspaces.add_app(
            session, ws, AppCreate(kind=AppKind.mp, appid="wx0123456789abcdef", name="mp")
        )
    now = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    fields = personal_fields(members, seed)
    lines = (
        (
            n + 1,
            orjson.dumps(
                {
                    "event": "mp.login",
                    "ts": now,
                    "appid": "wx0123456789abcdef",
                    "openid": f"o{n:027d}",
                    "unionid": f"u{n:027d}",
                    "phone": fields[n][0],
                }
            ),
        )
        for n in range(members)
    )
    importer = EventImport(ws)
    for chunk in chunked(lines):
        with db.session_scope() as session:
            importer.import_chunk(session, chunk)
    # This server runs without autovacuum: without statistics the page's queries would be
    # planned for empty tables (a production server has them analyzed by autovacuum).
    with db.engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE members, identities")
        conn.commit()
    return ws


def read_page(db: Database, workspace_id: int) -> float:
    from siyu.identity import service as identity

    started = time.perf_counter()
    with db.session_scope() as session:
        page = identity.search_members(session, workspace_id, limit=PAGE)
    elapsed = (time.perf_counter() - started) * 1000
    assert len(page) == PAGE
    assert all(i.phone_masked for m in page for i in m.identities if i.kind == "phone")
    return elapsed


def bench_page(
    db: Database, settings: Settings, workspace_id: int, rounds: int
) -> tuple[float, float]:
    """The same page read with and without decryption, alternating call by call."""
    current, keys = parse_data_keys(settings.data_keys.get_secret_value())
    real_cipher, plain_cipher = FieldCipher(current, keys), PassThrough(current, keys)
    for _ in range(50):  # warm the caches and the pool
        read_page(db, workspace_id)
    real, plain = [], []
    for _ in range(rounds):
        crypto._cipher = real_cipher
        real.append(read_page(db, workspace_id))
        crypto._cipher = plain_cipher
        plain.append(read_page(db, workspace_id))
    configure_crypto(settings)
    return statistics.median(real), statistics.median(plain)


# --- c. rotation ---------------------------------------------------------------------------


def seed_values(url: str, rows: int, cipher: FieldCipher) -> None:
    now = datetime.now(UTC)
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        with cur.copy(
            "COPY wechat_access_tokens (appid, token, expires_at, refreshed_at) FROM STDIN"
        ) as copy:
            for n in range(rows):
                token = cipher.encrypt(f"access-token-{n:012d}", "wechat_access_tokens.token")
                copy.write_row((f"wx{n:016x}", token, now, now))
        conn.commit()
        cur.execute("ANALYZE wechat_access_tokens")
        conn.commit()


def bench_rotation(db: Database, settings: Settings, batch: int) -> tuple[int, float]:
    from siyu.security import service as security

    with db.session_scope() as session:
        run = security.start_rotation(session, "bench")
    rewritten = 0
    started = time.perf_counter()
    while True:
        with db.session_scope() as session:
            result = security.rotation_step(session, run.id, batch)
        if result.column is None:
            break
        rewritten += result.rewritten
    seconds = time.perf_counter() - started
    with db.session_scope() as session:
        assert sum(security.rotation_pending(session).values()) == 0
    return rewritten, seconds


def bench_baseline(url: str, batch: int) -> tuple[int, float]:
    """Read the same rows in primary key order and UPDATE each with a precomputed value."""
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT appid, token FROM wechat_access_tokens ORDER BY appid")
        rows = [(appid, token[::-1]) for appid, token in cur.fetchall()]
    started = time.perf_counter()
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        last = ""
        done = 0
        while True:
            cur.execute(
                "SELECT appid, token FROM wechat_access_tokens WHERE appid > %s "
                "ORDER BY appid LIMIT %s",
                (last, batch),
            )
            found = cur.fetchall()
            if not found:
                break
            updates = [(rows[done + i][1], appid) for i, (appid, _t) in enumerate(found)]
            cur.executemany("UPDATE wechat_access_tokens SET token = %s WHERE appid = %s", updates)
            conn.commit()
            done += len(found)
            last = found[-1][0]
    return done, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000, help="members for a. and b.")
    parser.add_argument("--rows", type=int, default=1_000_000, help="encrypted values for c.")
    parser.add_argument("--batch", type=int, default=1000, help="rotation values per commit")
    parser.add_argument("--page-rounds", type=int, default=500, help="page reads for b.")
    parser.add_argument("--seed", type=int, default=20261120)
    args = parser.parse_args()

    siyu_s, raw_s = bench_fields(args.members, args.seed)
    ops = args.members * 3
    print(f"a. encrypt+decrypt phone, name, address of {args.members:,} members ({ops:,} values):")
    print(
        f"  siyu FieldCipher {siyu_s:.2f}s ({ops / siyu_s:,.0f} values/s), "
        f"raw AESGCM {raw_s:.2f}s ({ops / raw_s:,.0f} values/s); "
        f"ratio siyu/raw {raw_s / siyu_s:.0%}, "
        f"{1e6 * (siyu_s - raw_s) / ops:.1f} µs added per value",
        flush=True,
    )

    old = f"old:{generate_data_key()}"
    settings = _settings(old)
    configure_crypto(settings)
    url = create_db()
    db = Database(url)
    problems: list[str] = []
    try:
        page_members = args.members
        started = time.perf_counter()
        workspace_id = seed_members(db, page_members, args.seed)
        print(
            f"b. {page_members:,} members with phone identities loaded in "
            f"{time.perf_counter() - started:.0f}s",
            flush=True,
        )
        real_ms, plain_ms = bench_page(db, settings, workspace_id, args.page_rounds)
        added = real_ms - plain_ms
        print(
            f"  page of {PAGE} members (median of {args.page_rounds}): {real_ms:.2f} ms with "
            f"decryption, {plain_ms:.2f} ms without: {added:.2f} ms added "
            f"(target < {TARGET_PAGE_MS:.0f} ms)",
            flush=True,
        )
        if added >= TARGET_PAGE_MS:
            problems.append(f"decryption adds {added:.2f} ms to a page")

        current, keys = parse_data_keys(old)
        started = time.perf_counter()
        seed_values(url, args.rows, FieldCipher(current, keys))
        print(
            f"c. {args.rows:,} encrypted values written (COPY) in "
            f"{time.perf_counter() - started:.0f}s",
            flush=True,
        )
        rotated = _settings(f"new:{generate_data_key()},{old}")
        configure_crypto(rotated)
        rewritten, seconds = bench_rotation(db, rotated, args.batch)
        done, base_s = bench_baseline(url, args.batch)
        print(
            f"  siyu keys rotate: {rewritten:,} values re-encrypted in {seconds:.1f}s "
            f"({rewritten / seconds:,.0f} rows/s, batches of {args.batch})"
        )
        print(
            f"  baseline psycopg executemany UPDATE, same batches, no crypto: {done:,} rows in "
            f"{base_s:.1f}s ({done / base_s:,.0f} rows/s); ratio siyu/baseline "
            f"{(rewritten / seconds) / (done / base_s):.0%}",
            flush=True,
        )
    finally:
        db.dispose()
        drop_db()
    for problem in problems:
        print(f"  PROBLEM: {problem}")
    print("result:", "PASS" if not problems else "BELOW TARGET")
    return 0


if __name__ == "__main__":
    sys.exit(main())
