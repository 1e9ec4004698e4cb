"""Access tokens: cached in the database or Redis, shared by processes, refreshed once, in time.

The scripted stand-in serves stable_token over real HTTP; it can hold a call open, so that the
other workers are provably waiting on the lock while the first one refreshes.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import redis
from sqlalchemy import text

from siyu.core.clock import FrozenClock
from siyu.core.config import Settings
from siyu.core.crypto import configure_crypto
from siyu.core.db import Database
from siyu.core.errors import NotFound, SiyuError
from siyu.wechat.gateway import Transport
from siyu.wechat.tokens import (
    DatabaseTokenStore,
    RedisTokenStore,
    TokenManager,
    TokenStore,
    database_secrets,
    shared_gateway,
    token_store_for,
)
from siyu.workspaces import service as workspaces
from siyu.workspaces.enums import AppKind
from siyu.workspaces.schemas import AppCreate, AppRead
from tests.support.names import OA_APPID
from tests.support.standin import SECRET, ScriptedWeChat

STABLE = "/cgi-bin/stable_token"
WORKERS = 6
REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def transports(standin_url: str) -> Iterator[Callable[[], Transport]]:
    """Make transports (one per simulated process), closed after the test."""
    made: list[Transport] = []

    def make() -> Transport:
        made.append(Transport(standin_url, sleep=lambda _s: None))
        return made[-1]

    yield make
    for transport in made:
        transport.close()


@pytest.fixture
def redis_store(base_settings: Settings) -> Iterator[Callable[[], RedisTokenStore]]:
    """Redis stores under a prefix of this test's own, removed afterwards."""
    configure_crypto(base_settings)
    client: redis.Redis[bytes] = redis.Redis.from_url(REDIS_URL)
    prefix = f"siyu-test:{secrets.token_hex(4)}:"
    yield lambda: RedisTokenStore(redis.Redis.from_url(REDIS_URL), prefix=prefix)
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
    client.close()


def _db_manager(db: Database, transport: Transport) -> TokenManager:
    return TokenManager(DatabaseTokenStore(db), transport, database_secrets(db))


def test_token_is_cached_and_reused_across_clients(
    db: Database,
    oa_app: AppRead,
    standin: ScriptedWeChat,
    transports: Callable[[], Transport],
) -> None:
    # given two processes' token managers over one database
    first, second = _db_manager(db, transports()), _db_manager(db, transports())
    # when both ask for the token, repeatedly
    token = first.get(OA_APPID)
    assert first.get(OA_APPID) == token
    assert second.get(OA_APPID) == token
    # then WeChat was asked once, and the table holds the token encrypted
    assert standin.count(STABLE) == 1
    with db.engine.connect() as conn:
        stored = conn.execute(text("SELECT token FROM wechat_access_tokens")).scalar_one()
    assert token not in stored


def test_token_is_refreshed_when_less_than_five_minutes_remain(
    db: Database,
    oa_app: AppRead,
    standin: ScriptedWeChat,
    transports: Callable[[], Transport],
    frozen_clock: FrozenClock,
) -> None:
    manager = _db_manager(db, transports())
    first = manager.get(OA_APPID)
    # 5 min 1 s left: still used as it is
    frozen_clock.advance(timedelta(seconds=7200 - 301))
    assert manager.get(OA_APPID) == first
    assert standin.count(STABLE) == 1
    # 4 min 59 s left: refreshed before WeChat would refuse it, by one call
    frozen_clock.advance(timedelta(seconds=2))
    second = manager.get(OA_APPID)
    assert second != first
    assert standin.count(STABLE) == 2
    assert _db_manager(db, transports()).get(OA_APPID) == second


def test_a_refused_token_is_replaced_once_across_processes(
    db: Database,
    oa_app: AppRead,
    standin: ScriptedWeChat,
    transports: Callable[[], Transport],
) -> None:
    # given two processes using the same token, which WeChat then revokes
    first, second = _db_manager(db, transports()), _db_manager(db, transports())
    old = first.get(OA_APPID)
    assert second.get(OA_APPID) == old
    standin.revoke(OA_APPID)
    # when both are refused (40001) and ask for a replacement of `old`
    new = first.refresh(OA_APPID, stale=old)
    # then the first fetched a new token, and the second reuses it without asking WeChat
    assert second.refresh(OA_APPID, stale=old) == new != old
    assert standin.count(STABLE) == 2


def test_a_refused_token_that_wechat_hands_back_is_force_refreshed(
    db: Database,
    oa_app: AppRead,
    standin: ScriptedWeChat,
    transports: Callable[[], Transport],
) -> None:
    manager = _db_manager(db, transports())
    old = manager.get(OA_APPID)
    # WeChat refused `old`, yet normal mode still hands it out: force a new one
    new = manager.refresh(OA_APPID, stale=old)
    assert new != old
    assert [c.body["force_refresh"] for c in standin.calls if c.path == STABLE] == [
        False,
        False,
        True,
    ]


def _waiting_on_advisory_locks(db: Database) -> int:
    with db.engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
            ).scalar_one()
        )


def _refresh_at_once(
    managers: list[TokenManager],
    standin: ScriptedWeChat,
    all_waiting: Callable[[], bool],
) -> list[str]:
    """All managers ask for the token together while the first stable_token call is held."""
    standin.hold = threading.Event()
    barrier = threading.Barrier(len(managers))

    def run(manager: TokenManager) -> str:
        barrier.wait()
        return manager.get(OA_APPID)

    with ThreadPoolExecutor(len(managers)) as pool:
        futures = [pool.submit(run, m) for m in managers]
        assert standin.entered.wait(30), "no worker reached stable_token"
        deadline = time.monotonic() + 30
        while not all_waiting():  # a condition to reach, not a timing assumption
            assert time.monotonic() < deadline, "the other workers never queued on the lock"
            time.sleep(0.01)
        standin.hold.set()
        return [f.result(timeout=60) for f in futures]


@pytest.mark.parametrize("backend_url", ["postgresql"], indirect=True)
def test_concurrent_workers_refresh_once_under_the_postgres_lock(
    db: Database,
    oa_app: AppRead,
    standin: ScriptedWeChat,
    transports: Callable[[], Transport],
) -> None:
    # given six workers (own connections, own HTTP clients) and no token yet
    managers = [_db_manager(db, transports()) for _ in range(WORKERS)]
    # when all want the token at once, and five are seen queued on the advisory lock while
    # the first is still inside stable_token
    tokens = _refresh_at_once(
        managers, standin, lambda: _waiting_on_advisory_locks(db) == WORKERS - 1
    )
    # then WeChat was asked once and everybody got that one token
    assert standin.count(STABLE) == 1
    assert len(set(tokens)) == 1


@pytest.mark.parametrize("backend_url", ["sqlite"], indirect=True)
def test_concurrent_workers_refresh_once_under_the_sqlite_write_lock(
    db: Database,
    oa_app: AppRead,
    standin: ScriptedWeChat,
    transports: Callable[[], Transport],
) -> None:
    managers = [_db_manager(db, transports()) for _ in range(WORKERS)]
    # SQLite shows no lock queue; whoever is not first waits on the write lock or finds the row
    tokens = _refresh_at_once(managers, standin, lambda: True)
    assert standin.count(STABLE) == 1
    assert len(set(tokens)) == 1


def test_redis_store_shares_refreshes_once_and_encrypts(
    redis_store: Callable[[], RedisTokenStore],
    standin: ScriptedWeChat,
    transports: Callable[[], Transport],
) -> None:
    # given six workers sharing Redis (the AppSecret comes from configuration here)
    managers = [
        TokenManager(redis_store(), transports(), lambda _a: SECRET) for _ in range(WORKERS)
    ]
    # when they all want the token at once
    tokens = _refresh_at_once(managers, standin, lambda: True)
    # then one stable_token call served all, and Redis holds it encrypted with a TTL
    assert standin.count(STABLE) == 1
    assert len(set(tokens)) == 1
    store = redis_store()
    raw = store.client.get(store.prefix + OA_APPID)
    assert raw is not None
    assert tokens[0].encode() not in raw
    assert 7000 < store.client.ttl(store.prefix + OA_APPID) <= 7200
    cached = store.read(OA_APPID)
    assert cached is not None
    assert cached.token == tokens[0]


def test_redis_is_used_when_configured(settings: Settings, db: Database) -> None:
    assert isinstance(token_store_for(settings, db), DatabaseTokenStore)
    configured = settings.model_copy(update={"redis_url": REDIS_URL})
    store: TokenStore = token_store_for(configured, db)
    assert isinstance(store, RedisTokenStore)
    store.client.close()


def test_apps_without_a_usable_secret_are_refused(
    db: Database, workspace_id: int, transports: Callable[[], Transport]
) -> None:
    manager = _db_manager(db, transports())
    with pytest.raises(NotFound):
        manager.get("wx00000000000000ff")
    with db.session_scope() as session:
        workspaces.add_app(
            session,
            workspace_id,
            AppCreate(kind=AppKind.oa_subscription, appid="wx1111111111111111", name="无密钥"),
        )
    with pytest.raises(SiyuError) as missing:
        manager.get("wx1111111111111111")
    assert missing.value.code == "wechat.app_without_secret"


def test_jobs_share_one_gateway_per_configuration(settings: Settings, db: Database) -> None:
    first = shared_gateway(settings, db)
    assert shared_gateway(settings, db) is first
    elsewhere = settings.model_copy(update={"wechat_api_base": "http://127.0.0.1:9"})
    assert shared_gateway(elsewhere, db) is not first
