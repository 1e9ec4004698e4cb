"""The scale-out layout of deploy/Procfile, started by honcho as an operator would: two web
processes, two `siyu worker` processes against one PostgreSQL and one Redis, and the sandbox.
Every push is processed exactly once, none lost, none doubled, and both workers took a share;
a notice to every follower and a settlement's refunds through WeChat Pay, shared by the same
two workers, each take effect exactly once by the sandbox's own records (its users' inboxes,
its merchant's ledger)."""

from __future__ import annotations

import re
import time

import pytest

from tests.support.processes import Deployment, wait_until

pytestmark = pytest.mark.drill
REFUNDS = 40  # paid orders a settlement refunds, in jobs of 10 the two workers share


def test_the_procfile_layout_processes_every_push_exactly_once(deployment: Deployment) -> None:
    # given deploy/Procfile started with 2 web and 2 worker processes, an account on each web
    launcher = deployment.start_procfile(webs=2, workers=2)
    accounts = [deployment.add_oa(url) for url in deployment.webs]
    sandbox = deployment.sandbox
    assert sandbox is not None
    users = sandbox.users(60, seed=3)
    # when every user follows and writes to both accounts
    started = time.monotonic()
    answered = 0
    for appid in accounts:
        answered += sandbox.act_all("follow", users, appid)
        answered += sandbox.act_all("text", users, appid)
    sent = 2 * 2 * len(users)
    # then every push is stored once and processed once, by both workers together
    assert answered == sent, deployment.logs()
    seconds = wait_until(lambda: deployment.pushes("processed") == sent, 90, "every push processed")
    stored, events, doubled = (
        deployment.pushes(),
        deployment.push_events(),
        deployment.doubled_push_events(),
    )
    log = launcher.log.read_text(errors="replace")
    ran = [
        len(re.findall(rf"^\S*\s*worker\.{n}\s*\|.*\"job\": \"wechat.process_pushes\"", log, re.M))
        for n in (1, 2)
    ]
    print(
        f"\nscale-out: sent {sent}, stored {stored}, processed {sent}, effects {events}, "
        f"doubled {doubled}; push jobs per worker {ran}; {time.monotonic() - started:.1f} s "
        f"in all, {seconds:.1f} s to drain after the last push"
    )
    assert (stored, events, doubled) == (sent, sent, 0)
    assert all(n > 0 for n in ran), f"each worker took a share: {ran}\n{log[-3000:]}"
    # when a notice goes to every follower of the first account and a settlement refunds
    # every paid order of a Pay merchant, both queued on the two workers at once
    deployment.add_notice(accounts[0])
    refunds = deployment.add_paid_orders(deployment.webs[0], users[:REFUNDS])
    started = time.monotonic()
    queued = deployment.notify_followers(accounts[0], "scale")
    recorded = refunds.settle()
    # then each notice reached its user once and each refund left once (the sandbox's word)
    wait_until(
        lambda: deployment.notices_through() == queued and refunds.accepted() == recorded,
        90,
        "every notice through and every refund taken by WeChat Pay",
    )
    inbox = sandbox.received(accounts[0], users)
    orders, doubled, money = refunds.taken()
    print(
        f"scale-out: notices queued {queued}, through {deployment.notices_through()}, "
        f"received {sum(inbox.values())}; refunds recorded {recorded}, taken by Pay {orders}, "
        f"doubled {doubled}, {money} fen; {time.monotonic() - started:.1f} s"
    )
    assert queued == len(users)
    assert inbox == dict.fromkeys(users, 1)
    assert (recorded, orders, doubled, money) == (REFUNDS, REFUNDS, 0, REFUNDS * 990)
    assert launcher.alive, deployment.logs()
