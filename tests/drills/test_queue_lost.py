"""Redis restarted without persistence under a running deployment: every queued job is gone
(push processing, notice deliveries). The worker finds its registration gone at its next
heartbeat and the domains' sweeps find the stored work in the database: every push processed
once, every notice received once (WeChat's own inbox records), within 60 s."""

from __future__ import annotations

import time

import pytest

from tests.support.processes import Deployment, wait_until

pytestmark = pytest.mark.drill

USERS = 30
QUEUE = "huey.redis.siyu"


def test_redis_losing_its_queue_loses_no_push_and_no_notice(
    volatile_deployment: Deployment,
) -> None:
    d = volatile_deployment
    started = time.monotonic()
    sandbox = d.start_sandbox()
    web = d.start_web()
    appid = d.add_oa(web)
    d.add_notice(appid)
    worker = d.start_worker(threads=1)
    uids = sandbox.users(USERS, seed=13)
    assert sandbox.act_all("follow", uids, appid, threads=4) == USERS
    wait_until(lambda: d.pushes("processed") == USERS, 60, "followers processed")
    # given the worker's one thread held by WeChat (template sends time out, and go through
    # late), a first notice being delivered, then pushes and a second notice queued behind it
    sandbox.fault("timeout", prefix="/cgi-bin/message/template/send", seconds=30, proceed=True)
    queued = d.notify_followers(appid, "first")
    wait_until(lambda: sum(f["calls"] for f in sandbox.faults()) >= 1, 30, "delivery held")
    texts = sandbox.act_all("text", uids, appid, threads=4)
    queued += d.notify_followers(appid, "second")
    waiting = d.redis.client().llen(QUEUE)
    # when Redis restarts without its data, then WeChat recovers
    assert waiting > 0  # jobs were queued when Redis lost them
    d.redis.restart()
    lost_at = time.monotonic()
    # (the queue is not checked empty here: the worker and the web may enqueue at once)
    wait_until(
        lambda: "queue_state_lost" in worker.log.read_text(errors="replace"),
        30,
        "the worker notices the lost queue",
    )
    held = sandbox.recover()
    # then every push and every notice is done, once, within 60 s
    sent = USERS + texts
    try:
        wait_until(
            # a template send's TEMPLATESENDJOBFINISH push comes after it: one per notice
            lambda: d.pushes("processed") == sent + queued and d.notices_through() == queued,
            60,
            "every push processed and every notice through",
        )
    except AssertionError:
        print(  # what is missing, by state (a lost report shows as sends left "sent")
            "\npushes by status",
            d.db.rows("SELECT status, count(*) FROM wechat_pushes GROUP BY 1"),
            "\nsends by status and attempts",
            d.db.rows("SELECT status, attempts, count(*) FROM reach_sends GROUP BY 1, 2"),
        )
        raise
    drained = time.monotonic() - lost_at
    inbox = sandbox.received(appid, uids)
    print(  # the drill's figures
        f"\nRedis lost ({waiting} jobs queued, {held} WeChat calls held): pushes sent {sent}, "
        f"stored {d.pushes()}, processed {d.pushes('processed')}, effects {d.push_events()}, "
        f"doubled {d.doubled_push_events()}; notices queued {queued}, through "
        f"{d.notices_through()}, received {sum(inbox.values())}; last item done {drained:.1f} "
        f"s after Redis came back empty; the drill took {time.monotonic() - started:.0f} s"
    )
    assert waiting > 0  # jobs were queued when Redis lost them
    assert (texts, queued) == (USERS, 2 * USERS)
    assert (d.push_events(), d.doubled_push_events()) == (sent, 0), d.logs()
    assert d.pushes() == sent + queued  # and one TEMPLATESENDJOBFINISH per notice
    assert inbox == dict.fromkeys(uids, 2)
    assert drained <= 60
