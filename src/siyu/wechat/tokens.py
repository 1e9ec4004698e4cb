"""Access tokens from stable_token, cached in the database or Redis, refreshed by one process."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import redis
from redis.exceptions import LockError
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError

from siyu.core import clock
from siyu.core.config import Settings
from siyu.core.crypto import cipher
from siyu.core.db import Database
from siyu.core.errors import SiyuError
from siyu.core.logging import get_logger
from siyu.wechat import errors
from siyu.wechat.gateway import Gateway, Transport
from siyu.wechat.models import AccessToken
from siyu.wechat.schemas import StableToken
from siyu.workspaces import service as workspaces

# stable_token in normal mode renews 5 minutes before expiry and never hands out a token with
# less than 300 s left (fact sheet §2.1), so refreshing inside that margin gets a new one.
REFRESH_MARGIN = timedelta(minutes=5)
# How long a process waits for another one's refresh before giving up.
LOCK_WAIT_SECONDS = 15
REDIS_PREFIX = "siyu:wechat:token:"
REDIS_CONTEXT = "redis.wechat_access_token"
log = get_logger(__name__)


@dataclass(frozen=True)
class CachedToken:
    token: str
    expires_at: datetime

    def fresh(self, at: datetime) -> bool:
        return self.expires_at - REFRESH_MARGIN > at


Renew = Callable[[CachedToken | None], CachedToken | None]


class TokenStore(Protocol):
    """Shared storage of tokens with a per-app lock."""

    def read(self, appid: str) -> CachedToken | None: ...

    def refresh(self, appid: str, renew: Renew) -> CachedToken:
        """Under the app's lock: pass the stored token to `renew`, store what it returns.

        `renew` returns None to keep the stored token (another process refreshed meanwhile).
        """
        ...


class TokenFetcher(Protocol):
    def stable_token(
        self, appid: str, secret: str, *, force_refresh: bool = False
    ) -> StableToken: ...


def _busy(appid: str) -> SiyuError:
    return errors.TOKEN_BUSY(
        f"another process is refreshing the access token of {appid}; retry", appid=appid
    )


def _lock_key(appid: str) -> int:
    """A stable signed 64-bit advisory-lock key for this app's token."""
    digest = hashlib.sha256(f"siyu.wechat_token:{appid}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class DatabaseTokenStore:
    """The wechat_access_tokens table; the lock is an advisory lock (PG) or the write lock."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def read(self, appid: str) -> CachedToken | None:
        with self.db.session_scope() as session:
            row = session.get(AccessToken, appid)
            return None if row is None else CachedToken(row.token, row.expires_at)

    def refresh(self, appid: str, renew: Renew) -> CachedToken:
        # Each refresh commits on its own: other workers must see the token at once, whatever
        # the caller's transaction does afterwards.
        try:
            with self.db.session_scope() as session:
                if self.db.dialect == "postgresql":
                    # An advisory lock, not FOR UPDATE: before the first fetch there is no row.
                    session.execute(text(f"SET LOCAL lock_timeout = '{LOCK_WAIT_SECONDS}s'"))
                    session.execute(select(func.pg_advisory_xact_lock(_lock_key(appid))))
                # SQLite: the engine began this transaction IMMEDIATE, so it holds the write lock.
                row = session.get(AccessToken, appid)
                current = None if row is None else CachedToken(row.token, row.expires_at)
                renewed = renew(current)
                if renewed is None:
                    assert current is not None
                    return current
                if row is None:
                    row = AccessToken(appid=appid)
                    session.add(row)
                row.token = renewed.token
                row.expires_at = renewed.expires_at
                row.refreshed_at = clock.now()
                return renewed
        except OperationalError as exc:  # lock_timeout or SQLite busy_timeout ran out
            raise _busy(appid) from exc


class RedisTokenStore:
    """One Redis key per app (the token encrypted), refreshed under a SET NX lock."""

    def __init__(self, client: redis.Redis[bytes], prefix: str = REDIS_PREFIX) -> None:
        self.client = client
        self.prefix = prefix

    def read(self, appid: str) -> CachedToken | None:
        raw = self.client.get(self.prefix + appid)
        if raw is None:
            return None
        data = json.loads(raw)
        token = cipher().decrypt(data["token"], REDIS_CONTEXT)
        return CachedToken(token, datetime.fromisoformat(data["expires_at"]))

    def refresh(self, appid: str, renew: Renew) -> CachedToken:
        # redis-py's Lock is SET NX PX with a random value and a compare-and-delete release.
        lock = self.client.lock(
            f"{self.prefix}lock:{appid}",
            timeout=LOCK_WAIT_SECONDS * 2,
            blocking_timeout=LOCK_WAIT_SECONDS,
            sleep=0.05,
        )
        if not lock.acquire():
            raise _busy(appid)
        try:
            current = self.read(appid)
            renewed = renew(current)
            if renewed is None:
                assert current is not None
                return current
            self._write(appid, renewed)
            return renewed
        finally:
            try:
                lock.release()
            except LockError:  # held longer than its timeout; another process owns it now
                log.warning("wechat_token_lock_expired", appid=appid)

    def _write(self, appid: str, token: CachedToken) -> None:
        data = {
            "token": cipher().encrypt(token.token, REDIS_CONTEXT),
            "expires_at": token.expires_at.isoformat(),
        }
        ttl = max(int((token.expires_at - clock.now()).total_seconds() * 1000), 1000)
        self.client.set(self.prefix + appid, json.dumps(data), px=ttl)


def database_secrets(db: Database) -> Callable[[str], str]:
    """Look an app's AppSecret up in its own short transaction."""

    def lookup(appid: str) -> str:
        with db.session_scope() as session:
            secret = workspaces.get_app_credentials(session, appid).secret
        if secret is None:
            raise errors.APP_WITHOUT_SECRET(f"app {appid} has no AppSecret configured", appid=appid)
        return secret

    return lookup


class TokenManager:
    """Hands out an app's access token, refreshing it (once, under the store's lock) when due."""

    def __init__(
        self, store: TokenStore, fetcher: TokenFetcher, secrets: Callable[[str], str]
    ) -> None:
        self.store = store
        self.fetcher = fetcher
        self.secrets = secrets
        self._memo: dict[str, CachedToken] = {}
        self._memo_lock = threading.Lock()

    def get(self, appid: str) -> str:
        now = clock.now()
        with self._memo_lock:
            memo = self._memo.get(appid)
        if memo is not None and memo.fresh(now):
            return memo.token
        cached = self.store.read(appid)
        if cached is not None and cached.fresh(now):
            self._remember(appid, cached)
            return cached.token
        return self._refresh(appid, stale=None)

    def refresh(self, appid: str, stale: str) -> str:
        """A token other than `stale`, which WeChat just refused."""
        with self._memo_lock:
            self._memo.pop(appid, None)
        return self._refresh(appid, stale=stale)

    def _remember(self, appid: str, token: CachedToken) -> None:
        with self._memo_lock:
            self._memo[appid] = token

    def _refresh(self, appid: str, stale: str | None) -> str:
        # Read before locking: on SQLite a second transaction inside the lock would wait on it.
        secret = self.secrets(appid)

        def renew(current: CachedToken | None) -> CachedToken | None:
            now = clock.now()
            if current is not None and current.fresh(now) and current.token != stale:
                return None  # refreshed by another process while we waited for the lock
            fetched = self.fetcher.stable_token(appid, secret)
            if stale is not None and fetched.access_token.get_secret_value() == stale:
                # Normal mode handed back the token WeChat just refused: force a new one
                # (force_refresh is limited to 20 a day, so only here).
                fetched = self.fetcher.stable_token(appid, secret, force_refresh=True)
            log.info("wechat_token_refreshed", appid=appid, forced=stale is not None)
            return CachedToken(
                fetched.access_token.get_secret_value(),
                now + timedelta(seconds=fetched.expires_in),
            )

        token = self.store.refresh(appid, renew)
        self._remember(appid, token)
        return token.token


def token_store_for(settings: Settings, db: Database) -> TokenStore:
    """Redis when `redis_url` is set (production), else the database."""
    if settings.redis_url:
        return RedisTokenStore(redis.Redis.from_url(settings.redis_url))
    return DatabaseTokenStore(db)


def gateway_for(settings: Settings, db: Database, *, transport: Transport | None = None) -> Gateway:
    """A gateway on `settings.wechat_api_base` with shared, locked token refresh."""
    transport = transport or Transport(settings.wechat_api_base, timeout=settings.wechat_timeout_s)
    tokens = TokenManager(token_store_for(settings, db), transport, database_secrets(db))
    return Gateway(transport, tokens)


_shared: dict[tuple[str, str, str], Gateway] = {}
_shared_lock = threading.Lock()


def shared_gateway(settings: Settings, db: Database) -> Gateway:
    """One gateway per process and configuration, so connections and tokens are reused."""
    key = (settings.wechat_api_base, settings.redis_url or "", db.url)
    with _shared_lock:
        gateway = _shared.get(key)
        if gateway is None:
            gateway = _shared[key] = gateway_for(settings, db)
        return gateway
