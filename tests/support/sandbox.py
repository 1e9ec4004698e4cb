"""The sandbox WeChat in tests: a world with three apps of its own (`tests/sandbox`), what siyu
would read of its pushes, and its users as followers of the test workspace's service account
when the sandbox is siyu's WeChat."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi.testclient import TestClient
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import check_signature

from siyu.core.clock import FrozenClock
from siyu.sandbox.users import Action, Outcome, Population
from siyu.sandbox.world import AccountSpec, Follow, SandboxWorld, SimUser, TemplateSpec
from tests.support.names import OA_APPID

OA = "wx00000000000000a1"  # verified service account, secure mode
SUB = "wx00000000000000b2"  # subscription account, plaintext mode
MP = "wx00000000000000c3"  # Mini Program linked to OA, JSON pushes
OTHER_MP = "wx00000000000000d4"  # a Mini Program nobody linked
SECRET = "0123456789abcdef0123456789abcdef"
PUSH_TOKEN = "pushtoken"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
SIYU = "http://siyu.test"
PAGES = ["pages/index/index", "pages/checkin/index"]


def push_url(appid: str) -> str:
    return f"{SIYU}/wechat/push/{appid}"


ACCOUNTS = [
    AccountSpec(
        appid=OA,
        secret=SECRET,
        kind="oa_service",
        name="示例服务号",
        token=PUSH_TOKEN,
        aes_key=AES_KEY,
        push_url=push_url(OA),
        mode="secure",
        linked_mps=[MP],
        unionid_scope="open-1",
        templates=[TemplateSpec(title="报名成功通知", keys=["thing1", "time2"])],
    ),
    AccountSpec(
        appid=SUB,
        secret=SECRET,
        kind="oa_subscription",
        token=PUSH_TOKEN,
        push_url=push_url(SUB),
        templates=[TemplateSpec(title="不可用", keys=["thing1"])],
    ),
    AccountSpec(
        appid=MP,
        secret=SECRET,
        kind="mp",
        token=PUSH_TOKEN,
        aes_key=AES_KEY,
        push_url=push_url(MP),
        mode="secure",
        data_format="json",
        unionid_scope="open-1",
        pages=PAGES,
        templates=[
            TemplateSpec(title="打卡提醒", keys=["thing1", "time2", "number3"]),
            TemplateSpec(title="退款通知", keys=["amount1", "phrase2"]),
        ],
    ),
    AccountSpec(appid=OTHER_MP, secret=SECRET, kind="mp", pages=PAGES),
]

Handler = Callable[[httpx.Request], httpx.Response]


def answer_success(request: httpx.Request) -> httpx.Response:
    """siyu by default: pushes get "success"; the MP client's calls a session and a binding."""
    if request.url.path.endswith("/session"):
        return httpx.Response(200, json={"token": "session-token", "member_number": 1})
    if request.url.path.endswith("/phone"):
        return httpx.Response(200, json={"member_number": 1})
    return httpx.Response(200, text="success")


@dataclass
class Receiver:
    """siyu's side of the border, in the test: records every request, answers as told."""

    requests: list[httpx.Request] = field(default_factory=list)
    answers: list[Handler] = field(default_factory=list)
    default: Handler = answer_success

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        handler = self.answers.pop(0) if self.answers else self.default
        return handler(request)

    def pushes(self, appid: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path == f"/wechat/push/{appid}"]


@dataclass
class Sandbox:
    world: SandboxWorld
    client: TestClient
    receiver: Receiver
    population: Population
    clock: FrozenClock

    def token(self, appid: str) -> str:
        return self.world.classic_token(appid, SECRET)[0]

    def get(self, path: str, appid: str | None = None, **params: Any) -> Any:
        if appid is not None:
            params["access_token"] = self.token(appid)
        return self.client.get(path, params=params).json()

    def post(self, path: str, appid: str | None, body: Any) -> Any:
        params = {"access_token": self.token(appid)} if appid else {}
        return self.client.post(path, params=params, json=body).json()

    def user(self, n: int = 1) -> SimUser:
        while len(self.world.users) < n:
            self.world.create_users(1, seed=len(self.world.users))
        return self.world.user(f"u{n:06d}")

    def act(self, kind: str, user: SimUser, appid: str, **fields: Any) -> Outcome:
        return self.population.perform(Action(kind=kind, uid=user.uid, appid=appid, **fields))

    def openid(self, user: SimUser, appid: str) -> str:
        return self.world.openid(user, appid)

    def template_id(self, appid: str, title: str) -> str:
        return next(
            t.template_id for t in self.world.account(appid).templates.values() if t.title == title
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def opened(request: httpx.Request, appid: str = OA) -> str:
    """The push as siyu reads it, by wechatpy: signature checked, then decrypted if sealed."""
    q = request.url.params
    check_signature(PUSH_TOKEN, q["signature"], q["timestamp"], q["nonce"])
    if "encrypt_type" not in q:
        return request.content.decode()
    crypto = WeChatCrypto(PUSH_TOKEN, AES_KEY, appid)
    body: Any = request.content.decode()
    if request.headers["content-type"] == "application/json":
        body = json.loads(body)
    return str(crypto.decrypt_message(body, q["msg_signature"], q["timestamp"], q["nonce"]))


# --- the sandbox as siyu's WeChat ----------------------------------------------------------

UNIONID_SCOPE = "open-platform-1"


def follower(world: SandboxWorld) -> tuple[SimUser, str]:
    user = world.create_users(1)[0]
    user.follows[OA_APPID] = Follow(True, world.now(), "ADD_SCENE_QR_CODE")
    return user, world.openid(user, OA_APPID)
