"""WeChat failing, then recovering, under a deployment of real processes: the sandbox answers
-1, then 45009, then an HTTP 502 page, then holds calls past siyu's 2 s timeout (doing the
work late), while followers arrive (their UnionIDs fetched) and a notice goes out. After it
recovers the backlog drains within 60 s, no notice reaches anyone twice (WeChat's own inbox
records), and the ledger holds one row per follower, following, with its window open."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from tests.support.processes import Deployment, wait_until

pytestmark = pytest.mark.drill

USERS = 40
DRAIN_SECONDS = 60
PHASES: list[tuple[str, dict[str, Any]]] = [
    ("errcode", {"errcode": -1}),
    ("errcode", {"errcode": 45009}),
    ("http", {"status": 502}),
    ("timeout", {"seconds": 3, "proceed": True}),
]


def test_wechat_failing_then_recovering_sends_nothing_twice(
    wechat_deployment: Deployment,
) -> None:
    d = wechat_deployment
    sandbox = d.start_sandbox()
    web = d.start_web()
    appid = d.add_oa(web, unionid_scope="drill-open-platform")
    d.add_notice(appid)
    d.start_worker()
    uids = sandbox.users(USERS, seed=11)
    first, second = uids[: USERS // 2], uids[USERS // 2 :]
    # given half the users following, their pushes processed
    assert sandbox.act_all("follow", first, appid, threads=4) == len(first)
    wait_until(lambda: d.pushes("processed") == len(first), 60, "first followers processed")
    # when WeChat fails in four ways in turn while the others follow and everyone writes, and
    # the first half is sent a notice
    answered: list[int] = []

    def burst() -> None:
        answered.append(sandbox.act_all("follow", second, appid, threads=4))
        answered.append(sandbox.act_all("text", uids, appid, threads=4))

    sandbox.fault(PHASES[0][0], **PHASES[0][1])
    queued = d.notify_followers(appid, "faults")
    thread = threading.Thread(target=burst, name="burst")
    thread.start()
    calls: list[int] = []
    for n, (kind, fields) in enumerate(PHASES):
        if n:
            sandbox.fault(kind, **fields)
        wait_until(lambda: sum(f["calls"] for f in sandbox.faults()) >= 3, 30, f"{kind} hit")
        calls.append(sandbox.recover())
    recovered_at = time.monotonic()
    thread.join(120)
    sent = len(first) + sum(answered)
    # then pushes and notices drain within 60 s of WeChat's recovery
    try:
        waited = wait_until(
            # a template send's TEMPLATESENDJOBFINISH push comes after it: one per notice
            lambda: d.pushes("processed") == sent + queued and d.notices_through() == queued,
            DRAIN_SECONDS,
            "every push processed and every notice sent",
        )
    except AssertionError as exc:
        state = d.db.rows(
            "SELECT 'push', status::text, count(*) FROM wechat_pushes GROUP BY 2 UNION ALL "
            "SELECT 'send', status::text || ' ' || coalesce(reason, '') || ' ' || "
            "coalesce(errcode::text, ''), count(*) FROM reach_sends GROUP BY 2"
        )
        raise AssertionError(f"{exc}: {state}\n{d.logs()}") from None
    drained = time.monotonic() - recovered_at
    inbox = sandbox.received(appid, uids)
    ledger = d.db.rows(
        "SELECT count(*), count(*) FILTER (WHERE following), "
        "count(*) FILTER (WHERE window_opened_at IS NOT NULL) FROM reach_ledger"
    )[0]
    waiting = d.db.scalar(
        "SELECT count(*) FROM wechat_unionid_fetches WHERE next_attempt_at IS NOT NULL"
    )
    given_up = d.db.scalar(
        "SELECT count(*) FROM wechat_unionid_fetches WHERE next_attempt_at IS NULL"
    )
    print(  # the drill's figures
        f"\nWeChat faults (calls answered per phase {calls}): pushes sent {sent} (and "
        f"{queued} template job reports), stored "
        f"{d.pushes()}, processed {d.pushes('processed')}, effects {d.push_events()}, doubled "
        f"{d.doubled_push_events()}; notices queued {queued}, through {d.notices_through()}, "
        f"received "
        f"{sum(inbox.values())} (doubled {sum(1 for n in inbox.values() if n > 1)}); UnionID "
        f"fetches waiting to retry {waiting}, given up {given_up}; ledger {ledger}; last item "
        f"done {drained:.1f} s after WeChat recovered ({waited:.1f} s of waiting)"
    )
    assert all(c >= 3 for c in calls), calls
    assert sent == len(first) + USERS + USERS // 2, d.logs()
    assert queued == len(first)
    # every push stored once (a notice's TEMPLATESENDJOBFINISH is a push too, with no event)
    stored = (d.pushes(), d.pushes("processed"), d.push_events(), d.doubled_push_events())
    assert stored == (sent + queued, sent + queued, sent, 0), d.logs()
    assert inbox == {uid: int(uid in first) for uid in uids}
    assert ledger == (USERS, USERS, USERS)
    assert given_up == 0  # a fetch WeChat did not answer is kept, with its next try
    assert drained <= DRAIN_SECONDS
