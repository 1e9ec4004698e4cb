"""Fault drills on a deployment of real processes: a worker SIGKILLed mid-burst, Redis
restarted with jobs queued, PostgreSQL's connections cut during a burst. Each prints its
figures and asserts that no push was lost and none was processed twice."""

from __future__ import annotations

import threading
import time

import pytest

from tests.support.processes import Deployment, wait_until

pytestmark = pytest.mark.drill

USERS = 80
DRAIN_SECONDS = 60  # the target: the last push processed within 60 s of the fault


def _layout(deployment: Deployment) -> tuple[str, list[str]]:
    deployment.start_sandbox()
    web = deployment.start_web()
    appid = deployment.add_oa(web)
    assert deployment.sandbox is not None
    return appid, deployment.sandbox.users(USERS, seed=5)


def _burst(
    deployment: Deployment, appid: str, uids: list[str]
) -> tuple[threading.Thread, list[int]]:
    """Every user follows then writes, in a thread; its list gets the pushes siyu answered."""
    answered: list[int] = []
    sandbox = deployment.sandbox
    assert sandbox is not None

    def run() -> None:
        answered.append(sandbox.act_all("follow", uids, appid, threads=4))
        answered.append(sandbox.act_all("text", uids, appid, threads=4))

    thread = threading.Thread(target=run, name="burst")
    thread.start()
    return thread, answered


def _settle(deployment: Deployment, name: str, sent: int, fault_ended: float) -> None:
    seconds = wait_until(
        lambda: deployment.pushes("processed") >= deployment.pushes(),
        DRAIN_SECONDS,
        "every stored push processed",
    )
    stored, processed = deployment.pushes(), deployment.pushes("processed")
    events, doubled = deployment.push_events(), deployment.doubled_push_events()
    print(  # the drill's figures
        f"\n{name}: sent {sent}, stored {stored}, processed {processed}, effects {events}, "
        f"doubled {doubled}, last push processed {time.monotonic() - fault_ended:.1f} s after "
        f"the fault ended ({seconds:.1f} s of waiting)"
    )
    assert stored == sent, f"lost {sent - stored} pushes\n{deployment.logs()}"
    assert (processed, events, doubled) == (sent, sent, 0), deployment.logs()


def test_a_worker_killed_mid_burst_loses_and_doubles_nothing(deployment: Deployment) -> None:
    # given a deployment with one worker taking a burst of pushes
    appid, uids = _layout(deployment)
    worker = deployment.start_worker()
    thread, answered = _burst(deployment, appid, uids)
    # when the worker is SIGKILLed in the middle of it, and another starts
    wait_until(lambda: deployment.pushes("processed") >= 20, 60, "the worker is busy")
    worker.kill()
    killed_at = time.monotonic()
    successor = deployment.start_worker()
    thread.join(120)
    # then every push siyu answered is processed exactly once
    _settle(deployment, "worker SIGKILL", sum(answered), killed_at)
    assert sum(answered) == 2 * USERS
    recovered = successor.log.read_text(errors="replace").count("queue_jobs_recovered")
    print(f"worker SIGKILL: the successor put back the dead worker's jobs {recovered} time(s)")


def test_redis_restarted_with_jobs_queued_loses_none(deployment: Deployment) -> None:
    # given a burst stored and its jobs queued in Redis, no worker running yet
    appid, uids = _layout(deployment)
    thread, answered = _burst(deployment, appid, uids)
    thread.join(120)
    queued = deployment.redis.client().llen("huey.redis.siyu")
    assert queued > 0
    # when Redis restarts (its own server: it persists every write), then a worker starts
    deployment.redis.restart()
    restarted_at = time.monotonic()
    assert deployment.redis.client().llen("huey.redis.siyu") == queued
    deployment.start_worker()
    # then every push is processed exactly once
    _settle(deployment, f"Redis restart ({queued} jobs queued)", sum(answered), restarted_at)


def test_postgresql_connections_cut_mid_burst_lose_no_push(deployment: Deployment) -> None:
    # given a worker and a burst of pushes under way
    appid, uids = _layout(deployment)
    deployment.start_worker()
    thread, answered = _burst(deployment, appid, uids)
    # when every backend of the deployment's database is cut, twice during the burst
    cut = 0
    wait_until(lambda: deployment.pushes() >= USERS // 2, 60, "the burst is under way")
    cut += deployment.db.cut_connections()
    wait_until(lambda: deployment.pushes() >= USERS, 60, "the burst goes on")
    cut += deployment.db.cut_connections()
    cut_at = time.monotonic()
    thread.join(120)
    # then what siyu answered is stored and processed exactly once (WeChat retried the rest)
    assert cut > 0
    _settle(deployment, f"PostgreSQL cut ({cut} backends)", sum(answered), cut_at)


IMPORT_LINES = 120_000  # six chunks of 20,000 lines, each committed with the run's progress
CHUNK_LINES = 20_000


def test_postgresql_connections_cut_during_an_import_leave_no_half_chunk(
    deployment: Deployment,
) -> None:
    # given an upload of 120,000 events being imported by a worker, chunk by chunk
    deployment.start_worker()
    import_id = deployment.start_import(IMPORT_LINES)
    wait_until(
        lambda: deployment.import_run(import_id)["accepted"] > 0,
        90,
        "the import committed a first chunk",
    )
    # when every backend of the deployment's database is cut in the middle of it
    cut = deployment.db.cut_connections()
    cut_at = time.monotonic()
    wait_until(
        lambda: deployment.import_run(import_id)["status"] in ("done", "failed"),
        DRAIN_SECONDS,
        "the import finished or failed",
    )
    run = deployment.import_run(import_id)
    events = deployment.db.scalar(
        "SELECT count(*) FROM events WHERE workspace_id = %s AND name = 'oa.message'",
        run["workspace_id"],
    )
    members = deployment.db.scalar(
        "SELECT count(*) FROM members WHERE workspace_id = %s", run["workspace_id"]
    )
    print(
        f"\nPostgreSQL cut during an import ({cut} backends): {run['status']} "
        f"{time.monotonic() - cut_at:.1f} s after the cut, lines {IMPORT_LINES}, accepted "
        f"{run['accepted']}, events stored {events}, members made {run['members_created']} "
        f"(stored {members}); {run['message'] or ''}"
    )
    # then it finished, or failed with its cause; either way what it counted is what is
    # stored, in whole chunks (a chunk commits with its progress, or not at all)
    assert cut > 0
    assert run["rejected"] == 0
    assert run["accepted"] == events, "the run's progress and the stored events differ"
    assert run["members_created"] == members
    if run["status"] == "done":
        assert events == IMPORT_LINES
    else:
        assert events % CHUNK_LINES == 0, f"a half chunk: {events} events"
        message = run["message"] or ""
        assert "OperationalError" in message or "connection" in message.lower(), message
