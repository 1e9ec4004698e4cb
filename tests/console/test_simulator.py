"""The console's view of the sandbox WeChat: simulated users and what each received."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from siyu.core.config import Settings
from siyu.sandbox.app import create_sandbox_app
from siyu.sandbox.world import AccountSpec, Follow, SandboxWorld
from siyu.security.schemas import Principal
from tests.support.console import sign_in as _sign_in
from tests.support.console import tables_outside_the_wrap
from tests.support.http import serve
from tests.support.names import OA_APPID


@pytest.fixture(scope="module")
def sandbox() -> Iterator[tuple[FastAPI, str]]:
    app = create_sandbox_app(SandboxWorld())
    with serve(app) as url:
        yield app, url


@pytest.fixture
def world(sandbox: tuple[FastAPI, str]) -> SandboxWorld:
    world = sandbox[0].state.world = SandboxWorld()
    world.register(AccountSpec(appid=OA_APPID, secret="s" * 32, kind="oa_service", name="服务号"))
    return world


@pytest.fixture
def settings(settings: Settings, sandbox: tuple[FastAPI, str]) -> Settings:
    return settings.model_copy(update={"sandbox": True, "wechat_api_base": sandbox[1]})


@pytest.fixture
def browser(app_client: TestClient, owner: Principal, world: SandboxWorld) -> TestClient:
    assert _sign_in(app_client).status_code == 303
    return app_client


def test_the_simulator_lists_users_and_shows_what_one_received(
    browser: TestClient, world: SandboxWorld
) -> None:
    # given a follower who received a customer-service message
    user = world.create_users(1)[0]
    user.follows[OA_APPID] = Follow(True, world.now(), "ADD_SCENE_QR_CODE")
    openid = world.openid(user, OA_APPID)
    world.deliver(user, OA_APPID, "custom", "text", {"content": "欢迎加入打卡营"})
    # when staff open the simulator
    page = browser.get("/simulator")
    # then the user is listed, with the count of what they received and a link to the member
    assert page.status_code == 200
    assert user.nickname in page.text
    assert f"/simulator/users/{user.uid}" in page.text
    assert f"/members?q={openid}" in page.text
    assert tables_outside_the_wrap(page.text) == (1, 0)  # scrolls inside its panel
    # and their inbox shows the message and its channel
    inbox = browser.get(f"/simulator/users/{user.uid}")
    assert inbox.status_code == 200
    assert "欢迎加入打卡营" in inbox.text
    assert "客服消息" in inbox.text
    assert tables_outside_the_wrap(inbox.text) == (1, 0)


def test_an_unknown_simulated_user_is_a_404(browser: TestClient) -> None:
    assert browser.get("/simulator/users/u999999").status_code == 404


def test_a_malformed_uid_is_refused(browser: TestClient) -> None:
    assert browser.get("/simulator/users/..%2F..%2Fsecret").status_code in (404, 422)
    assert browser.get("/simulator/users/x1").status_code == 422


def test_the_page_says_so_when_the_sandbox_is_off(
    app_client: TestClient, owner: Principal, world: SandboxWorld
) -> None:
    app_client.app.state.settings = app_client.app.state.settings.model_copy(  # type: ignore[attr-defined]
        update={"sandbox": False}
    )
    assert _sign_in(app_client).status_code == 303
    page = app_client.get("/simulator")
    assert page.status_code == 200
    assert "未启用沙箱" in page.text
    assert 'href="/simulator"' not in page.text  # and the menu leaves it out


def test_the_page_says_so_when_the_sandbox_does_not_answer(
    app_client: TestClient, owner: Principal
) -> None:
    app_client.app.state.settings = app_client.app.state.settings.model_copy(  # type: ignore[attr-defined]
        update={"wechat_api_base": "http://127.0.0.1:9"}
    )
    assert _sign_in(app_client).status_code == 303
    page = app_client.get("/simulator")
    assert page.status_code == 200
    assert "连不上沙箱微信" in page.text


def test_the_simulator_needs_a_signed_in_operator(app_client: TestClient) -> None:
    response = app_client.get("/simulator", follow_redirects=False)
    assert response.status_code in (303, 401)
