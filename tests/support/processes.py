"""A deployment the test starts as real processes: its own PostgreSQL database, its own
redis-server, the standalone sandbox WeChat, `siyu serve --no-worker` and `siyu worker`.

Every process is the test's own (started here, stopped or killed by its pid); PostgreSQL is
shared with other runs, so only the backends of the test's database are ever cut. Waiting is
on conditions with deadlines (`wait_until`), never on sleeps for timing.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import psycopg
import redis

from tests.support.names import PG_ADMIN

if TYPE_CHECKING:
    from siyu.core.db import Database as SiyuDatabase

SIYU = [sys.executable, "-m", "siyu.cli"]
PROCFILE = Path(__file__).resolve().parents[2] / "deploy" / "Procfile"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _free_pair() -> int:
    """A port free together with the next one (honcho numbers web.1, web.2 from it)."""
    for _ in range(50):
        port = free_port()
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise AssertionError("no two free ports in a row")


def wait_until(condition: Callable[[], bool], seconds: float, what: str) -> float:
    """Poll `condition` until true; the seconds it took, or fail naming `what`."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > seconds:
            raise AssertionError(f"{what}: not within {seconds:.0f} s")
        time.sleep(0.1)
    return time.monotonic() - start


@dataclass
class Process:
    """One process of the deployment and its log file."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None
    group: bool = False  # its own process group (a launcher and its children)

    def start(self) -> Process:
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                self.argv,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=self.group,
            )
        return self

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL: no handler runs, no job is handed back."""
        if self.popen is not None and self.alive:
            os.kill(self.popen.pid, signal.SIGKILL)
            self.popen.wait(10)

    def stop(self) -> None:
        if self.popen is None or not self.alive:
            return
        if self.group:  # the launcher and every process it started, which are ours
            os.killpg(self.popen.pid, signal.SIGTERM)
        else:
            self.popen.terminate()
        try:
            self.popen.wait(15)
        except subprocess.TimeoutExpired:
            if self.group:
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.kill()

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


class RedisServer:
    """A redis-server of the test's own on a free port, persisting every write (AOF, fsync
    always) to its own directory, so that a restart keeps what was queued; or, with `persist`
    off, keeping nothing (`--save ""`, no AOF): a restart comes back empty."""

    def __init__(self, root: Path, persist: bool = True) -> None:
        self.dir = root / "redis"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = Process(
            "redis",
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.dir),
                "--appendonly",
                "yes" if persist else "no",
                "--appendfsync",
                "always",
                "--save",
                "",
            ],
            dict(os.environ),
            root / "redis.log",
        )
        self.persist = persist

    def start(self) -> None:
        self.process.start()
        client = redis.Redis.from_url(self.url)
        wait_until(lambda: self._pings(client), 20, "redis-server answers")

    @staticmethod
    def _pings(client: redis.Redis[bytes]) -> bool:
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False

    def restart(self) -> None:
        self.process.stop()
        self.start()

    def client(self) -> redis.Redis[bytes]:
        return redis.Redis.from_url(self.url)


@dataclass
class Database:
    """A PostgreSQL database of the test's own."""

    name: str = field(default_factory=lambda: f"siyu_drill_{secrets.token_hex(4)}")

    @property
    def url(self) -> str:
        return PG_ADMIN.rsplit("/", 1)[0] + f"/{self.name}"

    def create(self) -> None:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')

    def drop(self) -> None:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def cut_connections(self) -> int:
        """pg_terminate_backend on every backend of this database (and no other); how many."""
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (self.name,),
            ).fetchone()
        return int(row[0]) if row else 0

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url, autocommit=True) as conn:
            return list(conn.execute(sql, params).fetchall())

    def scalar(self, sql: str, *params: Any) -> int:
        with psycopg.connect(self.url, autocommit=True) as conn:
            row = conn.execute(sql, params).fetchone()
        return int(row[0]) if row and row[0] is not None else 0


class Sandbox:
    """The standalone sandbox WeChat's admin API: accounts, users, their actions, faults."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=60)

    def register(self, spec: dict[str, Any]) -> None:
        self.http.post("/sandbox-admin/accounts", json=spec).raise_for_status()

    def users(self, count: int, seed: int = 0) -> list[str]:
        answer = self.http.post("/sandbox-admin/users", json={"count": count, "seed": seed})
        answer.raise_for_status()
        return [u["uid"] for u in answer.json()]

    def act(self, kind: str, uid: str, appid: str, **fields: Any) -> dict[str, Any]:
        answer = self.http.post(
            "/sandbox-admin/actions", json={"kind": kind, "uid": uid, "appid": appid, **fields}
        )
        answer.raise_for_status()
        outcome: dict[str, Any] = answer.json()
        return outcome

    def act_all(self, kind: str, uids: list[str], appid: str, threads: int = 8) -> int:
        """Every user acts once, `threads` at a time; how many pushes siyu answered."""
        with ThreadPoolExecutor(threads) as pool:
            outcomes = list(pool.map(lambda uid: self.act(kind, uid, appid, text=uid), uids))
        return sum(1 for o in outcomes if o["ok"])

    def fault(self, kind: str = "errcode", prefix: str = "/cgi-bin/", **fields: Any) -> str:
        """Start a WeChat outage (`/sandbox-admin/faults`); its id."""
        answer = self.http.post(
            "/sandbox-admin/faults", json={"kind": kind, "prefix": prefix, **fields}
        )
        answer.raise_for_status()
        return str(answer.json()["id"])

    def faults(self) -> list[dict[str, Any]]:
        answer = self.http.get("/sandbox-admin/faults")
        answer.raise_for_status()
        listed: list[dict[str, Any]] = answer.json()
        return listed

    def recover(self) -> int:
        """End every outage; how many calls they answered."""
        answer = self.http.delete("/sandbox-admin/faults")
        answer.raise_for_status()
        return sum(int(f["calls"]) for f in answer.json())

    def received(self, appid: str, uids: list[str], via: str = "template") -> dict[str, int]:
        """How many messages each user saw from `appid` by `via` (WeChat's own record)."""
        counts: dict[str, int] = {}
        for uid in uids:
            answer = self.http.get(f"/sandbox-admin/users/{uid}/inbox", params={"appid": appid})
            answer.raise_for_status()
            counts[uid] = sum(1 for item in answer.json() if item["via"] == via)
        return counts

    def add_template(self, appid: str, title: str, keys: list[str]) -> str:
        answer = self.http.post(
            f"/sandbox-admin/accounts/{appid}/templates", json={"title": title, "keys": keys}
        )
        answer.raise_for_status()
        return str(answer.json()["template_id"])

    def close(self) -> None:
        self.http.close()


class Deployment:
    """PostgreSQL + Redis + N `siyu serve` + M `siyu worker` + a standalone `siyu sandbox`."""

    def __init__(
        self,
        root: Path,
        secrets_env: dict[str, str],
        lease_seconds: float = 2,
        env: dict[str, str] | None = None,
        redis_persists: bool = True,
    ) -> None:
        self.root = root
        self.db = Database()
        self.redis = RedisServer(root, persist=redis_persists)
        self.sandbox_port = free_port()
        self.sandbox_url = f"http://127.0.0.1:{self.sandbox_port}"
        base = {k: v for k, v in os.environ.items() if not k.startswith("SIYU_")}
        self.env = {
            **base,
            **secrets_env,
            "SIYU_ENV": "test",
            "SIYU_DATABASE_URL": self.db.url,
            "SIYU_REDIS_URL": self.redis.url,
            "SIYU_DATA_DIR": str(root),
            "SIYU_QUEUE_PATH": str(root / "queue.db"),
            "SIYU_WECHAT_API_BASE": self.sandbox_url,
            "SIYU_WECHAT_PAY_API_BASE": self.sandbox_url,
            "SIYU_QUEUE_LEASE_SECONDS": str(lease_seconds),
            "SIYU_FETCH_FOLLOWER_UNIONID": "false",
            "SIYU_LOG_JSON": "true",
            **(env or {}),
        }
        self.processes: list[Process] = []
        self.webs: list[str] = []
        self.workers: list[Process] = []
        self.sandbox: Sandbox | None = None

    # -- starting ------------------------------------------------------------------------------

    def start_services(self) -> None:
        self.db.create()
        self.redis.start()
        from siyu.migrations import upgrade

        upgrade(self.db.url)

    def _process(self, name: str, argv: list[str]) -> Process:
        process = Process(name, argv, self.env, self.root / f"{name}.log").start()
        self.processes.append(process)
        return process

    def _wait_http(self, url: str, process: Process) -> None:
        def answers() -> bool:
            if not process.alive:
                raise AssertionError(f"{process.name} exited:\n{process.tail()}")
            try:
                return httpx.get(url, timeout=2).status_code < 500
            except httpx.TransportError:
                return False

        wait_until(answers, 60, f"{process.name} answers at {url}")

    def start_sandbox(self, siyu_url: str | None = None) -> Sandbox:
        argv = [*SIYU, "sandbox", "--port", str(self.sandbox_port)]
        if siyu_url:
            argv += ["--siyu", siyu_url]
        process = self._process("sandbox", argv)
        self._wait_http(f"{self.sandbox_url}/sandbox-admin/accounts", process)
        self.sandbox = Sandbox(self.sandbox_url)
        return self.sandbox

    def start_web(self) -> str:
        port = free_port()
        name = f"web{len(self.webs) + 1}"
        process = self._process(name, [*SIYU, "serve", "--no-worker", "--port", str(port)])
        url = f"http://127.0.0.1:{port}"
        self._wait_http(f"{url}/healthz", process)
        self.webs.append(url)
        return url

    def start_procfile(self, webs: int, workers: int) -> Process:
        """deploy/Procfile under honcho: `webs` web processes, `workers` workers, the sandbox."""
        base = _free_pair()
        env = {
            **self.env,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{self.env.get('PATH', '')}",
            "SIYU_SANDBOX_PORT": str(self.sandbox_port),
            "SIYU_WORKER_THREADS": "2",
        }
        argv = [
            str(Path(sys.executable).parent / "honcho"),
            "--no-colour",
            "-f",
            str(PROCFILE),
            "-d",
            str(PROCFILE.parent.parent),
            "start",
            "-p",
            str(base),
            "-c",
            f"web={webs},worker={workers},sandbox=1",
        ]
        launcher = Process("honcho", argv, env, self.root / "honcho.log", group=True).start()
        self.processes.append(launcher)
        self._wait_http(f"{self.sandbox_url}/sandbox-admin/accounts", launcher)
        self.sandbox = Sandbox(self.sandbox_url)
        for n in range(webs):
            url = f"http://127.0.0.1:{base + n}"
            self._wait_http(f"{url}/healthz", launcher)
            self.webs.append(url)
        return launcher

    def start_worker(self, threads: int = 2) -> Process:
        name = f"worker{len(self.workers) + 1}"
        process = self._process(name, [*SIYU, "worker", "--workers", str(threads)])
        self.workers.append(process)
        return process

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        self.redis.process.stop()
        if self.sandbox is not None:
            self.sandbox.close()
        self.db.drop()

    @contextmanager
    def acting(self) -> Iterator[SiyuDatabase]:
        """The test process acting as one more process of the deployment (as `siyu notify`
        would): its database, and jobs enqueued after commit go to the deployment's Redis.
        The process's own queue is put back after."""
        from siyu.core import jobs
        from siyu.core.db import Database as SiyuDatabase

        saved = {lane: huey.storage for lane, huey in jobs.lanes.items()}
        configured = jobs._configured
        jobs._configured = True  # no settings of the test process's own replace these
        for lane, huey in jobs.lanes.items():
            huey.storage = jobs.ReliableRedisStorage(
                jobs.lane_storage_name(lane), url=self.redis.url
            )
        db = SiyuDatabase(self.db.url)
        try:
            yield db
        finally:
            db.dispose()
            for lane, huey in jobs.lanes.items():
                huey.storage = saved[lane]
            jobs._configured = configured

    def add_notice(self, appid: str) -> None:
        """A template notice "notice" of the account, in the sandbox and in siyu, and a policy
        with no quiet hours nor caps (a drill runs at any hour)."""
        from siyu.reach import service as reach
        from siyu.reach.schemas import TemplateCreate
        from siyu.workspaces import service as workspaces

        assert self.sandbox is not None
        template_id = self.sandbox.add_template(appid, "课程通知", ["thing1"])
        with self.acting() as db, db.session_scope() as session:
            app = workspaces.get_app_by_appid(session, appid)
            reach.add_template(
                session,
                app.workspace_id,
                TemplateCreate(
                    key="notice",
                    kind="oa_template",
                    appid=appid,
                    template_id=template_id,
                    title="课程通知",
                    fields={"thing1": "text"},
                ),
                "drill",
            )
            policy = reach.get_policy(session, app.workspace_id).model_dump(mode="json")
            policy["quiet_hours"], policy["caps"] = None, {}
            reach.set_policy(session, app.workspace_id, policy, "drill")

    def notify_followers(self, appid: str, tag: str) -> int:
        """One notice to every follower of the account, decided in one `notify_many` (its
        deliveries enqueued as batches after commit); how many were queued."""
        from siyu.reach import service as reach
        from siyu.workspaces import service as workspaces

        with self.acting() as db, db.session_scope() as session:
            app = workspaces.get_app_by_appid(session, appid)
            members = self.db.rows(
                "SELECT member_id FROM reach_ledger WHERE app_id = %s AND following "
                "ORDER BY member_id",
                app.id,
            )
            sends = reach.notify_many(
                session,
                app.workspace_id,
                [
                    reach.Intent(
                        member_id=member_id,
                        template_key="notice",
                        data={"text": f"演练 {tag}"},
                        category="service",
                        urgency="normal",
                        dedupe_key=f"drill:{tag}:{member_id}",
                    )
                    for (member_id,) in members
                ],
            )
        return sum(1 for s in sends if s is not None and s.status == "queued")

    def add_paid_orders(self, web_url: str, uids: list[str], amount: int = 990) -> Refunds:
        """A Mini Program and a Pay merchant (in the sandbox and in siyu, its notifications
        going to `web_url`), and one order per user paid through the sandbox's Pay (siyu
        confirmed each from WeChat Pay's notification): what a settlement refunds."""
        from siyu.identity import service as identity
        from siyu.identity.schemas import PersonRef
        from siyu.sandbox.world import openid_for
        from siyu.wechat import paycrypto
        from siyu.wechat.pay import service as pay
        from siyu.wechat.pay.client import ClientCache
        from siyu.wechat.pay.schemas import MerchantCreate
        from siyu.workspaces import service as workspaces
        from siyu.workspaces.enums import AppKind
        from siyu.workspaces.schemas import AppCreate

        sandbox = self.sandbox
        assert sandbox is not None
        appid, mchid = "wx" + secrets.token_hex(8), f"19{secrets.randbelow(10**8):08d}"
        secret = secrets.token_hex(16)
        sandbox.register({"appid": appid, "secret": secret, "kind": "mp"})
        key = paycrypto.generate_private_key()
        apiv3, serial = secrets.token_hex(16), secrets.token_hex(20).upper()
        answer = sandbox.http.post(
            "/sandbox-admin/pay/merchants",
            json={
                "mchid": mchid,
                "apiv3_key": apiv3,
                "merchant_public_key": paycrypto.public_pem(key),
                "cert_serial_no": serial,
                "appids": [appid],
            },
        )
        answer.raise_for_status()
        platform = answer.json()
        clients = ClientCache(self.sandbox_url)  # the test process's own, to the sandbox
        orders: list[int] = []
        try:
            with self.acting() as db:
                with db.session_scope() as session:
                    workspace_id = workspaces.create_workspace(session, f"演练退款 {mchid}").id
                    app = workspaces.add_app(
                        session,
                        workspace_id,
                        AppCreate(kind=AppKind.mp, appid=appid, name="演练", secret=secret),
                    )
                    pay.add_merchant(
                        session,
                        workspace_id,
                        MerchantCreate(
                            mchid=mchid,
                            name="演练商户",
                            apiv3_key=apiv3,
                            private_key=paycrypto.private_pem(key),
                            cert_serial_no=serial,
                            platform_public_key=platform["platform_public_key"],
                            platform_public_key_id=platform["platform_public_key_id"],
                        ),
                        default_notify_base=web_url,
                    )
                for uid in uids:
                    # the user opens the Mini Program: siyu knows it (code2session), WeChat too
                    login = sandbox.act("mp_login", uid, appid, siyu_url=web_url)
                    assert login["ok"], login
                    with db.session_scope() as session:
                        person = PersonRef(appid=appid, openid=openid_for(appid, uid))
                        member = identity.resolve_member(session, app, person)  # the login's
                        order = pay.open_order(
                            session,
                            workspace_id,
                            appid=appid,
                            member_id=member.id,
                            amount=amount,
                            description="演练押金",
                            reference=f"drill:{uid}",
                            order_minutes=120,
                        )
                    params = pay.payment_params(db, clients, workspace_id, order.id)
                    paid = sandbox.http.post(
                        "/sandbox-admin/pay/pay",
                        json={
                            "uid": uid,
                            "params": params.model_dump(by_alias=True, exclude={"out_trade_no"}),
                        },
                    )
                    paid.raise_for_status()
                    orders.append(order.id)
        finally:
            clients.close()
        refunds = Refunds(self, workspace_id, mchid, orders, amount)
        wait_until(lambda: refunds.paid() == len(orders), 60, "siyu confirmed every payment")
        return refunds

    def start_import(self, lines: int, people: int = 5000) -> int:
        """A workspace with a service account (siyu's side only: an import calls no WeChat),
        and a JSON Lines file of `lines` valid events of its followers (`people` of them),
        uploaded as the console does: an import run queued for a worker; its id."""
        from siyu.identity import service as identity
        from siyu.security.enums import Role
        from siyu.security.schemas import Principal
        from siyu.workspaces import service as workspaces
        from siyu.workspaces.enums import AppKind
        from siyu.workspaces.schemas import AppCreate

        appid = "wx" + secrets.token_hex(8)
        path = self.root / f"import-{secrets.token_hex(4)}.jsonl"
        with path.open("wb") as out:
            for n in range(lines):
                ts = f"2026-06-{1 + n % 28:02d}T{n % 24:02d}:{n % 60:02d}:00+00:00"
                out.write(
                    b'{"event":"oa.message","ts":"%s","appid":"%s","openid":"oDrill%06d",'
                    b'"props":{"n":%d}}\n' % (ts.encode(), appid.encode(), n % people, n)
                )
        with self.acting() as db, db.session_scope() as session:
            workspace_id = workspaces.create_workspace(session, f"演练导入 {appid[-4:]}").id
            workspaces.add_app(
                session,
                workspace_id,
                AppCreate(kind=AppKind.oa_service, appid=appid, name="演练服务号"),
            )
            principal = Principal(
                operator_id=0,
                workspace_id=workspace_id,
                email="drill@example.com",
                name="演练",
                role=Role.owner,
                via="cli",
            )
            run = identity.start_import(
                session, principal, filename=path.name, path=str(path), size=path.stat().st_size
            )
        return run.id

    def import_run(self, import_id: int) -> dict[str, Any]:
        [row] = self.db.rows(
            "SELECT status, accepted, rejected, members_created, message, workspace_id "
            "FROM imports WHERE id = %s",
            import_id,
        )
        keys = ("status", "accepted", "rejected", "members_created", "message", "workspace_id")
        return dict(zip(keys, row, strict=True))

    def notices_through(self) -> int:
        """Sends WeChat took: sent, or already reported delivered by its TEMPLATESENDJOBFINISH."""
        return self.db.scalar(
            "SELECT count(*) FROM reach_sends WHERE status IN ('sent', 'delivered')"
        )

    def sends(self, status: str | None = None) -> int:
        if status is None:
            return self.db.scalar("SELECT count(*) FROM reach_sends")
        return self.db.scalar("SELECT count(*) FROM reach_sends WHERE status = %s", status)

    def add_oa(self, web_url: str, unionid_scope: str | None = None) -> str:
        """A service account in siyu (a workspace of its own) and in the sandbox, its pushes
        going to `web_url`; its AppID. The test process's crypto holds the deployment's keys."""
        from siyu.core.db import Database as SiyuDatabase
        from siyu.workspaces import service as workspaces
        from siyu.workspaces.enums import AppKind
        from siyu.workspaces.schemas import AppCreate

        appid, secret, token = "wx" + secrets.token_hex(8), secrets.token_hex(16), "drilltoken"
        aes_key = secrets.token_urlsafe(48).replace("-", "a").replace("_", "b")[:43]
        db = SiyuDatabase(self.db.url)
        try:
            with db.session_scope() as session:
                workspace = workspaces.create_workspace(session, f"演练品牌 {appid[-4:]}")
                workspaces.add_app(
                    session,
                    workspace.id,
                    AppCreate(
                        kind=AppKind.oa_service,
                        appid=appid,
                        name="演练服务号",
                        entity="演练教育",
                        secret=secret,
                        token=token,
                        aes_key=aes_key,
                    ),
                )
        finally:
            db.dispose()
        assert self.sandbox is not None
        self.sandbox.register(
            {
                "appid": appid,
                "secret": secret,
                "kind": "oa_service",
                "name": "演练服务号",
                "token": token,
                "aes_key": aes_key,
                "push_url": f"{web_url}/wechat/push/{appid}",
                "mode": "secure",
                "unionid_scope": unionid_scope,
            }
        )
        return appid

    # -- reading the outcome -------------------------------------------------------------------

    def pushes(self, status: str | None = None) -> int:
        if status is None:
            return self.db.scalar("SELECT count(*) FROM wechat_pushes")
        return self.db.scalar("SELECT count(*) FROM wechat_pushes WHERE status = %s", status)

    def doubled_push_events(self) -> int:
        """Pushes whose timeline event was recorded more than once."""
        return self.db.scalar(
            "SELECT count(*) FROM (SELECT props->>'push_id' FROM events "
            "WHERE props ? 'push_id' GROUP BY 1 HAVING count(*) > 1) d"
        )

    def push_events(self) -> int:
        return self.db.scalar(
            "SELECT count(DISTINCT props->>'push_id') FROM events WHERE props ? 'push_id'"
        )

    def logs(self) -> str:
        return "\n\n".join(f"== {p.name}\n{p.tail()}" for p in self.processes)


@dataclass
class Refunds:
    """Paid orders of one merchant, refunded in full as a settlement does (recorded in Pay,
    sent by `community.send_refunds` jobs), and what each side says of them."""

    deployment: Deployment
    workspace_id: int
    mchid: str
    orders: list[int]
    amount: int
    refund_ids: list[int] = field(default_factory=list)

    def paid(self) -> int:
        return self.deployment.db.scalar(
            "SELECT count(*) FROM pay_orders WHERE id = ANY(%s) AND status = 'paid'", self.orders
        )

    def settle(self, chunk: int = 10) -> int:
        """Every order refunded in full, the refunds sent in jobs of `chunk` (what
        `community.confirm_settlement` records and enqueues); how many were recorded."""
        from siyu.core import jobs
        from siyu.wechat.pay import service as pay

        with self.deployment.acting() as db, db.session_scope() as session:
            made = pay.request_refunds(
                session,
                self.workspace_id,
                [pay.RefundAsk(order_id, self.amount) for order_id in self.orders],
                "演练结算退款",
                requested_by="community:settlement",
            )
            self.refund_ids = [r.id for r in made]
            for start in range(0, len(self.refund_ids), chunk):
                jobs.enqueue(
                    session, "community.send_refunds", self.refund_ids[start : start + chunk]
                )
        return len(self.refund_ids)

    def ledger(self) -> dict[str, Any]:
        """The sandbox's own record of the merchant's payments and refunds."""
        sandbox = self.deployment.sandbox
        assert sandbox is not None
        answer = sandbox.http.get(f"/sandbox-admin/pay/merchants/{self.mchid}/ledger")
        answer.raise_for_status()
        ledger: dict[str, Any] = answer.json()
        return ledger

    def taken(self) -> tuple[int, int, int]:
        """WeChat Pay's own record: (orders refunded, orders refunded more than once, money
        refunded in fen). Pay keeps one refund per out_refund_no, so a doubled refund would
        show as a second out_refund_no for an order."""
        ledger = self.ledger()
        per_order: dict[str, int] = {}
        for refund in ledger["refunds"]:
            if refund["status"] != "CLOSED":
                per_order[refund["out_trade_no"]] = per_order.get(refund["out_trade_no"], 0) + 1
        doubled = sum(1 for n in per_order.values() if n > 1)
        return len(per_order), doubled, int(ledger["refunded_total"])

    def accepted(self) -> int:
        """Refunds siyu knows WeChat Pay took (no longer pending)."""
        return self.deployment.db.scalar(
            "SELECT count(*) FROM pay_refunds WHERE id = ANY(%s) AND status <> 'pending'",
            self.refund_ids,
        )


def deployment_of(
    root: Path,
    secrets_env: dict[str, str],
    env: dict[str, str] | None = None,
    redis_persists: bool = True,
) -> Iterator[Deployment]:
    """A deployment whose processes and database are gone after the test, whatever happens."""
    deployment = Deployment(root, secrets_env, env=env, redis_persists=redis_persists)
    try:
        deployment.start_services()
        yield deployment
    finally:
        deployment.stop()
