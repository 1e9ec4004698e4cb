"""Benchmark of reach: notices by intent through the sandbox, and auto-reply rule matching.

    .venv/bin/python bench/reach.py                     # 100,000 members, 1,000 rules
    .venv/bin/python bench/reach.py --n 5000            # a quick run
    .venv/bin/python bench/reach.py --n 5000 --sqlite   # on a SQLite file instead

1. Matching: 1,000 rules of one app (600 exact, 300 contains, 100 regex, random priorities),
   compiled once, matched against 20,000 messages (a quarter hitting each kind, a quarter
   nothing); matches/s printed beside a plain dict lookup of the exact keywords over the same
   messages, and the ratio. The first 2,000 answers are checked against a brute-force scan.

2. Notices: N members of an OA (service account) and an MP, each with one state in the
   sandbox and the same state heard by siyu through the push subscribers (the path
   `inbox.process` takes): 30% follow the OA, 25% accepted the MP template once or twice,
   20% wrote to the OA (a 48-hour window of 5), 5% turned "activity" off, 3% do-not-contact,
   the rest nothing. Each member is notified once by intent ("activity" or "service",
   half urgent) by `notify_many` in batches of 1,000 (one transaction each), then the
   delivery jobs (`reach.deliver_batch`, 100 sends each) run on a worker's 2 threads, each
   job twice (a duplicated job must not send twice), each with its concurrent calls against
   the sandbox over loopback HTTP. Printed: decisions/s, deliveries/s, end-to-end
   messages/s, and a baseline of the same sandbox sends made directly with the gateway (no
   ledger, no log) by as many threads as the deliveries have calls in flight.

Checks: zero 43101, 45015, 45047 (and zero other refusals) from the sandbox; zero lost (no
send left queued or sending) and zero doubled: the sandbox's inboxes hold exactly one message
per send siyu recorded as sent, and none for members whose notice was held or dropped.

Profile: `--profile DIR` writes cProfile files of the decisions and of the deliveries.
"""

from __future__ import annotations

import argparse
import cProfile
import logging
import os
import random
import re
import socket
import string
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
# A random suffix: two benches (or two helpers) on one server never share a database.
PG_DB = f"siyu_reach_bench_{os.getpid()}_{random.randrange(1 << 30):08x}"
OA_APPID = "wxbe4c4bec4bec4bea"
MP_APPID = "wxbe4c4bec4bec4beb"
SECRET = "s" * 32
WORKER_THREADS = 2  # a `siyu worker`'s default threads (SIYU_WORKER_THREADS)
BATCH = 500  # members set up per transaction
NOTIFY_BATCH = 1000  # notices decided per notify_many (one transaction each)


# --- 1. matching --------------------------------------------------------------------------


def bench_matching(seed: int, rules_n: int = 1000, messages_n: int = 20_000) -> None:
    from siyu.autoreply.enums import MatchKind, RuleKind
    from siyu.autoreply.matching import Matcher, Rule, regex_problem

    rng = random.Random(seed)
    hanzi = "课程表打卡报名退款时间地点老师作业直播回放优惠活动积分会员签到"

    def word(lo: int, hi: int) -> str:
        return "".join(
            rng.choice(hanzi + string.ascii_lowercase) for _ in range(rng.randint(lo, hi))
        )

    rules: list[Rule] = []
    exact_words: dict[str, int] = {}
    for i in range(rules_n):
        share = i / rules_n
        kind = (
            MatchKind.exact
            if share < 0.6
            else MatchKind.contains
            if share < 0.9
            else MatchKind.regex
        )
        if kind == MatchKind.regex:
            pattern = rf"^{word(2, 3)}\d{{{rng.randint(2, 4)}}}"
            assert regex_problem(pattern) is None
            keywords: tuple[str, ...] = (pattern,)
            patterns = (re.compile(pattern),)
        else:
            keywords, patterns = (word(2, 6).casefold(),), ()
            if kind == MatchKind.exact:
                exact_words[keywords[0]] = i
        rules.append(
            Rule(
                id=i + 1,
                name=f"r{i}",
                kind=RuleKind.keyword,
                match=kind,
                keywords=keywords,
                priority=rng.randint(0, 1000),
                active_from=None,
                active_until=None,
                reply={"type": "text", "content": "ok"},
                tag=None,
                patterns=patterns,
            )
        )
    exact = [r for r in rules if r.match == MatchKind.exact]
    contains = [r for r in rules if r.match == MatchKind.contains]
    regex = [r for r in rules if r.match == MatchKind.regex]
    messages = []
    for i in range(messages_n):
        pick = i % 4
        if pick == 0:
            messages.append(rng.choice(exact).keywords[0])
        elif pick == 1:
            messages.append(word(0, 8) + rng.choice(contains).keywords[0] + word(0, 8))
        elif pick == 2:
            prefix = rng.choice(regex).keywords[0][1:].split("\\", 1)[0]
            messages.append(prefix + str(rng.randint(1000, 9999)) + word(0, 6))
        else:
            messages.append(word(4, 20))
    now = datetime.now(UTC)
    built = time.perf_counter()
    matcher = Matcher.build(rules)
    build_s = time.perf_counter() - built

    def brute(text: str) -> int | None:
        norm = text.strip().casefold()
        hits = [
            r
            for r in rules
            if (r.match == MatchKind.exact and norm == r.keywords[0])
            or (r.match == MatchKind.contains and r.keywords[0] in norm)
            or (r.match == MatchKind.regex and r.patterns[0].search(text))
        ]
        return min(hits, key=lambda r: r.order).id if hits else None

    for text in messages[:2000]:
        got = matcher.match(text, now)
        assert (got.id if got else None) == brute(text), text
    started = time.perf_counter()
    hits = sum(matcher.match(text, now) is not None for text in messages)
    matched_s = time.perf_counter() - started
    started = time.perf_counter()
    dict_hits = sum(exact_words.get(text.strip().casefold()) is not None for text in messages)
    dict_s = time.perf_counter() - started
    rate, dict_rate = messages_n / matched_s, messages_n / dict_s
    print(f"matching: {rules_n} rules compiled in {build_s * 1000:.1f} ms")
    print(f"  rules matcher : {rate:>12,.0f} matches/s ({hits} of {messages_n} messages hit)")
    print(f"  dict (exact)  : {dict_rate:>12,.0f} lookups/s ({dict_hits} hit)")
    print(f"  ratio matcher/dict: {rate / dict_rate:.3f}  (target: ≥ 20,000 matches/s)")
    if rate < 20_000:
        print("  BELOW TARGET")


# --- 2. notices -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve_in_thread(app: Any) -> Iterator[str]:
    import uvicorn

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def recreate_db() -> str:
    for sql in (f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)', f'CREATE DATABASE "{PG_DB}"'):
        subprocess.run(["psql", f"{PG_SERVER}/postgres", "-qc", sql], check=True)
    return f"{PG_SERVER}/{PG_DB}"


def bench_notices(n: int, seed: int, sqlite: bool, profile: Path | None = None) -> list[str]:
    import httpx
    import structlog
    from huey.storage import MemoryStorage
    from sqlalchemy import func, select

    from siyu import wiring
    from siyu.core.config import Settings, install_settings
    from siyu.core.crypto import configure_crypto
    from siyu.core.db import Database, install_database
    from siyu.core.events import bus
    from siyu.core.jobs import queue
    from siyu.identity import service as identity
    from siyu.identity.schemas import PersonRef
    from siyu.migrations import upgrade
    from siyu.reach import service, tasks
    from siyu.reach.enums import SendStatus
    from siyu.reach.models import ReachSend
    from siyu.reach.schemas import PreferencesIn, TemplateCreate
    from siyu.sandbox.app import create_sandbox_app
    from siyu.sandbox.messaging import open_grant
    from siyu.sandbox.world import AccountSpec, Follow, SandboxWorld, TemplateSpec
    from siyu.wechat.schemas import (
        SubscribeChoice,
        SubscribeEvent,
        SubscribeMsgPopupEvent,
        TemplateMessage,
        TextMessage,
    )
    from siyu.wechat.service import gateway_for
    from siyu.workspaces import service as workspaces
    from siyu.workspaces.enums import AppKind
    from siyu.workspaces.schemas import AppCreate

    rng = random.Random(seed)
    if sqlite:
        path = Path("/tmp") / f"siyu-reach-bench-{os.getpid()}.db"
        url = f"sqlite:///{path}"
    else:
        url = recreate_db()
    os.environ.update({"SIYU_ENV": "development", "SIYU_DATABASE_URL": url})
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    configure_crypto(settings)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    logging.getLogger("httpx").setLevel(logging.WARNING)
    upgrade(url)
    db = Database(url)
    install_database(db)
    queue.storage = MemoryStorage("siyu-reach-bench")
    # Only reach's ledger listens, as it did when reach subscribed itself: what is measured.
    for subscriber in wiring.SUBSCRIBERS:
        if subscriber.handler.__module__.startswith("siyu.reach."):
            bus.subscribe(subscriber.event, subscriber.handler)
    world = SandboxWorld(seed)
    world.register(
        AccountSpec(
            appid=OA_APPID,
            secret=SECRET,
            kind="oa_service",
            templates=[TemplateSpec(template_id="tpl-notice", title="通知", keys=["thing1"])],
        )
    )
    world.register(
        AccountSpec(
            appid=MP_APPID,
            secret=SECRET,
            kind="mp",
            templates=[TemplateSpec(template_id="sub-notice", title="通知", keys=["thing1"])],
        )
    )
    http = httpx.Client(timeout=10)
    sandbox = create_sandbox_app(world, http=http)
    problems: list[str] = []
    with serve_in_thread(sandbox) as sandbox_url:
        settings = settings.model_copy(update={"wechat_api_base": sandbox_url})
        install_settings(settings)
        with db.session_scope() as session:
            ws = workspaces.ensure_default_workspace(session).id
            oa = workspaces.add_app(
                session,
                ws,
                AppCreate(kind=AppKind.oa_service, appid=OA_APPID, name="服务号", secret=SECRET),
            )
            mp = workspaces.add_app(
                session,
                ws,
                AppCreate(kind=AppKind.mp, appid=MP_APPID, name="小程序", secret=SECRET),
            )
            for kind, app, template_id in (
                ("oa_template", oa, "tpl-notice"),
                ("mp_subscribe", mp, "sub-notice"),
            ):
                service.add_template(
                    session,
                    ws,
                    TemplateCreate(
                        key="notice",
                        kind=kind,  # type: ignore[arg-type]
                        appid=app.appid,
                        template_id=template_id,
                        title="通知",
                        fields={"thing1": "text"},
                    ),
                    "bench",
                )
            service.add_template(
                session,
                ws,
                TemplateCreate(
                    key="notice",
                    kind="customer_service",
                    appid=oa.appid,
                    title="通知",
                    body="{text}",
                ),
                "bench",
            )
            policy = service.get_policy(session, ws).model_dump(mode="json")
            policy["quiet_hours"] = None  # the bench runs at any hour
            policy["caps"] = {}
            service.set_policy(session, ws, policy, "bench")

        # The population: the same state in the sandbox and (through the push subscribers) in
        # siyu's ledger.
        started = time.perf_counter()
        users = world.create_users(n, seed=seed)
        states: list[str] = []
        now = world.now()
        for start in range(0, n, BATCH):
            chunk = users[start : start + BATCH]
            with db.session_scope() as session:
                oa_people = [
                    PersonRef(appid=OA_APPID, openid=world.openid(u, OA_APPID), unionid=u.unionid)
                    for u in chunk
                ]
                mp_people = [
                    PersonRef(appid=MP_APPID, openid=world.openid(u, MP_APPID), unionid=u.unionid)
                    for u in chunk
                ]
                oa_ids = [r.id for r in identity.resolve_members(session, oa, oa_people)]
                identity.resolve_members(session, mp, mp_people)
                for user, member_id in zip(chunk, oa_ids, strict=True):
                    roll = rng.random()
                    base = {"to_user": "gh_bench", "create_time": now, "workspace_id": ws}
                    oa_push = {
                        **base,
                        "appid": OA_APPID,
                        "openid": user.openids[OA_APPID],
                        "app_id": oa.id,
                        "member_id": member_id,
                    }
                    if roll < 0.30:
                        state = "follows"
                        user.follows[OA_APPID] = Follow(True, now, "ADD_SCENE_SEARCH")
                        bus.publish(
                            session,
                            SubscribeEvent(
                                **oa_push,
                                msg_type="event",
                                event="subscribe",
                                key="",
                                scene=None,
                                ticket=None,
                            ),
                        )
                    elif roll < 0.55:
                        state = "credit"
                        credits = 1 + (roll < 0.40)
                        user.credits[(MP_APPID, "sub-notice")] = credits
                        choice = SubscribeChoice("sub-notice", "accept", "0")
                        mp_push = {
                            **oa_push,
                            "appid": MP_APPID,
                            "openid": user.openids[MP_APPID],
                            "app_id": mp.id,
                        }
                        for _ in range(credits):
                            bus.publish(
                                session,
                                SubscribeMsgPopupEvent(
                                    **mp_push,
                                    msg_type="event",
                                    event="subscribe_msg_popup_event",
                                    choices=(choice,),
                                ),
                            )
                    elif roll < 0.75:
                        state = "window"
                        open_grant(world, user, OA_APPID, "message")
                        bus.publish(
                            session,
                            TextMessage(
                                **oa_push,
                                msg_type="text",
                                msg_id=str(start + len(states)),
                                content="在吗",
                            ),
                        )
                    elif roll < 0.80:
                        state = "muted"
                        service.set_preferences(
                            session, ws, member_id, PreferencesIn(muted=["activity"]), "bench"
                        )
                    elif roll < 0.83:
                        state = "dnc"
                        service.set_preferences(
                            session, ws, member_id, PreferencesIn(do_not_contact=True), "bench"
                        )
                    else:
                        state = "nothing"
                    states.append(state)
        print(
            f"notices: {n} members set up in {time.perf_counter() - started:.1f} s:",
            dict(Counter(states)),
        )

        # Decisions: every member notified once by intent, in transactions of BATCH.
        with db.session_scope() as session:
            from siyu.identity.models import Identity  # the bench reads the ids it created

            rows = session.execute(
                select(Identity.value, Identity.member_id).where(Identity.scope == OA_APPID)
            ).all()
        member_of = dict(rows)
        member_ids = [member_of[u.openids[OA_APPID]] for u in users]
        profiler = cProfile.Profile() if profile else None
        if profiler:
            profiler.enable()
        started = time.perf_counter()
        for start in range(0, n, NOTIFY_BATCH):
            with db.session_scope() as session:
                service.notify_many(
                    session,
                    ws,
                    [
                        service.Intent(
                            member_id=member_id,
                            template_key="notice",
                            data={"text": "今晚八点直播"},
                            category="activity" if i % 2 else "service",
                            urgency="urgent" if i % 4 < 2 else "normal",
                            dedupe_key=f"bench:{i}",
                        )
                        for i, member_id in enumerate(
                            member_ids[start : start + NOTIFY_BATCH], start
                        )
                    ],
                )
        decide_s = time.perf_counter() - started
        if profiler and profile:
            profiler.disable()
            profiler.dump_stats(profile / "decisions.prof")
        batches: list[list[int]] = []
        while (task := queue.dequeue()) is not None:
            if task.name.endswith("deliver_batch"):
                batches.append([int(i) for i in task.args[0]])
        queued = [send_id for batch in batches for send_id in batch]
        print(
            f"  decisions     : {n / decide_s:>10,.0f} notices/s",
            f"({len(queued)} queued in {len(batches)} delivery jobs; target ≥ 1,000/s)",
        )

        # Deliveries: the batch jobs as a worker runs them (its threads), each job twice.
        in_flight = WORKER_THREADS * tasks.CONCURRENCY
        started = time.perf_counter()
        with ThreadPoolExecutor(WORKER_THREADS) as pool:
            list(pool.map(tasks.deliver_batch.call_local, batches + batches))
        deliver_s = time.perf_counter() - started
        rate = len(queued) / deliver_s
        print(
            f"  deliveries    : {rate:>10,.0f} messages/s",
            f"({WORKER_THREADS} job threads × {tasks.CONCURRENCY} calls = {in_flight} in flight;",
            "each job run twice)",
        )
        print(f"  end to end    : {len(queued) / (decide_s + deliver_s):>10,.0f} messages/s")

        # Baseline: the same sandbox sends, straight through the gateway, as many in flight.
        followers = [u for u, s in zip(users, states, strict=True) if s == "follows"][:4000]
        gateway = gateway_for(settings, db)

        def direct(user: Any) -> None:
            gateway.send_template_message(
                OA_APPID,
                TemplateMessage(
                    touser=user.openids[OA_APPID], template_id="tpl-notice", data={"thing1": "基线"}
                ),
            )

        # Two baselines: as many threads as calls in flight, and 8 (the old bench's); the
        # ratio is taken against the faster, so GIL contention in the baseline cannot flatter
        # the deliveries.
        half = len(followers) // 2
        base_rates: dict[int, float] = {}
        for threads, chunk in ((in_flight, followers[:half]), (8, followers[half:])):
            started = time.perf_counter()
            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(direct, chunk))
            base_rates[threads] = len(chunk) / (time.perf_counter() - started) if chunk else 0.0
        base_rate = max(base_rates.values())
        if base_rate:
            for threads, value in base_rates.items():
                print(
                    f"  baseline      : {value:>10,.0f} messages/s",
                    f"(gateway only, {half} sends, {threads} threads)",
                )
            ratio = rate / base_rate
            print(f"  ratio deliveries/baseline: {ratio:.3f}  (the faster baseline; target ≥ 0.8)")
            if ratio < 0.8:
                print("  BELOW TARGET")
        for user in followers:  # the baseline's messages are not siyu's
            user.inbox = [
                item
                for item in user.inbox
                if item.content.get("data") != {"thing1": {"value": "基线"}}
            ]

        # Checks.
        with db.session_scope() as session:
            outcome = Counter(
                (str(s), r or "", e or 0)
                for s, r, e in session.execute(
                    select(ReachSend.status, ReachSend.reason, ReachSend.errcode)
                )
            )
            sent_of = dict(
                session.execute(
                    select(ReachSend.member_id, func.count())
                    .where(ReachSend.status == SendStatus.sent)
                    .group_by(ReachSend.member_id)
                ).all()
            )
        print(f"  outcomes      : {dict(outcome)}")
        unsent = sum(v for (st, _r, _e), v in outcome.items() if st in ("queued", "sending"))
        if unsent:
            problems.append(f"{unsent} sends still queued or sending after delivery (lost)")
        refused = {k: v for k, v in outcome.items() if k[2]}
        if refused:
            problems.append(f"platform refusals: {refused}")
        duplicates = missing = 0
        for user, member_id in zip(users, member_ids, strict=True):
            got = len(user.inbox)
            want = sent_of.get(member_id, 0)
            duplicates += max(got - want, 0)
            missing += max(want - got, 0)
        print(
            f"  inboxes       : {sum(len(u.inbox) for u in users)} messages,",
            f"{duplicates} duplicates, {missing} missing",
        )
        if duplicates or missing:
            problems.append(
                f"inboxes differ from the send log: {duplicates} extra, {missing} missing"
            )
    http.close()
    db.dispose()
    if not sqlite:
        drop = f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)'
        subprocess.run(["psql", f"{PG_SERVER}/postgres", "-qc", drop], check=True)
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="members to notify")
    parser.add_argument("--rules", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=20261120)
    parser.add_argument("--sqlite", action="store_true", help="a SQLite file, not PostgreSQL")
    parser.add_argument("--skip-notices", action="store_true")
    parser.add_argument("--skip-matching", action="store_true")
    parser.add_argument("--profile", type=Path, help="write cProfile files of the decisions here")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE.parent / "src"))
    if not args.skip_matching:
        bench_matching(args.seed, args.rules)
    problems = []
    if not args.skip_notices:
        problems = bench_notices(args.n, args.seed, args.sqlite, args.profile)
    for problem in problems:
        print(f"FAILED: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
