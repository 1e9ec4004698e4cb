"""`/sandbox-admin`, mounting inside another app, and the `siyu sandbox` commands."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from siyu.sandbox.app import mount_sandbox
from siyu.sandbox.cli import app as cli
from siyu.sandbox.world import SandboxWorld
from tests.support.sandbox import OA, SECRET, SIYU, Sandbox

NEW_OA = "wx00000000000000e5"


def test_register_an_account_and_see_it(sandbox: Sandbox) -> None:
    spec = {
        "appid": NEW_OA,
        "secret": SECRET,
        "kind": "oa_service",
        "token": "t",
        "push_url": f"{SIYU}/wechat/push/{NEW_OA}",
        "templates": [{"title": "通知", "keys": ["thing1"]}],
    }
    view = sandbox.client.post("/sandbox-admin/accounts", json=spec).json()
    assert view["appid"] == NEW_OA
    assert not {"secret", "token", "aes_key"} & set(view)
    assert view["original_id"].startswith("gh_")
    assert view["templates"][0]["keys"] == ["thing1"]
    # registering again is harmless (make run does it on every start)
    again = sandbox.client.post("/sandbox-admin/accounts", json=spec).json()
    assert again["templates"] == view["templates"]
    assert NEW_OA in {a["appid"] for a in sandbox.client.get("/sandbox-admin/accounts").json()}
    assert sandbox.client.get("/sandbox-admin/accounts/wx0000000000000000").status_code == 404


def test_register_refuses_inconsistent_accounts(sandbox: Sandbox) -> None:
    secure_without_key = {"appid": NEW_OA, "secret": SECRET, "kind": "mp", "mode": "secure"}
    assert (
        sandbox.client.post("/sandbox-admin/accounts", json=secure_without_key).status_code == 422
    )
    json_oa = {"appid": NEW_OA, "secret": SECRET, "kind": "oa_service", "data_format": "json"}
    assert sandbox.client.post("/sandbox-admin/accounts", json=json_oa).status_code == 422
    bad_key = {"appid": NEW_OA, "secret": SECRET, "kind": "mp", "aes_key": "short"}
    assert sandbox.client.post("/sandbox-admin/accounts", json=bad_key).status_code == 422


def test_users_act_and_their_inbox_shows_what_they_received(sandbox: Sandbox) -> None:
    # given users created through the admin API
    created = sandbox.client.post("/sandbox-admin/users", json={"count": 2, "seed": 1}).json()
    uid = created[0]["uid"]
    # when one follows and writes, and siyu answers through customer service
    action = {"kind": "follow", "uid": uid, "appid": OA}
    assert sandbox.client.post("/sandbox-admin/actions", json=action).json()["ok"]
    sandbox.client.post("/sandbox-admin/actions", json={**action, "kind": "text", "text": "hi"})
    openid = sandbox.client.get(f"/sandbox-admin/users/{uid}").json()["openids"][OA]
    body = {"touser": openid, "msgtype": "text", "text": {"content": "您好"}}
    assert sandbox.post("/cgi-bin/message/custom/send", OA, body)["errcode"] == 0
    # then the inbox shows it, and the user is found by openid
    inbox = sandbox.client.get(f"/sandbox-admin/users/{uid}/inbox", params={"appid": OA}).json()
    assert [(i["via"], i["content"]) for i in inbox] == [("custom", {"content": "您好"})]
    assert (
        sandbox.client.get("/sandbox-admin/users", params={"openid": openid}).json()[0]["uid"]
        == uid
    )
    assert sandbox.client.get("/sandbox-admin/users/u999999").status_code == 404


def test_an_action_the_user_cannot_do_is_reported(sandbox: Sandbox) -> None:
    uid = sandbox.user().uid
    outcome = sandbox.client.post(
        "/sandbox-admin/actions", json={"kind": "unfollow", "uid": uid, "appid": OA}
    )
    assert outcome.json()["ok"] is False
    assert "does not follow" in outcome.json()["error"]
    unknown_app = {"kind": "follow", "uid": uid, "appid": "wx0000000000000000"}
    assert sandbox.client.post("/sandbox-admin/actions", json=unknown_app).json()["ok"] is False


def test_clock_can_be_moved_and_reset(sandbox: Sandbox) -> None:
    past = datetime(2026, 11, 1, tzinfo=UTC)
    assert (
        sandbox.client.put("/sandbox-admin/clock", json={"at": past.isoformat()}).json()["now"]
        == past.isoformat()
    )
    assert sandbox.world.now() == past
    sandbox.client.put("/sandbox-admin/clock", json={"at": None})
    assert sandbox.world.offset.total_seconds() == 0


def test_mounted_inside_another_app() -> None:
    # given siyu's app with the sandbox mounted at /sandbox
    parent = FastAPI()
    world = SandboxWorld()
    mount_sandbox(parent, world)
    with TestClient(parent) as client:
        spec = {"appid": OA, "secret": SECRET, "kind": "oa_service"}
        assert client.post("/sandbox/sandbox-admin/accounts", json=spec).status_code == 200
        # then WeChat's paths answer under the prefix
        params = {"grant_type": "client_credential", "appid": OA, "secret": SECRET}
        assert client.get("/sandbox/cgi-bin/token", params=params).json()["expires_in"] == 7200


def test_cli_simulates_against_a_running_sandbox(sandbox: Sandbox, base_url: str) -> None:
    args = ["simulate", "--sandbox", base_url, "--siyu", SIYU, "--users", "4", "--days", "2"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "actions delivered" in result.output
    assert len(sandbox.world.users) == 4


def test_cli_refuses_an_empty_sandbox(base_url: str, sandbox: Sandbox) -> None:
    sandbox.world.accounts.clear()
    result = CliRunner().invoke(cli, ["simulate", "--sandbox", base_url, "--users", "1"])
    assert result.exit_code == 2
    assert "register" in result.output
