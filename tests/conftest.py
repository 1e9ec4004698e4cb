"""Shared fixtures: every database test runs on SQLite and on PostgreSQL, on migrated tables."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from siyu import wiring
from siyu.api.app import create_app
from siyu.core import clock as clock_module
from siyu.core.clock import FrozenClock
from siyu.core.config import Settings
from siyu.core.crypto import configure_crypto, generate_data_key
from siyu.core.db import Base, Database
from siyu.migrations import upgrade
from siyu.security import service as security
from siyu.security.enums import Role
from siyu.security.schemas import Principal
from siyu.workspaces import service as workspaces
from siyu.workspaces.enums import AppKind
from siyu.workspaces.schemas import AppCreate, AppRead

PG_ADMIN = os.environ.get("SIYU_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
OWNER_EMAIL = "owner@example.com"
OWNER_PASSWORD = "correct horse battery"
MP_APPID = "wx0123456789abcdef"
OA_APPID = "wxaaaaaaaaaaaaaaaa"


# The process is wired as the app and the worker wire theirs: subscribers, replies and jobs.
wiring.wire()

# Tests name every setting they need; a developer's environment or .env must not leak in.
for _name in [n for n in os.environ if n.startswith("SIYU_") and n != "SIYU_TEST_PG"]:
    del os.environ[_name]


def pytest_sessionstart(session: pytest.Session) -> None:
    try:
        psycopg.connect(PG_ADMIN, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        pytest.exit(
            f"PostgreSQL is not reachable ({PG_ADMIN}): run scripts/ensure-services.sh "
            f"— the suite runs every database test on it. {exc}",
            returncode=3,
        )


def _worker(request: pytest.FixtureRequest) -> str:
    return str(getattr(request.config, "workerinput", {}).get("workerid", "main"))


@pytest.fixture(scope="session")
def base_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("siyu")
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        env="test",
        database_url=f"sqlite:///{root / 'unused.db'}",
        secret_key=secrets.token_urlsafe(32),
        data_keys=f"t1:{generate_data_key()}",
        lookup_key=secrets.token_urlsafe(32),
        queue_path=root / "queue.db",
        data_dir=root,
        redis_url=None,
        fetch_follower_unionid=False,  # no WeChat to ask; tests that want it turn it on
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test marked postgres_only proves what only PostgreSQL can show: its SQLite variant is
    not collected (deselected, and counted so), rather than run to skip."""
    kept, dropped = [], []
    for item in items:
        on_sqlite = "[sqlite" in item.nodeid
        (dropped if on_sqlite and item.get_closest_marker("postgres_only") else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def backend_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A migrated, empty database of each backend, one per xdist worker."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'siyu.db'}"
        upgrade(url)
        yield url
        return
    name = f"siyu_test_{_worker(request)}_{secrets.token_hex(3)}"  # runs may overlap
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url)
    yield url
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def _databases() -> Iterator[dict[str, Database]]:
    cache: dict[str, Database] = {}
    yield cache
    for db in cache.values():
        db.dispose()


def _empty(db: Database) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with db.engine.begin() as conn:
        if db.dialect == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(text(f"DELETE FROM {table}"))


@pytest.fixture
def settings(base_settings: Settings, backend_url: str) -> Settings:
    configured = base_settings.model_copy(update={"database_url": backend_url})
    configure_crypto(configured)
    return configured


@pytest.fixture
def db(settings: Settings, _databases: dict[str, Database]) -> Iterator[Database]:
    """The database of this backend, emptied after the test."""
    database = _databases.get(settings.database_url)
    if database is None:
        database = _databases[settings.database_url] = Database(settings.database_url)
    try:
        yield database
    finally:
        _empty(database)


@pytest.fixture
def frozen_clock() -> Iterator[FrozenClock]:
    with clock_module.use_clock(FrozenClock(datetime(2026, 11, 20, 2, 0, tzinfo=UTC))) as c:
        assert isinstance(c, FrozenClock)
        yield c


BEIJING = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def daytime_clock() -> Iterator[FrozenClock]:
    """Now, or if now falls in the default quiet hours (22:00-08:00 in Beijing) the last 21:00
    before it: for tests whose sends the quiet hours would hold, whenever the suite runs. At
    most 11 hours back, so what other fixtures dated by the wall clock stays valid."""
    now = datetime.now(UTC)
    local = now.astimezone(BEIJING)
    if not 8 <= local.hour < 22:
        evening = local.replace(hour=21, minute=0, second=0, microsecond=0)
        now = (evening if local.hour >= 22 else evening - timedelta(days=1)).astimezone(UTC)
    with clock_module.use_clock(FrozenClock(now)) as c:
        assert isinstance(c, FrozenClock)
        yield c


@pytest.fixture
def workspace_id(db: Database) -> int:
    with db.session_scope() as session:
        return workspaces.create_workspace(session, "测试品牌").id


def _add_app(db: Database, workspace_id: int, kind: AppKind, appid: str, name: str) -> AppRead:
    with db.session_scope() as session:
        return workspaces.add_app(
            session,
            workspace_id,
            AppCreate(
                kind=kind,
                appid=appid,
                name=name,
                entity="示例教育科技有限公司",
                secret="s" * 32,
                token="pushtoken",
                aes_key="a" * 43,
            ),
        )


@pytest.fixture
def mp_app(db: Database, workspace_id: int) -> AppRead:
    return _add_app(db, workspace_id, AppKind.mp, MP_APPID, "打卡小程序")


@pytest.fixture
def oa_app(db: Database, workspace_id: int) -> AppRead:
    return _add_app(db, workspace_id, AppKind.oa_service, OA_APPID, "服务号")


@pytest.fixture
def owner(db: Database, workspace_id: int) -> Principal:
    with db.session_scope() as session:
        operator = security.create_operator(
            session, workspace_id, OWNER_EMAIL, OWNER_PASSWORD, role=Role.owner
        )
    return Principal(
        operator_id=operator.id,
        workspace_id=workspace_id,
        email=operator.email,
        name=operator.name,
        role=operator.role,
        via="test",
    )


@pytest.fixture
def app_client(settings: Settings, db: Database) -> Iterator[TestClient]:
    """An anonymous client of the whole application."""
    with TestClient(create_app(settings, db), base_url="http://testserver") as client:
        yield client


@pytest.fixture
def api(app_client: TestClient, db: Database, owner: Principal) -> TestClient:
    """A client authenticated as the owner with an API token."""
    with db.session_scope() as session:
        token = security.create_api_token(session, owner.operator_id, "tests").token
    app_client.headers["Authorization"] = f"Bearer {token}"
    return app_client


def openid(n: int, prefix: str = "o") -> str:
    """A well-formed 28-character WeChat-style id."""
    return f"{prefix}{n:0>27}"[:28]


@pytest.fixture
def tmp_file(tmp_path: Path) -> Path:
    return tmp_path / "events.jsonl"
