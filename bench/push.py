"""Benchmark of the push endpoint against a bare verify-decrypt-reply endpoint, over real HTTP.

    .venv/bin/python bench/push.py                        # 20,000 pushes
    .venv/bin/python bench/push.py --requests 3000        # a quick run
    .venv/bin/python bench/push.py --no-echo              # every server answers "success"
    .venv/bin/python bench/push.py --processing           # push processing alone: 1 and 2
                                                          # `siyu worker` processes
    BENCH_WORKER_THREADS=1 .venv/bin/python bench/push.py --processing  # threads per worker

Secure-mode, encrypted text messages (signed with msg_signature, sealed with the app's
EncodingAESKey) are POSTed over loopback HTTP/1.1 keep-alive connections by a small asyncio
load generator in this process, with bounded concurrency, at three servers taking turns on
the same slices of the load in this run, each `uvicorn --workers 2`. Each server's
connections are opened once, one at a time during its warm-up, so that both of its workers
get a share (each worker's CPU use is printed beside its rate):

  a. bare (the baseline of the target): a minimal FastAPI app, one route holding the
     credentials in memory; it verifies, decrypts, parses and answers with an encrypted echo,
     and stores nothing (DESIGN.md's "bare FastAPI XML endpoint");
  b. raw: the same work as a raw ASGI callable without a framework, for reference;
  c. siyu: the real application (`siyu.api.app.create_app`) on PostgreSQL (`siyu_push_bench`,
     created and dropped here) with the job queue on Redis (`--redis`, its huey keys flushed
     before and after), and the same echo installed as a passive-reply handler: verify,
     decrypt, store with dedupe, enqueue, answer.

Some messages are delivered twice (some back to back, racing; some as late retries). After
the load, the push jobs are run by an embedded worker, then the script checks that every
message was stored once, processed once (one timeline event each), and that every duplicate
delivery got the very same bytes as the first.

Prints requests/s of each with its workers' CPU use, the ratio siyu/bare (target >= 50%),
p50/p99 latency (target: siyu p99 < 100 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import string
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import Request as HttpRequest  # module level: FastAPI resolves annotations here

HERE = Path(__file__).resolve().parent
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
PG_DB = f"siyu_push_bench_{secrets.token_hex(4)}"  # two runs never collide
APPID = "wxbe4c4bec4bec4bec"
GH_ID = "gh_bench0000001"
TOKEN_ENV, AES_ENV, ECHO_ENV = "BENCH_PUSH_TOKEN", "BENCH_PUSH_AES_KEY", "BENCH_PUSH_ECHO"
TARGET_RATIO = 0.7  # of bare (issue #18)
TARGET_WEROBOT = 1.0  # siyu at least as fast as WeRoBot, while storing every push
WEROBOT_THREADS = 4  # gunicorn gthread threads per worker
TARGET_P99_MS = 100.0
THREADS = int(os.environ.get("BENCH_WORKER_THREADS", "4"))  # --processing: per `siyu worker`

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


# --- the servers (imported by uvicorn's worker processes) -------------------------------


def _echo(push: Any) -> Any:
    from siyu.wechat.schemas import TextMessage, TextReply

    return TextReply(f"收到：{push.content}") if isinstance(push, TextMessage) else None


def _echoing() -> bool:
    return os.environ.get(ECHO_ENV) == "1"


def siyu_app() -> Any:
    """The real application; with --echo, a passive-reply handler answers like bare does."""
    from siyu.api.app import create_app
    from siyu.wechat import inbox

    if _echoing():
        inbox.register_reply_handler(lambda _session, _app, push: _echo(push))
    return create_app()


def _bare_answer() -> Callable[[bytes, bytes], tuple[int, bytes]]:
    """Verify, decrypt, parse, answer an encrypted echo: what every push endpoint must do."""
    from siyu.wechat.crypto import BadSignature, PushCrypto
    from siyu.wechat.schemas import build_push, format_of, parse_body, to_xml

    crypto = PushCrypto(os.environ[TOKEN_ENV], [os.environ[AES_ENV]], APPID)

    def answer(query: bytes, body: bytes) -> tuple[int, bytes]:
        params = dict(parse_qsl(query.decode()))
        fields = parse_body(body, format_of(body))
        try:
            crypto.check_msg_signature(
                params["msg_signature"], params["timestamp"], params["nonce"], fields["Encrypt"]
            )
        except BadSignature:
            return 401, b"bad signature"
        opened = crypto.decrypt(fields["Encrypt"])
        push = build_push(APPID, parse_body(opened.message, format_of(opened.message)))
        if not _echoing():
            return 200, b"success"
        now = int(time.time())
        reply = _echo(push)
        content = to_xml(
            {
                "ToUserName": push.openid,
                "FromUserName": push.to_user,
                "CreateTime": now,
                **reply.fields(),
            }
        )
        encrypt = crypto.encrypt(content.encode(), key_index=opened.key_index)
        envelope = {
            "Encrypt": encrypt,
            "MsgSignature": crypto.msg_signature(str(now), params["nonce"], encrypt),
            "TimeStamp": now,
            "Nonce": params["nonce"],
        }
        return 200, to_xml(envelope).encode()

    return answer


def bare_app() -> Any:
    """The bare endpoint: a minimal FastAPI app (one route, no middleware, no database)."""
    from fastapi import FastAPI, Response

    answer = _bare_answer()
    app = FastAPI()

    @app.post("/wechat/push/{appid}")
    async def push(appid: str, request: HttpRequest) -> Response:
        status, out = answer(request.scope["query_string"], await request.body())
        return Response(out, status_code=status, media_type="application/xml")

    @app.get("/healthz")
    async def healthz() -> Response:
        return Response("ok")

    return app


def raw_app() -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """The same work as a raw ASGI callable, without any framework: the floor of the floor."""
    answer = _bare_answer()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        status, out = (
            (200, b"ok") if scope["method"] == "GET" else answer(scope["query_string"], body)
        )
        headers = [(b"content-type", b"application/xml"), (b"content-length", b"%d" % len(out))]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": out})

    return app


def werobot_app() -> Callable[..., Any]:
    """WeRoBot 1.13.1 as a developer would deploy it: secure mode (its own crypto), sessions
    off, the same echo, a WSGI app for gunicorn's gthread workers (`start_werobot`). A health
    path answers the readiness probe; every other path is the robot's. It stores nothing."""
    import logging

    import werobot

    logging.getLogger("WeRoBot").setLevel(logging.ERROR)  # no warning per unanswered push
    robot = werobot.WeRoBot(
        token=os.environ[TOKEN_ENV],
        encoding_aes_key=os.environ[AES_ENV],
        app_id=APPID,
        enable_session=False,
    )

    @robot.text  # type: ignore[untyped-decorator]
    def echo(message: Any) -> str | None:
        return f"收到：{message.content}" if _echoing() else None

    wsgi = robot.wsgi

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO") == "/healthz":
            start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
            return [b"ok"]
        return wsgi(environ, start_response)

    return app


@dataclass(frozen=True)
class Delivery:
    msg_id: int
    content: str
    data: bytes  # the whole HTTP request


def _openid(i: int) -> str:
    return f"oBench{i:022d}"


def make_requests(count: int, users: int, duplicates: float, seed: int) -> list[Delivery]:
    """`count` deliveries: unique messages, some delivered twice (racing or as a late retry)."""
    from siyu.wechat.crypto import PushCrypto

    crypto = PushCrypto(os.environ[TOKEN_ENV], [os.environ[AES_ENV]], APPID)
    rng = random.Random(seed)
    repeats = int(count * duplicates)
    unique: list[Delivery] = []
    # Signed now, as WeChat signs before sending, with nonces that differ (siyu refuses a
    # (timestamp, nonce) used twice but for a retry of the same message); the run's pushes
    # are all made before it, so the servers take a window as long as the run (`main`).
    signed = str(int(time.time()))
    nonces = rng.sample(range(10**9, 10**10), count - repeats)
    for i in range(count - repeats):
        msg_id = 24_000_000_000_000_000 + i
        content = f"第{i}条 " + "".join(rng.choices(string.ascii_letters, k=rng.randrange(4, 60)))
        created = 1_760_000_000 + i // 50
        xml = (
            f"<xml><ToUserName><![CDATA[{GH_ID}]]></ToUserName>"
            f"<FromUserName><![CDATA[{_openid(rng.randrange(users))}]]></FromUserName>"
            f"<CreateTime>{created}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>"
        )
        encrypt = crypto.encrypt(xml.encode())
        timestamp, nonce = signed, str(nonces[i])
        query = urlencode(
            {
                "signature": crypto.signature(timestamp, nonce),
                "timestamp": timestamp,
                "nonce": nonce,
                "openid": _openid(0),
                "encrypt_type": "aes",
                "msg_signature": crypto.msg_signature(timestamp, nonce, encrypt),
            }
        )
        body = (
            f"<xml><ToUserName><![CDATA[{GH_ID}]]></ToUserName>"
            f"<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
        ).encode()
        head = (
            f"POST /wechat/push/{APPID}?{query} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: text/xml\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        unique.append(Delivery(msg_id, content, head + body))
    # Each delivery gets a place in the sending order: a racing duplicate right after the
    # first delivery, a late retry anywhere after it.
    placed: list[tuple[float, Delivery]] = [(float(i), r) for i, r in enumerate(unique)]
    for k in range(repeats):
        first = rng.randrange(len(unique))
        place = first + 0.5 if k % 2 == 0 else rng.uniform(first + 1, len(unique))
        placed.append((place, unique[first]))
    placed.sort(key=lambda item: item[0])
    deliveries = [request for _, request in placed]
    return deliveries


# --- the load generator --------------------------------------------------------------------


@dataclass
class Result:
    status: int
    body: bytes
    seconds: float


class Connection:
    """One keep-alive connection of the load generator, kept for the whole run."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def exchange(self, data: bytes) -> tuple[int, bytes]:
        self.writer.write(data)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = next(
            int(line.split(":", 1)[1])
            for line in lines
            if line.lower().startswith("content-length:")
        )
        body = await self.reader.readexactly(length)
        if any(line.lower() == "connection: close" for line in lines):
            raise RuntimeError("the server closed a keep-alive connection")
        return status, body


async def _client(
    connection: Connection,
    requests: list[Delivery],
    results: list[Result | None],
    cursor: list[int],
    answered: asyncio.Event | None = None,
) -> None:
    while cursor[0] < len(requests):
        index = cursor[0]
        cursor[0] += 1
        started = time.perf_counter()
        status, body = await connection.exchange(requests[index].data)
        results[index] = Result(status, body, time.perf_counter() - started)
        if answered is not None:
            answered.set()


async def _load(
    connections: list[Connection], requests: list[Delivery]
) -> tuple[list[Result], float]:
    results: list[Result | None] = [None] * len(requests)
    cursor = [0]
    started = time.perf_counter()
    await asyncio.gather(*(_client(c, requests, results, cursor) for c in connections))
    elapsed = time.perf_counter() - started
    assert all(r is not None for r in results)
    return [r for r in results if r is not None], elapsed


async def _connect_under_load(
    port: int, warmup: list[Delivery], concurrency: int
) -> tuple[list[Connection], list[Result]]:
    """Open the connections one at a time while the ones already open keep the server busy.

    The workers share one listening socket, and the worker that accepts a connection serves it
    for good. Opened all at once, the connections mostly go to whichever worker woke first (it
    accepts every one waiting): a run of one busy worker and one idle one. Opened one by one
    under load, each new one tends to go to the worker less busy at that moment, as it would in
    production, where connections come and go all the time.
    """
    results: list[Result | None] = [None] * len(warmup)
    cursor = [0]
    answered = asyncio.Event()
    connections: list[Connection] = []
    clients: list[asyncio.Task[None]] = []
    step = max(1, len(warmup) // (2 * concurrency))  # half the warm-up goes on joining
    for _ in range(concurrency):
        connections.append(Connection(*await asyncio.open_connection("127.0.0.1", port)))
        client = _client(connections[-1], warmup, results, cursor, answered)
        clients.append(asyncio.create_task(client))
        until = min(len(warmup), cursor[0] + step)
        while cursor[0] < until:  # then a client is still at work, and will answer
            answered.clear()
            await answered.wait()
    await asyncio.gather(*clients)
    assert all(r is not None for r in results)
    return connections, [r for r in results if r is not None]


async def run_rounds(
    ports: dict[str, int],
    warmup: list[Delivery],
    measured: list[Delivery],
    concurrency: int,
    rounds: int,
    workers: dict[str, list[int]],
) -> dict[str, Run]:
    """Per server: its run. The servers take turns on the same slices of the deliveries, so
    that a noisy neighbour slows both alike instead of whichever happened to run at the time."""
    out: dict[str, Run] = {}
    pools: dict[str, list[Connection]] = {}
    for name, port in ports.items():
        pools[name], early = await _connect_under_load(port, warmup, concurrency)
        out[name] = Run(early, [], 0.0, [0.0] * len(workers[name]))
    size = -(-len(measured) // rounds)
    try:
        for turn, start in enumerate(range(0, len(measured), size)):
            names = list(ports) if turn % 2 == 0 else list(reversed(ports))
            for name in names:
                before = _cpu_seconds(workers[name])
                results, seconds = await _load(pools[name], measured[start : start + size])
                run = out[name]
                run.measured += results
                run.seconds += seconds
                spent = _cpu_seconds(workers[name])
                run.worker_cpu = [
                    t + b - a for t, a, b in zip(run.worker_cpu, before, spent, strict=True)
                ]
    finally:
        for pool in pools.values():
            for connection in pool:
                connection.writer.close()
    return out


@dataclass
class Run:
    """One server's results: warm-up, measured, the seconds the latter took, and the CPU
    seconds each of its workers spent on them."""

    warmup: list[Result]
    measured: list[Result]
    seconds: float
    worker_cpu: list[float]


def _cpu_seconds(pids: list[int]) -> list[float]:
    """User + system CPU seconds of each process so far (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    out = []
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        out.append((int(fields[11]) + int(fields[12])) / tick)
    return out


def worker_pids(server: subprocess.Popen[bytes]) -> list[int]:
    """The uvicorn worker processes of a server (children of its supervisor)."""
    children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
    return sorted(
        int(pid) for pid in children if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
    )


# --- servers -------------------------------------------------------------------------------


def start_server(factory: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [sys.executable, __file__, "--serve", factory, str(port)]
    process = subprocess.Popen(command, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{factory} server exited with {process.returncode}")
        try:
            asyncio.run(_probe(port))
            return process
        except OSError:
            time.sleep(0.2)
    process.terminate()
    raise RuntimeError(f"{factory} server did not start")


def start_werobot(port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """WeRoBot under gunicorn, 2 gthread workers, as it would be deployed; idle keep-alive
    connections are kept (as uvicorn's are here) while the other servers take their turn."""
    command = [
        *(sys.executable, "-m", "gunicorn", "--chdir", str(HERE)),
        *("--bind", f"127.0.0.1:{port}", "--workers", "2", "--worker-class", "gthread"),
        *("--threads", str(WEROBOT_THREADS), "--keep-alive", "3600", "--log-level", "warning"),
        "push:werobot_app()",
    ]
    process = subprocess.Popen(command, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"werobot server exited with {process.returncode}")
        try:
            asyncio.run(_probe(port))
            if len(gunicorn_workers(process)) == 2:
                return process
        except OSError:
            pass
        time.sleep(0.2)
    process.terminate()
    raise RuntimeError("werobot server did not start")


def gunicorn_workers(server: subprocess.Popen[bytes]) -> list[int]:
    """gunicorn's workers: every child of its arbiter (forked, so no marker to look for)."""
    children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
    return sorted(int(pid) for pid in children)


def serve(factory: str, port: int) -> None:
    """`uvicorn --workers 2` on `push:<factory>`, its listening socket made as asyncio would.

    uvicorn binds the socket of a multi-worker server with protocol 0, and asyncio sets
    TCP_NODELAY only on sockets whose protocol is TCP: every response written in two parts
    (head, then body) would wait out the client's 40 ms delayed ACK, for both servers alike.
    """
    import socket

    import uvicorn
    from uvicorn.config import Config

    def bind_socket(config: Config) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((config.host, config.port))
        sock.set_inheritable(True)
        return sock

    Config.bind_socket = bind_socket  # type: ignore[method-assign]
    uvicorn.run(
        f"push:{factory}",
        factory=True,
        app_dir=str(HERE),
        host="127.0.0.1",
        port=port,
        workers=2,
        access_log=False,
        log_level="warning",
        # The load generator's connections idle while the other servers take their turn.
        timeout_keep_alive=3600,
    )


async def _probe(port: int) -> None:
    for _ in range(4):  # reach both workers' sockets a few times
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        if not (await reader.read()).startswith(b"HTTP/1.1 200"):
            raise OSError("not ready")
        writer.close()


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- database and queue --------------------------------------------------------------------


def recreate_db() -> str:
    import psycopg

    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{PG_DB}"')
    return f"{PG_SERVER}/{PG_DB}"


def drop_db() -> None:
    import psycopg

    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')


def prepare(url: str) -> None:
    from siyu.core.config import Settings
    from siyu.core.crypto import configure_crypto
    from siyu.core.db import Database
    from siyu.migrations import upgrade
    from siyu.workspaces import service as workspaces
    from siyu.workspaces.enums import AppKind
    from siyu.workspaces.schemas import AppCreate

    upgrade(url)
    configure_crypto(Settings())
    db = Database(url)
    with db.session_scope() as session:
        workspace = workspaces.create_workspace(session, "压测")
        workspaces.add_app(
            session,
            workspace.id,
            AppCreate(
                kind=AppKind.oa_service,
                appid=APPID,
                name="压测服务号",
                token=os.environ[TOKEN_ENV],
                aes_key=os.environ[AES_ENV],
            ),
        )
    db.dispose()


def flush_queue() -> None:
    from huey.storage import RedisStorage

    from siyu.core.config import Settings
    from siyu.core.jobs import QUEUE_NAME

    url = Settings().redis_url
    assert url
    RedisStorage(QUEUE_NAME, url=url).flush_all()


def drain_jobs(url: str, expected: int, timeout: float) -> float:
    """Run the push jobs with an embedded worker until every push is processed; seconds taken."""
    from sqlalchemy import func, select

    from siyu.core.config import Settings
    from siyu.core.crypto import configure_crypto
    from siyu.core.db import Database, install_database
    from siyu.core.jobs import configure_queue
    from siyu.wechat.models import PushReceipt, PushStatus
    from siyu.worker import consumer

    settings = Settings()
    configure_crypto(settings)
    configure_queue(settings)
    db = Database(url)
    install_database(db)
    worker = consumer(4, embedded=True)
    started = time.perf_counter()
    worker.start()
    try:
        while time.perf_counter() - started < timeout:
            with db.session_scope() as session:
                done = session.scalar(
                    select(func.count())
                    .select_from(PushReceipt)
                    .where(PushReceipt.status == PushStatus.processed)
                )
            if done == expected:
                break
            time.sleep(0.25)
    finally:
        worker.stop(graceful=True)
    return time.perf_counter() - started


def check(url: str, sent: list[Delivery], results: list[Result]) -> list[str]:
    """Zero lost, zero double-processed, and the same bytes for every delivery of a push."""
    from sqlalchemy import func, select

    from siyu.core.db import Database
    from siyu.identity.models import Member, TimelineEvent
    from siyu.wechat.crypto import PushCrypto
    from siyu.wechat.models import PushReceipt, PushStatus
    from siyu.wechat.schemas import parse_xml

    problems: list[str] = []
    unique = {r.msg_id: r for r in sent}
    answers: dict[int, set[bytes]] = {}
    for request, result in zip(sent, results, strict=True):
        if result.status != 200:
            problems.append(f"message {request.msg_id}: HTTP {result.status} {result.body[:80]!r}")
        answers.setdefault(request.msg_id, set()).add(result.body)
    differing = [m for m, bodies in answers.items() if len(bodies) != 1]
    if differing:
        problems.append(f"{len(differing)} duplicate deliveries got a different answer")
    crypto = PushCrypto(os.environ[TOKEN_ENV], [os.environ[AES_ENV]], APPID)
    for msg_id in random.Random(1).sample(sorted(answers), min(200, len(answers))):
        if not _echoing():
            if answers[msg_id] != {b"success"}:
                problems.append(f"message {msg_id}: answered {answers[msg_id]!r}, not success")
            continue
        envelope = parse_xml(next(iter(answers[msg_id])))
        reply = parse_xml(crypto.decrypt(envelope["Encrypt"]).message)
        if reply["Content"] != f"收到：{unique[msg_id].content}":
            problems.append(f"message {msg_id}: the reply is not its echo")
    db = Database(url)
    with db.session_scope() as session:
        keys = list(session.scalars(select(PushReceipt.dedupe_key)))
        processed = session.scalar(
            select(func.count())
            .select_from(PushReceipt)
            .where(PushReceipt.status == PushStatus.processed)
        )
        events = session.scalar(
            select(func.count())
            .select_from(TimelineEvent)
            .where(TimelineEvent.name == "oa.message")
        )
        push_key = TimelineEvent.props["push_id"].as_string().label("push_key")
        per_push = session.execute(
            select(push_key, func.count()).group_by(push_key).having(func.count() > 1)
        ).all()
        members = session.scalar(select(func.count()).select_from(Member))
    db.dispose()
    if set(keys) != {f"m:{m}" for m in unique} or len(keys) != len(unique):
        problems.append(f"stored {len(keys)} pushes ({len(set(keys))} keys), sent {len(unique)}")
    if processed != len(unique):
        problems.append(f"{processed} of {len(unique)} pushes processed")
    if events != len(unique) or per_push:
        problems.append(
            f"{events} timeline events for {len(unique)} messages, "
            f"{len(per_push)} pushes recorded twice"
        )
    print(
        f"  stored {len(keys):,} pushes for {len(unique):,} messages "
        f"({len(sent) - len(unique):,} duplicate deliveries), {processed:,} processed, "
        f"{events:,} timeline events, {members:,} members"
    )
    return problems


# --- processing: one worker process, two `siyu worker` processes --------------------------


def store_directly(url: str, first_msg_id: int, count: int, users: int, seed: int) -> list[int]:
    """Store `count` text messages as the push writer does (64 a batch, each batch's job
    enqueued after its commit), without the HTTP part: what processing then finds."""
    from siyu import wiring
    from siyu.core.config import Settings
    from siyu.core.crypto import configure_crypto
    from siyu.core.db import Database
    from siyu.core.jobs import configure_queue, enqueue_now
    from siyu.wechat.inbox.writer import BATCH_MAX, PROCESS_JOB, Pending, store_pushes
    from siyu.wechat.schemas import build_push
    from siyu.workspaces import service as workspaces

    wiring.wire()
    settings = Settings()
    configure_crypto(settings)
    configure_queue(settings)
    db = Database(url)
    with db.session_scope() as session:
        app = workspaces.get_app_by_appid(session, APPID)
    rng = random.Random(seed)
    ids: list[int] = []
    for start in range(0, count, BATCH_MAX):
        batch = []
        for i in range(start, min(count, start + BATCH_MAX)):
            raw = {
                "ToUserName": GH_ID,
                "FromUserName": _openid(rng.randrange(users)),
                "CreateTime": str(1_760_000_000 + i // 50),
                "MsgType": "text",
                "Content": f"第{i}条",
                "MsgId": str(first_msg_id + i),
            }
            batch.append(Pending(app, build_push(APPID, raw), "success", False, None))  # type: ignore[arg-type]
        with db.engine.begin() as connection:
            _, job = store_pushes(connection, batch)
        assert job is not None
        enqueue_now(PROCESS_JOB, *job)
        ids += job[0]
    db.dispose()
    return ids


def processed_count(url: str) -> int:
    from sqlalchemy import func, select

    from siyu.core.db import Database
    from siyu.wechat.models import PushReceipt, PushStatus

    db = Database(url)
    try:
        with db.session_scope() as session:
            return int(
                session.scalar(
                    select(func.count())
                    .select_from(PushReceipt)
                    .where(PushReceipt.status == PushStatus.processed)
                )
                or 0
            )
    finally:
        db.dispose()


def one_by_one(url: str, ids: list[int]) -> float:
    """The baseline: the same pushes through the one-by-one path (`inbox.process`, a
    transaction each), in this process; seconds taken."""
    from siyu import wiring
    from siyu.core.db import Database
    from siyu.core.jobs import queue
    from siyu.wechat import inbox

    wiring.wire()
    db = Database(url)
    started = time.perf_counter()
    for push_id in ids:
        with db.session_scope() as session:
            inbox.process(session, push_id)
    seconds = time.perf_counter() - started
    db.dispose()
    while queue.dequeue() is not None:  # their queued jobs would find nothing: not measured
        pass
    return seconds


def drain_with_workers(url: str, processes: int, expected: int, timeout: float) -> float:
    """Start `processes` × `siyu worker` (real processes on this PostgreSQL and Redis), wait
    until `expected` pushes in all are processed, and return the seconds of processing: from
    the first push of this run processed to the last (the workers' start-up, a second or
    more on a loaded box, is not push processing), rounded up by one batch's share."""
    from sqlalchemy import func, select

    from siyu.core.db import Database
    from siyu.wechat.models import PushReceipt, PushStatus

    command = [
        str(Path(sys.executable).with_name("siyu")),
        "worker",
        "--workers",
        str(THREADS),
    ]
    started = time.perf_counter()
    db = Database(url)
    with db.session_scope() as session:
        before = session.scalar(select(func.max(PushReceipt.processed_at)))
    workers = [subprocess.Popen(command, env=dict(os.environ)) for _ in range(processes)]
    already = processed_count(url)
    cpu_from: tuple[float, list[float]] | None = None
    try:
        while time.perf_counter() - started < timeout:
            done = processed_count(url)
            if cpu_from is None and done > already:  # processing began: CPU from here
                cpu_from = (time.perf_counter(), _cpu_seconds([w.pid for w in workers]))
            if done >= expected:
                break
            time.sleep(0.02)
        if cpu_from is not None:
            wall = time.perf_counter() - cpu_from[0]
            used = _cpu_seconds([w.pid for w in workers])
            shares = [(b - a) / wall for a, b in zip(cpu_from[1], used, strict=True)]
            print(
                "    workers' CPU while processing: "
                + " + ".join(f"{c:.0%}" for c in shares)
                + f" of a core (the box: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f})",
                flush=True,
            )
        with db.session_scope() as session:
            run = PushReceipt.status == PushStatus.processed
            if before is not None:
                run &= PushReceipt.processed_at > before
            first, last, count = session.execute(
                select(
                    func.min(PushReceipt.processed_at),
                    func.max(PushReceipt.processed_at),
                    func.count(),
                ).where(run)
            ).one()
            # The first batch is done before its pushes' time is taken: its pushes are not
            # counted in the span, so the rate is (count - first batch) / (last - first).
            in_first = session.scalar(
                select(func.count()).where(run, PushReceipt.processed_at == first)
            )
        span = (last - first).total_seconds()
        print(
            f"    (workers started to last processed: {time.perf_counter() - started:.1f}s; "
            f"first to last processed: {span:.1f}s for {count - in_first:,} pushes)",
            flush=True,
        )
        return span * count / max(count - in_first, 1)
    finally:
        db.dispose()
        for worker in workers:
            worker.terminate()
        for worker in workers:
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()


def check_processing(url: str, expected: int) -> list[str]:
    """Every stored push processed exactly once: one timeline event per push, none twice."""
    from sqlalchemy import func, select

    from siyu.core.db import Database
    from siyu.identity.models import TimelineEvent
    from siyu.wechat.models import PushReceipt

    db = Database(url)
    with db.session_scope() as session:
        stored = session.scalar(select(func.count()).select_from(PushReceipt))
        push_key = TimelineEvent.props["push_id"].as_string()
        recorded = session.scalar(select(func.count(func.distinct(push_key))))
        events = session.scalar(select(func.count()).select_from(TimelineEvent))
    db.dispose()
    problems = []
    if processed_count(url) != expected or stored != expected:
        problems.append(f"{processed_count(url)} of {stored} stored pushes processed")
    if events != expected or recorded != expected:
        problems.append(f"{events} events for {recorded} pushes, {expected} expected")
    return problems


def processing_main(args: argparse.Namespace) -> int:
    """`--processing`: push processing alone, with figures for one worker process (embedded,
    4 threads), two `siyu worker` processes, and the one-by-one path as the baseline."""
    url = recreate_db()
    os.environ.update(
        {
            "SIYU_ENV": "development",
            "SIYU_DATABASE_URL": url,
            "SIYU_REDIS_URL": args.redis,
            "SIYU_LOG_JSON": "false",
            TOKEN_ENV: secrets.token_hex(8),
            AES_ENV: "".join(random.Random(1).choices(string.ascii_letters + string.digits, k=43)),
        }
    )
    count, problems, total = args.pushes, [], 0
    try:
        prepare(url)
        flush_queue()
        baseline_ids = store_directly(url, 30_000_000, args.baseline, args.users, 1)
        total += len(baseline_ids)
        base_rate = len(baseline_ids) / one_by_one(url, baseline_ids)
        print(f"processing, {args.users:,} senders, text messages, PostgreSQL + Redis:")
        print(f"  one by one (baseline): {base_rate:8,.0f} pushes/s ({len(baseline_ids):,})")
        flush_queue()
        rates = {}
        runs = (("1 process", 1, 31_000_000), ("2 processes", 2, 32_000_000))
        for name, processes, first in runs:
            total += len(store_directly(url, first, count, args.users, processes + 1))
            seconds = drain_with_workers(url, processes, total, timeout=600)
            rates[name] = count / seconds
            print(
                f"  {name:<21}: {rates[name]:8,.0f} pushes/s ({count:,} in {seconds:.1f}s, "
                f"`siyu worker` × {processes}, {THREADS} threads each); "
                f"{rates[name] / base_rate:.1f}× one by one",
                flush=True,
            )
            flush_queue()
        print(f"  2 processes ÷ 1 process: {rates['2 processes'] / rates['1 process']:.2f}")
        problems = check_processing(url, total)
    finally:
        try:
            flush_queue()
        finally:
            drop_db()
    for problem in problems:
        print(f"  PROBLEM: {problem}")
    print("exactly once:", "yes" if not problems else "NO")
    return 0 if not problems else 1


# --- main ----------------------------------------------------------------------------------


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(name: str, results: list[Result], seconds: float, worker_cpu: list[float]) -> float:
    rate = len(results) / seconds
    latencies = [r.seconds * 1000 for r in results]
    print(
        f"  {name:<5} {rate:8,.0f} req/s   p50 {_percentile(latencies, 0.5):6.1f} ms   "
        f"p99 {_percentile(latencies, 0.99):6.1f} ms   ({len(results):,} requests "
        f"in {seconds:.1f}s); workers' CPU " + " + ".join(f"{t / seconds:.0%}" for t in worker_cpu),
        flush=True,
    )
    return rate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000, help="measured deliveries")
    parser.add_argument("--concurrency", type=int, default=16, help="connections at once")
    parser.add_argument("--users", type=int, default=2_000, help="distinct senders")
    parser.add_argument("--duplicates", type=float, default=0.02, help="share of re-deliveries")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/12", help="job queue")
    parser.add_argument("--rounds", type=int, default=6, help="turns each server takes")
    parser.add_argument(
        "--echo",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="answer text with an encrypted echo (siyu: a passive-reply handler); else success",
    )
    parser.add_argument("--seed", type=int, default=20261120)
    parser.add_argument("--serve", nargs=2, metavar=("FACTORY", "PORT"), help=argparse.SUPPRESS)
    parser.add_argument(
        "--processing", action="store_true", help="measure push processing alone (no HTTP)"
    )
    parser.add_argument("--pushes", type=int, default=20_000, help="--processing: per run")
    parser.add_argument("--baseline", type=int, default=1_000, help="--processing: one by one")
    args = parser.parse_args()
    if args.processing:
        return processing_main(args)
    if args.serve:
        serve(args.serve[0], int(args.serve[1]))
        return 0
    if args.requests < 100:
        parser.error("--requests must be at least 100")

    url = recreate_db()
    os.environ.update(
        {
            "SIYU_ENV": "development",
            "SIYU_DATABASE_URL": url,
            "SIYU_REDIS_URL": args.redis,
            "SIYU_LOG_JSON": "false",
            # The deliveries are signed before the run, which may take longer than the
            # default 300 s window on a slow box: a window that holds the whole run.
            "SIYU_PUSH_TIMESTAMP_WINDOW_S": "3600",
            ECHO_ENV: "1" if args.echo else "0",
            TOKEN_ENV: secrets.token_hex(8),
            AES_ENV: "".join(
                random.Random(args.seed).choices(string.ascii_letters + string.digits, k=43)
            ),
        }
    )
    env = dict(os.environ, PYTHONPATH=str(HERE))
    warmup_count = max(100, args.requests // 10)
    started = time.perf_counter()
    deliveries = make_requests(args.requests + warmup_count, args.users, args.duplicates, args.seed)
    warmup, measured = deliveries[:warmup_count], deliveries[warmup_count:]
    print(
        f"{len(deliveries):,} encrypted deliveries ({warmup_count:,} for warm-up) made in "
        f"{time.perf_counter() - started:.1f}s; {args.concurrency} connections; "
        f"2 uvicorn workers each",
        flush=True,
    )
    try:
        prepare(url)
        flush_queue()
        factories = {"raw": "raw_app", "bare": "bare_app", "siyu": "siyu_app"}
        ports = {name: free_port() for name in [*factories, "werobot"]}
        servers = [start_server(factories[name], ports[name], env) for name in factories]
        servers.append(start_werobot(ports["werobot"], env))
        try:
            workers = {
                name: worker_pids(server) for name, server in zip(factories, servers, strict=False)
            }
            workers["werobot"] = gunicorn_workers(servers[-1])
            runs = asyncio.run(
                run_rounds(ports, warmup, measured, args.concurrency, args.rounds, workers)
            )
        finally:
            for server in servers:
                stop_server(server)
        early, siyu_results = runs["siyu"].warmup, runs["siyu"].measured

        print("push endpoint, secure mode, encrypted text messages:")
        rates = {
            name: report(name, run.measured, run.seconds, run.worker_cpu)
            for name, run in runs.items()
        }
        ratio = rates["siyu"] / rates["bare"]
        versus_werobot = rates["siyu"] / rates["werobot"]
        p99 = _percentile([r.seconds * 1000 for r in siyu_results], 0.99)
        print(
            f"  ratio siyu/werobot {versus_werobot:.2f} (target >= {TARGET_WEROBOT:.2f}), "
            f"siyu/bare {ratio:.0%} (target >= {TARGET_RATIO:.0%}), "
            f"siyu/raw {rates['siyu'] / rates['raw']:.0%}; "
            f"siyu p99 {p99:.1f} ms (target < {TARGET_P99_MS:.0f} ms)",
            flush=True,
        )

        unique = len({r.msg_id for r in deliveries})
        seconds = drain_jobs(url, unique, timeout=600)
        print(
            f"  jobs: {unique:,} pushes processed in {seconds:.1f}s "
            f"({unique / seconds:,.0f}/s, embedded worker, 4 threads)"
        )
        problems = check(url, deliveries, [*early, *siyu_results])
    finally:
        try:
            flush_queue()
        finally:
            drop_db()
    for problem in problems:
        print(f"  PROBLEM: {problem}")
    ok = (
        not problems
        and ratio >= TARGET_RATIO
        and versus_werobot >= TARGET_WEROBOT
        and p99 < TARGET_P99_MS
    )
    print("result:", "PASS" if ok else "BELOW TARGET" if not problems else "FAIL")
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
