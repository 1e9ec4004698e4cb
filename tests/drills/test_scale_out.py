"""Two `siyu worker` processes against one PostgreSQL and one Redis share the work: every push
is processed exactly once, none lost, none doubled."""

from __future__ import annotations

import time

import pytest

from tests.support.processes import Deployment, wait_until

pytestmark = pytest.mark.drill


def test_two_workers_process_every_push_exactly_once(deployment: Deployment) -> None:
    # given two web processes (one per account), two worker processes and the sandbox
    deployment.start_sandbox()
    webs = [deployment.start_web(), deployment.start_web()]
    accounts = [deployment.add_oa(url) for url in webs]
    workers = [deployment.start_worker(), deployment.start_worker()]
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
    print(
        f"\nscale-out: sent {sent}, stored {stored}, processed {sent}, effects {events}, "
        f"doubled {doubled}, {time.monotonic() - started:.1f} s in all, "
        f"{seconds:.1f} s to drain after the last push"
    )
    assert (stored, events, doubled) == (sent, sent, 0)
    assert all(w.alive for w in workers), deployment.logs()
    ran = [w.log.read_text(errors="replace").count('"wechat.process_pushes"') for w in workers]
    assert all(n > 0 for n in ran), f"each worker took a share: {ran}\n{deployment.logs()}"
