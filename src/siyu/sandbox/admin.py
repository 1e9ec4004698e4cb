"""`/sandbox-admin`: register apps, look into the world (users, inboxes), make users act."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from siyu.sandbox.errors import WeChatError
from siyu.sandbox.users import Action, Outcome, Population
from siyu.sandbox.world import (
    Account,
    AccountSpec,
    Outage,
    SandboxWorld,
    SimUser,
    TemplateSpec,
)

router = APIRouter(prefix="/sandbox-admin", tags=["sandbox-admin"])


class NewUsers(BaseModel):
    count: int = Field(ge=1, le=100_000)
    seed: int = 0


class FaultSetting(BaseModel):
    """A WeChat outage for the calls under `prefix` until it is ended (see `Outage`):
    `errcode` answers WeChat's error body (-1 busy, 45009 out of quota), `http` an HTTP error
    page (502), `timeout` holds each call `seconds` (then fails with -1, or goes through if
    `proceed`: WeChat did it, too late for the caller)."""

    prefix: str = Field(default="/cgi-bin/", min_length=1, max_length=200)
    kind: Literal["errcode", "http", "timeout"] = "errcode"
    errcode: int = -1
    status: int = Field(default=502, ge=400, le=599)
    seconds: float = Field(default=0, ge=0, le=300)
    proceed: bool = False


class ClockSetting(BaseModel):
    at: datetime | None = None


def _world(request: Request) -> SandboxWorld:
    world: SandboxWorld = request.app.state.world
    return world


def _account(world: SandboxWorld, appid: str) -> Account:
    try:
        return world.account(appid)
    except WeChatError as exc:
        raise HTTPException(404, f"no account {appid}") from exc


def _user(world: SandboxWorld, uid: str) -> SimUser:
    try:
        return world.user(uid)
    except KeyError as exc:
        raise HTTPException(404, f"no user {uid}") from exc


def account_view(account: Account) -> dict[str, Any]:
    spec = account.spec
    return {
        **spec.model_dump(exclude={"secret", "token", "aes_key", "templates"}),
        "original_id": account.original_id,
        "templates": [vars(t) for t in account.templates.values()],
        "menu": account.menu,
        "conditional_menus": [
            {"menuid": m.menuid, "matchrule": m.matchrule, "button": m.buttons}
            for m in account.conditional_menus
        ],
        "qrcodes": [
            {
                "ticket": qr.ticket,
                "action_name": qr.action_name,
                "scene": qr.scene,
                "expires_at": qr.expires_at.isoformat() if qr.expires_at else None,
            }
            for qr in account.qrcodes.values()
        ],
        "tags": [{"id": i, "name": n} for i, n in account.tags.items()],
        "shares": len(account.shares),
    }


def user_view(user: SimUser) -> dict[str, Any]:
    return {
        "uid": user.uid,
        "nickname": user.nickname,
        "unionid": user.unionid,
        "phone": user.phone,
        "openids": dict(user.openids),
        "follows": {
            appid: {
                "subscribed": f.subscribed,
                "subscribe_time": f.subscribe_time.isoformat(),
                "scene": f.scene,
                "qr_scene": f.qr_scene,
                "qr_scene_str": f.qr_scene_str,
            }
            for appid, f in user.follows.items()
        },
        "credits": [
            {"appid": a, "template_id": t, "count": n} for (a, t), n in user.credits.items()
        ],
        "tags": {appid: sorted(tags) for appid, tags in user.tags.items()},
        "inbox": len(user.inbox),
    }


@router.get("/accounts")
def list_accounts(request: Request) -> list[dict[str, Any]]:
    world = _world(request)
    with world.lock:
        return [account_view(a) for a in world.accounts.values()]


@router.post("/accounts")
def register_account(spec: AccountSpec, request: Request) -> dict[str, Any]:
    """Add or update an app (idempotent: `make run` registers its apps on every start)."""
    world = _world(request)
    with world.lock:
        return account_view(world.register(spec))


@router.get("/accounts/{appid}")
def get_account(appid: str, request: Request) -> dict[str, Any]:
    world = _world(request)
    with world.lock:
        return account_view(_account(world, appid))


@router.post("/accounts/{appid}/templates")
def add_template(appid: str, spec: TemplateSpec, request: Request) -> dict[str, Any]:
    world = _world(request)
    _account(world, appid)
    return vars(world.add_template(appid, spec))


@router.get("/users")
def list_users(
    request: Request, openid: str | None = None, offset: int = 0, limit: int = 100
) -> list[dict[str, Any]]:
    world = _world(request)
    with world.lock:
        users = list(world.users.values())
        if openid:
            users = [u for u in users if openid in u.openids.values()]
        return [user_view(u) for u in users[offset : offset + limit]]


@router.post("/users")
def create_users(wanted: NewUsers, request: Request) -> list[dict[str, Any]]:
    world = _world(request)
    return [user_view(u) for u in world.create_users(wanted.count, wanted.seed)]


@router.get("/users/{uid}")
def get_user(uid: str, request: Request) -> dict[str, Any]:
    world = _world(request)
    with world.lock:
        return user_view(_user(world, uid))


@router.get("/users/{uid}/inbox")
def inbox(uid: str, request: Request, appid: str | None = None) -> list[dict[str, Any]]:
    """Everything the user actually received, oldest first."""
    world = _world(request)
    with world.lock:
        items = _user(world, uid).inbox
        return [i.to_json() for i in items if appid is None or i.appid == appid]


@router.post("/actions")
def act(action: Action, request: Request) -> Outcome:
    """A user acts; runs in a worker thread because it waits for siyu's answer."""
    population: Population = request.app.state.population
    return population.perform(action)


@router.get("/clock")
def get_clock(request: Request) -> dict[str, str]:
    return {"now": _world(request).now().isoformat()}


@router.put("/clock")
def set_clock(setting: ClockSetting, request: Request) -> dict[str, str]:
    world = _world(request)
    world.set_time(setting.at)
    return {"now": world.now().isoformat()}


@router.post("/faults")
def start_fault(setting: FaultSetting, request: Request) -> dict[str, Any]:
    """Start an outage of WeChat's API (the standalone sandbox's fault switch)."""
    outage = Outage(
        setting.prefix,
        errcode=setting.errcode,
        status=setting.status if setting.kind == "http" else None,
        delay=setting.seconds if setting.kind == "timeout" else 0.0,
        proceed=setting.proceed,
    )
    return _world(request).fail(outage).view()


@router.get("/faults")
def list_faults(request: Request) -> list[dict[str, Any]]:
    world = _world(request)
    with world.lock:
        return [o.view() for o in world.outages]


@router.delete("/faults")
def end_faults(request: Request, id: str | None = None) -> list[dict[str, Any]]:
    """End one outage (`id`) or every one; held calls are let go. What ended, with its calls."""
    world = _world(request)
    with world.lock:
        ended = [o for o in world.outages if id is None or o.id == id]
    if id is not None and not ended:
        raise HTTPException(404, f"no fault {id}")
    for outage in ended:
        world.recover(outage)
    return [o.view() for o in ended]
