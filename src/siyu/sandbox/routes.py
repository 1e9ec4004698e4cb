"""WeChat's API paths as the sandbox serves them: tokens, menus, QR codes, messages, users, MP."""

from __future__ import annotations

import base64
import copy
import json
import secrets
import time
from datetime import timedelta
from typing import Any

import anyio
from fastapi import APIRouter, BackgroundTasks, Depends, Request, Response

from siyu.sandbox import audience, menus, messaging
from siyu.sandbox.errors import FrontEndFailure, WeChatError, ok
from siyu.sandbox.messaging import JobFinish
from siyu.sandbox.png import blank_png
from siyu.sandbox.push import PushClient, event
from siyu.sandbox.rules import (
    MAX_PERMANENT_QR,
    as_created,
    check_jump,
    check_wxacode,
    link_expiry,
    parse_qr,
    selfmenu_info,
    validate_menu,
)
from siyu.sandbox.world import Account, QrCode, SandboxWorld, b64id


async def _outage(request: Request) -> None:
    """A fault the test started (`SandboxWorld.fail`): the call waits and/or fails as WeChat
    does when busy or down. Async, and free when no outage runs: the gateway's benchmarks pass
    here."""
    world: SandboxWorld = request.app.state.world
    if not world.outages:
        return
    path, root = request.url.path, request.scope.get("root_path", "")
    outage = world.outage_for(path.removeprefix(root) if root else path)
    if outage is None:
        return
    if outage.proceed:
        # WeChat has the request before it is slow: read it now (the route reads it again
        # from the cache), so that a caller who gave up meanwhile still has it done.
        await request.body()
    if outage.hold is not None:
        await anyio.to_thread.run_sync(outage.hold.wait)
    if outage.delay > 0:
        # Polled on the loop, not in a thread: hundreds of held calls must not take the
        # thread pool the admin endpoints (and `recover`) need.
        deadline = time.monotonic() + outage.delay
        while time.monotonic() < deadline and not outage.ended.is_set():
            await anyio.sleep(0.05)
    if outage.proceed:
        return
    if outage.status is not None:
        raise FrontEndFailure(outage.status)
    raise WeChatError(outage.errcode)


router = APIRouter(dependencies=[Depends(_outage)])

MENU_CREATES_PER_DAY = 1000  # [LIMITS]
QR_CREATES_PER_DAY = 100_000  # [LIMITS]
LINKS_PER_DAY = 500_000  # schemes and links together (fact sheet §3)


def world_of(request: Request) -> SandboxWorld:
    world: SandboxWorld = request.app.state.world
    return world


async def json_body(request: Request) -> dict[str, Any]:
    """WeChat reads the body as JSON whatever the Content-Type says."""
    raw = await request.body()
    if not raw.strip():
        raise WeChatError(44002)
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise WeChatError(47001) from exc
    if not isinstance(value, dict):
        raise WeChatError(47001)
    return value


def caller(request: Request) -> Account:
    return world_of(request).authorize(request.query_params.get("access_token"))


def oa_caller(request: Request) -> Account:
    return audience.require_oa(caller(request))


def mp_caller(request: Request) -> Account:
    account = caller(request)
    if not account.is_mp:
        raise WeChatError(48001)
    return account


# -- access tokens (fact sheet §2.1) ------------------------------------------------------------


def _credentials(appid: object, secret: object, grant_type: object) -> tuple[str, str]:
    if grant_type != "client_credential":
        raise WeChatError(40002)
    if not isinstance(appid, str) or not appid:
        raise WeChatError(41002)
    if not isinstance(secret, str) or not secret:
        raise WeChatError(41004)
    return appid, secret


@router.get("/cgi-bin/token")
def token(request: Request) -> dict[str, object]:
    query = request.query_params
    appid, secret = _credentials(query.get("appid"), query.get("secret"), query.get("grant_type"))
    value, expires_in = world_of(request).classic_token(appid, secret)
    return {"access_token": value, "expires_in": expires_in}


@router.post("/cgi-bin/stable_token")
async def stable_token(request: Request) -> dict[str, object]:
    body = await json_body(request)
    appid, secret = _credentials(body.get("appid"), body.get("secret"), body.get("grant_type"))
    force = body.get("force_refresh") is True
    value, expires_in = world_of(request).stable_token(appid, secret, force)
    return {"access_token": value, "expires_in": expires_in}


# -- custom menu (fact sheet §2.2) --------------------------------------------------------------


@router.post("/cgi-bin/menu/create")
async def menu_create(request: Request) -> dict[str, object]:
    account = oa_caller(request)
    body = await json_body(request)
    world = world_of(request)
    with world.lock:
        buttons = validate_menu(body, set(account.spec.linked_mps))
        world.count(account, "menu_create", MENU_CREATES_PER_DAY)
        account.menu = copy.deepcopy(buttons)
        account.menu_id += 1
    return ok()


@router.get("/cgi-bin/menu/get")
def menu_get(request: Request) -> dict[str, object]:
    account = oa_caller(request)
    if account.menu is None:
        raise WeChatError(46003)
    found: dict[str, object] = {
        "menu": {"button": as_created(account.menu), "menuid": account.menu_id}
    }
    if account.conditional_menus:
        found["conditionalmenu"] = menus.conditional_view(account)
    return found


@router.get("/cgi-bin/get_current_selfmenu_info")
def selfmenu(request: Request) -> dict[str, object]:
    account = oa_caller(request)
    if account.menu is None:
        return {"is_menu_open": 0, "selfmenu_info": {"button": []}}
    return {"is_menu_open": 1, "selfmenu_info": {"button": selfmenu_info(account.menu)}}


@router.get("/cgi-bin/menu/delete")
def menu_delete(request: Request) -> dict[str, object]:
    account = oa_caller(request)
    with world_of(request).lock:
        # Deleting the default menu deletes every conditional menu too (fact sheet §2.2).
        account.menu = None
        account.conditional_menus.clear()
    return ok()


@router.post("/cgi-bin/menu/addconditional")
async def menu_add_conditional(request: Request) -> dict[str, object]:
    account = oa_caller(request)
    menuid = menus.add_conditional(world_of(request), account, await json_body(request))
    return {"menuid": str(menuid)}


@router.post("/cgi-bin/menu/delconditional")
async def menu_del_conditional(request: Request) -> dict[str, object]:
    account = oa_caller(request)
    menus.del_conditional(world_of(request), account, await json_body(request))
    return ok()


@router.post("/cgi-bin/menu/trymatch")
async def menu_try_match(request: Request) -> dict[str, object]:
    account = oa_caller(request)
    return menus.try_match(world_of(request), account, await json_body(request))


# -- parametric QR codes (fact sheet §2.3) ------------------------------------------------------


@router.post("/cgi-bin/qrcode/create")
async def qrcode_create(request: Request) -> dict[str, object]:
    account = oa_caller(request)
    wanted = parse_qr(await json_body(request))
    world = world_of(request)
    with world.lock:
        world.count(account, "qrcode_create", QR_CREATES_PER_DAY)
        if wanted.expire_seconds is None:
            return _permanent_qr(account, wanted.action_name, wanted.scene)
        ticket, url = _ticket()
        expires_at = world.now() + timedelta(seconds=wanted.expire_seconds)
        account.qrcodes[ticket] = QrCode(ticket, wanted.action_name, wanted.scene, expires_at, url)
        return {"ticket": ticket, "expire_seconds": wanted.expire_seconds, "url": url}


def _ticket() -> tuple[str, str]:
    code = b64id(secrets.token_bytes(16))[:22]
    url = f"http://weixin.qq.com/q/{code}"
    blob = b"\x81\x01" + secrets.token_bytes(6) + url.encode()
    return base64.b64encode(blob).decode("ascii"), url


def _permanent_qr(account: Account, action: str, scene: str) -> dict[str, object]:
    """A permanent scene keeps its ticket; at most 100 000 codes (45029 beyond)."""
    for qr in account.qrcodes.values():
        if qr.permanent and qr.action_name == action and qr.scene == scene:
            return {"ticket": qr.ticket, "url": qr.url}
    if account.permanent_qr >= MAX_PERMANENT_QR:
        raise WeChatError(45029)
    ticket, url = _ticket()
    account.qrcodes[ticket] = QrCode(ticket, action, scene, None, url)
    account.permanent_qr += 1
    return {"ticket": ticket, "url": url}


# -- messages (fact sheet §2.4, §2.5, §3) -------------------------------------------------------


@router.post("/cgi-bin/message/custom/send")
async def custom_send(request: Request) -> dict[str, object]:
    account = caller(request)
    return messaging.send_custom(world_of(request), account, await json_body(request))


@router.post("/cgi-bin/message/template/send")
async def template_send(request: Request, background: BackgroundTasks) -> dict[str, object]:
    account = oa_caller(request)
    world = world_of(request)
    answer, job = messaging.send_template(world, account, await json_body(request))
    if job is not None:
        pusher: PushClient = request.app.state.pusher
        background.add_task(finish_template_job, world, pusher, account, job)
    return answer


def finish_template_job(
    world: SandboxWorld, pusher: PushClient, account: Account, job: JobFinish
) -> None:
    """After the send, WeChat reports the result as TEMPLATESENDJOBFINISH (note `MsgID`)."""
    openid = world.openid(job.user, account.appid)
    status_event = event(
        account,
        openid,
        world.now(),
        "TEMPLATESENDJOBFINISH",
        visible=False,
        MsgID=job.msgid,
        Status=job.status,
    )
    pusher.deliver(status_event)


@router.post("/cgi-bin/message/mass/send")
async def mass_send(request: Request) -> dict[str, object]:
    account = oa_caller(request)
    job = messaging.send_mass(world_of(request), account, await json_body(request))
    return ok(msg_id=job.msg_id, msg_data_id=job.msg_id)


@router.post("/cgi-bin/message/mass/sendall")
async def mass_sendall(request: Request) -> dict[str, object]:
    account = oa_caller(request)
    job = messaging.send_mass_all(world_of(request), account, await json_body(request))
    return ok(msg_id=job.msg_id, msg_data_id=job.msg_id)


@router.post("/cgi-bin/message/subscribe/send")
async def subscribe_send(request: Request) -> dict[str, object]:
    account = caller(request)
    return messaging.send_subscribe(world_of(request), account, await json_body(request))


# -- users and tags (fact sheet §2.7) -----------------------------------------------------------


@router.get("/cgi-bin/user/info")
def user_info(request: Request) -> dict[str, Any]:
    account = oa_caller(request)
    openid = request.query_params.get("openid") or ""
    return audience.user_info(world_of(request), account, openid)


@router.post("/cgi-bin/user/info/batchget")
async def user_info_batch(request: Request) -> dict[str, Any]:
    account = oa_caller(request)
    return audience.batch_user_info(world_of(request), account, await json_body(request))


@router.post("/cgi-bin/tags/create")
async def tags_create(request: Request) -> dict[str, Any]:
    account = oa_caller(request)
    return audience.create_tag(world_of(request), account, await json_body(request))


@router.get("/cgi-bin/tags/get")
def tags_get(request: Request) -> dict[str, Any]:
    return audience.list_tags(world_of(request), oa_caller(request))


@router.post("/cgi-bin/tags/update")
async def tags_update(request: Request) -> dict[str, object]:
    account = oa_caller(request)
    return audience.update_tag(world_of(request), account, await json_body(request))


@router.post("/cgi-bin/tags/delete")
async def tags_delete(request: Request) -> dict[str, object]:
    account = oa_caller(request)
    return audience.delete_tag(world_of(request), account, await json_body(request))


@router.post("/cgi-bin/tags/members/batchtagging")
async def tags_batch_tag(request: Request) -> dict[str, object]:
    account = oa_caller(request)
    body = await json_body(request)
    return audience.tag_members(world_of(request), account, body, add=True)


@router.post("/cgi-bin/tags/members/batchuntagging")
async def tags_batch_untag(request: Request) -> dict[str, object]:
    account = oa_caller(request)
    body = await json_body(request)
    return audience.tag_members(world_of(request), account, body, add=False)


@router.post("/cgi-bin/tags/getidlist")
async def tags_of_user(request: Request) -> dict[str, Any]:
    account = oa_caller(request)
    return audience.user_tag_ids(world_of(request), account, await json_body(request))


@router.post("/cgi-bin/user/tag/get")
async def tag_fans(request: Request) -> dict[str, Any]:
    account = oa_caller(request)
    return audience.tag_fans(world_of(request), account, await json_body(request))


# -- Mini Program (fact sheet §3) ---------------------------------------------------------------


@router.get("/sns/jscode2session")
def jscode2session(request: Request) -> dict[str, object]:
    """No access_token here: appid + secret + a single-use, 5-minute js_code."""
    query = request.query_params
    grant_type = query.get("grant_type", "authorization_code")
    if grant_type != "authorization_code":
        raise WeChatError(40002)
    appid, secret = _credentials(query.get("appid"), query.get("secret"), "client_credential")
    world = world_of(request)
    account = world.check_secret(appid, secret)
    if not account.is_mp:
        raise WeChatError(40013)
    user = world.redeem_code(query.get("js_code") or "", appid, "login")
    session_key = base64.b64encode(secrets.token_bytes(16)).decode("ascii")
    with world.lock:
        user.session_keys[appid] = session_key
    answer: dict[str, object] = {"session_key": session_key, "openid": world.openid(user, appid)}
    if account.spec.unionid_scope:
        answer["unionid"] = user.unionid
    return answer


@router.post("/wxa/business/getuserphonenumber")
async def phone_number(request: Request) -> dict[str, object]:
    account = mp_caller(request)
    code = (await json_body(request)).get("code")
    world = world_of(request)
    user = world.redeem_code(code if isinstance(code, str) else "", account.appid, "phone")
    watermark = {"timestamp": int(world.now().timestamp()), "appid": account.appid}
    info = {
        "phoneNumber": user.phone,
        "purePhoneNumber": user.phone,
        "countryCode": "86",
        "watermark": watermark,
    }
    return ok(phone_info=info)


@router.post("/wxa/getwxacodeunlimit", response_model=None)
async def wxacode_unlimited(request: Request) -> Response:
    """The image itself on success (a JSON error otherwise), like WeChat."""
    account = mp_caller(request)
    width = check_wxacode(await json_body(request), set(account.spec.pages))
    return Response(blank_png(width), media_type="image/png")


@router.post("/wxa/generatescheme")
async def generate_scheme(request: Request) -> dict[str, object]:
    account = mp_caller(request)
    body = await json_body(request)
    jump = body.get("jump_wxa") or {}
    if not isinstance(jump, dict):
        raise WeChatError(40097)
    link = _link(
        request, account, body, jump, "weixin://dl/business/?t=" + b64id(secrets.token_bytes(9))
    )
    return ok(openlink=link)


@router.post("/wxa/generate_urllink")
async def generate_urllink(request: Request) -> dict[str, object]:
    account = mp_caller(request)
    body = await json_body(request)
    link = _link(request, account, body, body, "https://wxaurl.cn/" + b64id(secrets.token_bytes(9)))
    return ok(url_link=link)


def _link(
    request: Request, account: Account, body: dict[str, Any], target: dict[str, Any], link: str
) -> str:
    world = world_of(request)
    check_jump(
        target.get("path"), target.get("query"), target.get("env_version"), set(account.spec.pages)
    )
    with world.lock:
        expires_at = link_expiry(body, world.now())
        world.count(account, "links", LINKS_PER_DAY)
        account.links[link] = {
            "path": target.get("path") or "",
            "query": target.get("query") or "",
            "expires_at": expires_at.isoformat(),
        }
    return link
