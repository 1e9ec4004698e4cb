"""Fidelity judged by code we did not write: wechatpy's client over real HTTP to the sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException

from tests.support.sandbox import MP, OA, SECRET, Sandbox


class SandboxClient(WeChatClient):  # type: ignore[misc]
    """wechatpy pointed at the sandbox: base URLs per API group, and its token URL."""

    def __init__(self, base_url: str, appid: str, secret: str) -> None:
        self.API_BASE_URL = f"{base_url}/cgi-bin/"
        super().__init__(appid, secret)
        self.wxa.API_BASE_URL = f"{base_url}/"
        self.base_url = base_url

    def fetch_access_token(self) -> Any:
        params = {"grant_type": "client_credential", "appid": self.appid, "secret": self.secret}
        return self._fetch_access_token(url=f"{self.base_url}/cgi-bin/token", params=params)


@pytest.fixture
def clients(base_url: str) -> Iterator[list[SandboxClient]]:
    made: list[SandboxClient] = []
    yield made
    for client in made:
        client._http.close()


def client_for(made: list[SandboxClient], base_url: str, appid: str) -> SandboxClient:
    client = SandboxClient(base_url, appid, SECRET)
    made.append(client)
    return client


def errcode_of(call: Any, *args: Any, **kwargs: Any) -> int:
    with pytest.raises(WeChatClientException) as refused:
        call(*args, **kwargs)
    return int(refused.value.errcode)


def test_official_account_calls(
    sandbox: Sandbox, base_url: str, clients: list[SandboxClient]
) -> None:
    client = client_for(clients, base_url, OA)
    # token: wechatpy fetches and keeps it
    assert client.access_token
    # menu create and read back
    menu = {"button": [{"type": "click", "name": "打卡", "key": "CHECKIN"}]}
    assert client.menu.create(menu)["errcode"] == 0
    assert client.menu.get()["menu"]["button"][0]["key"] == "CHECKIN"
    assert client.menu.get_menu_info()["selfmenu_info"]["button"][0]["name"] == "打卡"
    # QR code
    created = client.qrcode.create(
        {"action_name": "QR_SCENE", "action_info": {"scene": {"scene_id": 7}}}
    )
    assert created["expire_seconds"] == 60
    assert created["ticket"]
    # template message to a non-follower: 43004
    user = sandbox.user()
    openid = sandbox.openid(user, OA)
    tid = sandbox.template_id(OA, "报名成功通知")
    assert (
        errcode_of(client.message.send_template, openid, tid, {"thing1": {"value": "x"}}) == 43004
    )
    # customer service outside any window: 45015
    assert errcode_of(client.message.send_text, openid, "你好") == 45015
    # and inside one, it goes through
    sandbox.act("follow", user, OA)
    assert client.message.send_text(openid, "欢迎")["errcode"] == 0
    assert client.message.send_template(openid, tid, {"thing1": {"value": "x"}})["errcode"] == 0
    assert client.user.get(openid)["subscribe"] == 1


def test_wechatpy_refreshes_a_token_the_sandbox_retired(
    sandbox: Sandbox, base_url: str, clients: list[SandboxClient]
) -> None:
    client = client_for(clients, base_url, OA)
    client.session.set(client.access_token_key, "99_" + "r" * 60)  # unknown to the sandbox
    assert client.menu.get_menu_info()["is_menu_open"] == 0  # 40001, refreshed, retried


def test_mini_program_calls(sandbox: Sandbox, base_url: str, clients: list[SandboxClient]) -> None:
    client = client_for(clients, base_url, MP)
    user = sandbox.user()
    code = sandbox.world.issue_code(user, MP, "login")
    # code2session, then the same code again: 40163
    session = client.wxa.code_to_session(code)
    assert session["openid"] == sandbox.openid(user, MP)
    assert session["unionid"] == user.unionid
    assert errcode_of(client.wxa.code_to_session, code) == 40163
    # subscribe message without an accepted credit: 43101
    tid = sandbox.template_id(MP, "打卡提醒")
    data = {"thing1": {"value": "早起"}, "time2": {"value": "07:00"}, "number3": {"value": "1"}}
    assert errcode_of(client.wxa.send_subscribe_message, session["openid"], tid, data) == 43101
    sandbox.act("accept_subscribe", user, MP, template_ids=[tid])
    assert client.wxa.send_subscribe_message(session["openid"], tid, data)["errcode"] == 0
    # phone number and an unlimited code
    phone_code = sandbox.act("phone_code", user, MP).data["code"]
    assert client.wxa.get_phone_number(phone_code)["phone_info"]["purePhoneNumber"] == user.phone
    image = client.wxa.get_wxa_code_unlimited("a=1", page="pages/index/index")
    assert image.content.startswith(b"\x89PNG")
