"""`siyu tags sync TAG --app APPID [--json]` and `siyu tags import`: the report printed, a
refusal exits 1 naming its code."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from siyu.cli.main import app
from siyu.core.db import Database
from siyu.sandbox.world import SandboxWorld
from siyu.security.schemas import Principal
from siyu.workspaces.schemas import AppRead
from tests.support.names import MP_APPID, OA_APPID
from tests.support.oa_tags import fans, on_tag, tag


def test_tags_sync_prints_the_report(
    sandbox_cli: CliRunner, db: Database, owner: Principal, oa_app: AppRead, world: SandboxWorld
) -> None:
    # given 3 followers and one who left, all tagged 早起营
    people = fans(db, world, oa_app, 3)
    left = fans(db, world, oa_app, 1, following=False)
    tag(db, owner.workspace_id, people + left, "早起营")
    # when the sync runs with --json
    done = sandbox_cli.invoke(app, ["tags", "sync", "早起营", "--app", OA_APPID, "--json"])
    # then it prints the report and WeChat carries the tag
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert (report["tagged"], report["untagged"]) == (3, 0)
    assert report["skipped"] == {"not_following": 1}
    assert report["examples"] == [{"member_id": left[0].member_id, "reason": "not_following"}]
    assert on_tag(world, OA_APPID, "早起营") == {p.openid for p in people}
    # and a second run, in words, tags nothing new
    again = sandbox_cli.invoke(app, ["tags", "sync", "早起营", "--app", OA_APPID])
    assert again.exit_code == 0, again.output
    assert "tagged 0, untagged 0" in again.output
    assert "skipped 1: not_following" in again.output


def test_tags_sync_refusal_exits_1(
    sandbox_cli: CliRunner, oa_app: AppRead, mp_app: AppRead
) -> None:
    refused = sandbox_cli.invoke(app, ["tags", "sync", "早起营", "--app", MP_APPID])
    assert refused.exit_code == 1
    assert "audience.not_an_official_account" in refused.output


def test_tags_import(
    sandbox_cli: CliRunner, db: Database, oa_app: AppRead, world: SandboxWorld
) -> None:
    people = fans(db, world, oa_app, 2)
    account = world.account(OA_APPID)
    account.tags[100] = "老客户"
    account.next_tag_id = 101
    for person in people:
        person.user.tags[OA_APPID] = {100}
    done = sandbox_cli.invoke(app, ["tags", "import", "--app", OA_APPID, "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout) == {
        "tags": ["老客户"],
        "members_tagged": 2,
        "unknown_openids": 0,
    }
