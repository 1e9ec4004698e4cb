"""Messages to users: customer-service windows, template and subscribe sends, all into inboxes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from siyu.sandbox.errors import WeChatError, ok
from siyu.sandbox.rules import check_subscribe_data
from siyu.sandbox.world import QUOTA_ZONE, Account, Grant, SandboxWorld, SimUser

# What a user action allows the account to send back (fact sheet §2.5 for OAs, §3 for MPs):
# a message opens 48 h with 5 messages; a follow, a QR scan or a click/scancode menu opens 1 minute
# with 3; an MP user entering the customer-service chat opens 1 minute with 2.
GRANTS: dict[str, tuple[timedelta, int]] = {
    "message": (timedelta(hours=48), 5),
    "follow": (timedelta(minutes=1), 3),
    "scan": (timedelta(minutes=1), 3),
    "click": (timedelta(minutes=1), 3),
    "session": (timedelta(minutes=1), 2),
}
CUSTOM_TYPES = frozenset(
    {
        "text",
        "image",
        "voice",
        "video",
        "music",
        "news",
        "mpnews",
        "mpnewsarticle",
        "msgmenu",
        "wxcard",
        "link",
        "miniprogrampage",
    }
)
# Template sends with the same (touser, client_msg_id) within 10 minutes go out once (send doc).
CLIENT_MSG_ID_TTL = timedelta(minutes=10)
TEMPLATE_SENDS_PER_DAY = 100_000  # fact sheet §2.4


def open_grant(world: SandboxWorld, user: SimUser, appid: str, source: str) -> None:
    """A fresh window for `source`; it replaces the previous window of the same source."""
    duration, quota = GRANTS[source]
    with world.lock:
        user.grants.setdefault(appid, {})[source] = Grant(source, world.now() + duration, quota)


def _use_grant(world: SandboxWorld, user: SimUser, appid: str) -> None:
    now = world.now()
    live = [g for g in user.grants.get(appid, {}).values() if now < g.expires_at]
    if not live:
        raise WeChatError(45015)  # no window: none opened, expired, or the user unfollowed
    spare = [g for g in live if g.used < g.quota]
    if not spare:
        raise WeChatError(45047)
    min(spare, key=lambda g: g.expires_at).used += 1  # spend the window that dies first


def _recipient(world: SandboxWorld, account: Account, body: dict[str, Any]) -> SimUser:
    openid = body.get("touser")
    if not isinstance(openid, str):
        raise WeChatError(40003)
    return world.by_openid(openid, account.appid)


def send_custom(world: SandboxWorld, account: Account, body: dict[str, Any]) -> dict[str, object]:
    """`POST /cgi-bin/message/custom/send`: only inside a window, within its count."""
    with world.lock:
        user = _recipient(world, account, body)
        msgtype = body.get("msgtype")
        if msgtype not in CUSTOM_TYPES or not isinstance(body.get(msgtype), dict):
            raise WeChatError(40008)
        _use_grant(world, user, account.appid)
        world.deliver(user, account.appid, "custom", msgtype, dict(body[msgtype]))
        return ok()


@dataclass(frozen=True)
class JobFinish:
    """What TEMPLATESENDJOBFINISH will tell siyu about one template send."""

    user: SimUser
    msgid: int
    status: str


def send_template(
    world: SandboxWorld, account: Account, body: dict[str, Any]
) -> tuple[dict[str, object], JobFinish | None]:
    """`POST /cgi-bin/message/template/send`: service accounts, followers, known templates."""
    with world.lock:
        if account.spec.kind != "oa_service":
            raise WeChatError(48001)  # subscription accounts cannot use template messages
        user = _recipient(world, account, body)
        template = account.templates.get(str(body.get("template_id")))
        if template is None:
            raise WeChatError(40037)
        if not user.following(account.appid):
            raise WeChatError(43004)
        if not isinstance(body.get("data"), dict):
            raise WeChatError(47003, "data")
        repeat = _repeated_client_msg_id(world, account, body)
        if repeat is not None:
            return ok(msgid=repeat), None
        world.count(account, "template_send", TEMPLATE_SENDS_PER_DAY)
        msgid = world.next_msgid()
        _remember_client_msg_id(world, account, body, msgid)
        blocked = account.appid in user.blocks_templates
        if not blocked:
            content = {"template_id": template.template_id, "title": template.title}
            content.update({k: body[k] for k in ("data", "url", "miniprogram") if k in body})
            world.deliver(user, account.appid, "template", "template", content)
        status = "failed:user block" if blocked else "success"
        return ok(msgid=msgid), JobFinish(user, msgid, status)


def _repeated_client_msg_id(
    world: SandboxWorld, account: Account, body: dict[str, Any]
) -> int | None:
    key = (str(body.get("touser")), str(body.get("client_msg_id") or ""))
    seen = account.client_msg_ids.get(key) if key[1] else None
    if seen is None or world.now() - seen[1] >= CLIENT_MSG_ID_TTL:
        return None
    return seen[0]


def _remember_client_msg_id(
    world: SandboxWorld, account: Account, body: dict[str, Any], msgid: int
) -> None:
    if body.get("client_msg_id"):
        key = (str(body["touser"]), str(body["client_msg_id"]))
        account.client_msg_ids[key] = (msgid, world.now())


def send_subscribe(
    world: SandboxWorld, account: Account, body: dict[str, Any]
) -> dict[str, object]:
    """`POST /cgi-bin/message/subscribe/send` (MP): spends one accepted one-time credit."""
    with world.lock:
        if not account.is_mp:
            raise WeChatError(48001)
        user = _recipient(world, account, body)
        template = account.templates.get(str(body.get("template_id")))
        if template is None:
            raise WeChatError(40037)
        page = body.get("page")
        if page and str(page).lstrip("/").split("?", 1)[0] not in account.spec.pages:
            raise WeChatError(41030)
        check_subscribe_data(body.get("data"), template.keys)
        key = (account.appid, template.template_id)
        if user.credits.get(key, 0) <= 0:
            raise WeChatError(43101)
        user.credits[key] -= 1
        content = {"template_id": template.template_id, "title": template.title}
        content.update({k: body[k] for k in ("data", "page") if k in body})
        world.deliver(user, account.appid, "subscribe", "subscribe", content)
        return ok(msgid=world.next_msgid())


# Mass broadcast (fact sheet §2.6): a service account's follower receives at most 4 a calendar
# month, web and API together; beyond that the send "fails for that user" (the call succeeds
# and the user is filtered out, counted in MASSSENDJOBFINISH's FilterCount). Sends by OpenID
# list are for service accounts only; a clientmsgid already used answers 45065.
MASS_PER_MONTH = 4
MASS_TYPES = frozenset({"text", "mpnews", "image", "voice", "mpvideo", "wxcard"})


@dataclass(frozen=True)
class MassJob:
    msg_id: int
    total: int
    sent: int
    filtered: int


def send_mass(world: SandboxWorld, account: Account, body: dict[str, Any]) -> MassJob:
    """`POST /cgi-bin/message/mass/send`: to a list of followers, within their monthly four."""
    with world.lock:
        if account.spec.kind != "oa_service":
            raise WeChatError(48001)
        touser = body.get("touser")
        if not isinstance(touser, list) or not touser:
            raise WeChatError(44002)  # the list's size limits are unverified: none enforced
        msgtype = body.get("msgtype")
        if msgtype not in MASS_TYPES or not isinstance(body.get(msgtype), dict):
            raise WeChatError(40008)
        client_id = str(body.get("clientmsgid") or "")
        if client_id and client_id in account.mass_client_ids:
            raise WeChatError(45065)
        month = world.now().astimezone(QUOTA_ZONE).strftime("%Y-%m")
        msg_id = world.next_msgid()
        sent = filtered = 0
        for openid in touser:
            try:
                user = world.by_openid(str(openid), account.appid)
            except WeChatError:
                filtered += 1
                continue
            key = (account.appid, month)
            if (
                not user.following(account.appid)
                or user.mass_received.get(key, 0) >= MASS_PER_MONTH
            ):
                filtered += 1
                continue
            user.mass_received[key] = user.mass_received.get(key, 0) + 1
            world.deliver(user, account.appid, "mass", str(msgtype), dict(body[msgtype]))
            sent += 1
        if client_id:
            account.mass_client_ids[client_id] = msg_id
        return MassJob(msg_id, len(touser), sent, filtered)


def send_mass_all(world: SandboxWorld, account: Account, body: dict[str, Any]) -> MassJob:
    """`POST /cgi-bin/message/mass/sendall`: to every follower (`is_to_all`) or a tag's. A
    subscription account sends one a day; a service account one to all a day, and each of its
    followers receives at most four a month (fact sheet §2.6)."""
    with world.lock:
        if not account.spec.kind.startswith("oa_"):
            raise WeChatError(48001)
        found = body.get("filter")
        if not isinstance(found, dict):
            raise WeChatError(44002)
        to_all = found.get("is_to_all") is True
        tag_id = found.get("tag_id")
        if not to_all and not isinstance(tag_id, int):
            raise WeChatError(44002)
        msgtype = body.get("msgtype")
        if msgtype not in MASS_TYPES or not isinstance(body.get(msgtype), dict):
            raise WeChatError(40008)
        client_id = str(body.get("clientmsgid") or "")
        if client_id and client_id in account.mass_client_ids:
            raise WeChatError(45065)
        today = world.now().astimezone(QUOTA_ZONE).date()
        daily = account.spec.kind == "oa_subscription" or to_all
        if daily and today in account.mass_all_days:
            raise WeChatError(45028)
        monthly = account.spec.kind == "oa_service"
        month = today.strftime("%Y-%m")
        msg_id = world.next_msgid()
        total = sent = 0
        for user in world.users.values():
            if not user.following(account.appid):
                continue
            if not to_all and tag_id not in user.tags.get(account.appid, set()):
                continue
            total += 1
            key = (account.appid, month)
            if monthly and user.mass_received.get(key, 0) >= MASS_PER_MONTH:
                continue
            user.mass_received[key] = user.mass_received.get(key, 0) + 1
            world.deliver(user, account.appid, "mass", str(msgtype), dict(body[msgtype]))
            sent += 1
        if daily:
            account.mass_all_days.add(today)
        if client_id:
            account.mass_client_ids[client_id] = msg_id
        return MassJob(msg_id, total, sent, total - sent)
