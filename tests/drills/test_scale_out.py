"""The scale-out layout of deploy/Procfile, started by honcho as an operator would: two web
processes, two `siyu worker` processes against one PostgreSQL and one Redis, and the sandbox.
Every push is processed exactly once, none lost, none doubled, and both workers took a share."""

from __future__ import annotations

import re
import time

import pytest

from tests.support.processes import Deployment, wait_until

pytestmark = pytest.mark.drill


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
    assert launcher.alive, deployment.logs()
