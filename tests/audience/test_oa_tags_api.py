"""The OA tag sync over the API: mapped, synced by its job, read back with its report; the
OA's tags imported; a subscription account's broadcast to a synced tag (sendall + tag_id)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from siyu.core.db import Database
from siyu.reach import tasks as reach_tasks
from siyu.sandbox.world import SandboxWorld
from siyu.security.schemas import Principal
from siyu.workspaces.schemas import AppRead
from tests.support.names import OA_APPID, SUB_APPID
from tests.support.oa_tags import fans, on_tag, sync_count, tag
from tests.support.reach import sends

pytestmark = pytest.mark.usefixtures("jobs_call_the_sandbox")


def test_map_sync_and_read_the_report(
    api: TestClient,
    drain: Callable[[], int],
    db: Database,
    owner: Principal,
    oa_app: AppRead,
    world: SandboxWorld,
) -> None:
    # given 3 followers tagged 早起营 and one who never followed
    people = fans(db, world, oa_app, 3)
    left = fans(db, world, oa_app, 1, following=False)
    tag(db, owner.workspace_id, people + left, "早起营")
    # when the operator maps the tag and starts a sync, and the job runs
    made = api.post("/api/audience/oa-tags", json={"appid": OA_APPID, "source": "早起营"})
    assert made.status_code == 201, made.text
    sync_id = made.json()["id"]
    started = api.post(f"/api/audience/oa-tags/{sync_id}/sync")
    assert started.status_code == 202, started.text
    assert started.json()["status"] == "running"
    drain()
    # then WeChat's tag holds the followers, and the report says who was skipped and why
    assert on_tag(world, OA_APPID, "早起营") == {p.openid for p in people}
    read = api.get(f"/api/audience/oa-tags/{sync_id}").json()
    assert (read["status"], read["members"]) == ("done", 3)
    assert read["report"]["tagged"] == 3
    assert read["report"]["skipped"] == {"not_following": 1}
    listed = api.get("/api/audience/oa-tags", params={"appid": OA_APPID}).json()
    assert [s["id"] for s in listed] == [sync_id]


def test_bad_input_is_a_4xx_and_writes_nothing(
    api: TestClient, db: Database, oa_app: AppRead, mp_app: AppRead
) -> None:
    too_long = api.post(
        "/api/audience/oa-tags",
        json={"appid": OA_APPID, "source": "早起营", "oa_tag_name": "长" * 11},
    )
    assert too_long.status_code == 400
    assert too_long.json()["code"] == "audience.oa_tag_name_invalid"
    unknown_field = api.post("/api/audience/oa-tags", json={"appid": OA_APPID, "source": ""})
    assert unknown_field.status_code == 422
    assert api.get("/api/audience/oa-tags/999").status_code == 404
    assert api.post("/api/audience/oa-tags/999/sync").status_code == 404
    assert sync_count(db) == 0


def test_import_the_oas_tags(
    api: TestClient, db: Database, owner: Principal, oa_app: AppRead, world: SandboxWorld
) -> None:
    people = fans(db, world, oa_app, 2)
    account = world.account(OA_APPID)
    account.tags[100], account.next_tag_id = "老客户", 101
    for person in people:
        person.user.tags[OA_APPID] = {100}
    done = api.post("/api/audience/oa-tags/import", json={"appid": OA_APPID})
    assert done.status_code == 200, done.text
    assert done.json() == {"tags": ["老客户"], "members_tagged": 2, "unknown_openids": 0}
    assert sync_count(db) == 1  # the imported tag is kept in sync from now on


def test_a_subscription_account_broadcasts_to_a_synced_tag(
    api: TestClient,
    drain: Callable[[], int],
    db: Database,
    owner: Principal,
    subscription_app: AppRead,
    world: SandboxWorld,
) -> None:
    # given a synced tag of the subscription account, and a follower outside it
    inside = fans(db, world, subscription_app, 2)
    (outside,) = fans(db, world, subscription_app, 1)
    tag(db, owner.workspace_id, inside, "早起营")
    made = api.post("/api/audience/oa-tags", json={"appid": SUB_APPID, "source": "早起营"})
    sync_id = made.json()["id"]
    # a broadcast before the first sync is refused, naming why
    early = api.post(
        f"/api/audience/oa-tags/{sync_id}/broadcast", json={"name": "早安", "text": "早安"}
    )
    assert early.status_code == 409
    assert early.json()["code"] == "audience.not_synced_yet"
    api.post(f"/api/audience/oa-tags/{sync_id}/sync")
    drain()
    # when the operator broadcasts to it and the broadcast runs
    sent = api.post(
        f"/api/audience/oa-tags/{sync_id}/broadcast", json={"name": "早安", "text": "早安"}
    )
    assert sent.status_code == 201, sent.text
    assert sent.json()["audience"]["oa_tag_id"] == world.account(SUB_APPID).next_tag_id - 1
    reach_tasks.run_broadcasts.call_local()
    drain()
    # then WeChat delivered it to the tag's followers only, by one sendall
    assert [i.content for i in inside[0].user.inbox] == [{"content": "早安"}]
    assert outside.user.inbox == []
    assert {s.status for s in sends(db)} == {"sent"}
    # and a second one the same day is refused before WeChat (once a day)
    again = api.post(
        f"/api/audience/oa-tags/{sync_id}/broadcast", json={"name": "再次", "text": "x"}
    )
    assert again.status_code == 409
    assert again.json()["code"] == "reach.daily_mass_used"
