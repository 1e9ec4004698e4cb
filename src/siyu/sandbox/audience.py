"""User info and user tags of an Official Account, with WeChat's limits (fact sheet §2.7)."""

from __future__ import annotations

from typing import Any

from siyu.sandbox.errors import WeChatError, ok
from siyu.sandbox.world import Account, SandboxWorld, SimUser

MAX_BATCH_INFO = 100
MAX_TAGS = 100
MAX_TAG_NAME_BYTES = 30
MAX_TAGS_PER_USER = 20
MAX_BATCH_TAGGING = 50
MAX_FANS_TO_DELETE = 100_000
# user/tag/get returns at most 10 000 openids a call, like the follower list (fact sheet §15;
# "一次拉取调用最多拉取10000个关注者的openid", the tag fans page of the user-tag doc).
MAX_TAG_FANS_PAGE = 10_000
RESERVED_TAGS = {0: "", 1: "", 2: "星标组"}  # 0/1/2 are WeChat's own; 2 shows as 星标组


def require_oa(account: Account) -> Account:
    if not account.is_oa:
        raise WeChatError(48001)
    return account


def user_info(world: SandboxWorld, account: Account, openid: str) -> dict[str, Any]:
    """`/cgi-bin/user/info`. Since 2021-12-27 no nickname or head image (fact sheet §2.7)."""
    with world.lock:
        user = world.by_openid(openid, account.appid)
        info: dict[str, Any] = {"subscribe": 0, "openid": openid}
        follow = user.follows.get(account.appid)
        if follow is None or not follow.subscribed:
            # "值为0时，代表此用户没有关注该公众号，拉取不到其余信息" (user/info, subscribe field):
            # https://developers.weixin.qq.com/doc/offiaccount/User_Management/Get_users_basic_information_UnionID.html
            return info
        if account.spec.unionid_scope:
            info["unionid"] = user.unionid
        info.update(
            subscribe=1,
            subscribe_time=int(follow.subscribe_time.timestamp()),
            remark=follow.remark,
            groupid=0,
            tagid_list=sorted(user.tags.get(account.appid, set())),
            subscribe_scene=follow.scene,
            qr_scene=follow.qr_scene,
            qr_scene_str=follow.qr_scene_str,
        )
        return info


def batch_user_info(world: SandboxWorld, account: Account, body: dict[str, Any]) -> dict[str, Any]:
    wanted = body.get("user_list")
    if not isinstance(wanted, list) or not 1 <= len(wanted) <= MAX_BATCH_INFO:
        raise WeChatError(40032)
    openids = [item.get("openid") if isinstance(item, dict) else None for item in wanted]
    if not all(isinstance(openid, str) for openid in openids):
        raise WeChatError(40003)
    return {"user_info_list": [user_info(world, account, str(o)) for o in openids]}


def _tag_name(account: Account, name: object, except_id: int | None = None) -> str:
    if not isinstance(name, str) or not name:
        raise WeChatError(45157)
    if len(name.encode("utf-8")) > MAX_TAG_NAME_BYTES:
        raise WeChatError(45158)
    taken = {n for i, n in account.tags.items() if i != except_id} | {RESERVED_TAGS[2]}
    if name in taken:
        raise WeChatError(45157)  # "invalid tag name": names must be unique
    return name


def _tag_id(account: Account, body: dict[str, Any], *, allow_reserved: bool = False) -> int:
    tag = body.get("tag") if "tag" in body else body
    tag_id = tag.get("id", tag.get("tagid")) if isinstance(tag, dict) else None
    if isinstance(tag_id, bool) or not isinstance(tag_id, int):
        raise WeChatError(45159)
    if tag_id in RESERVED_TAGS:
        if allow_reserved and tag_id == 2:
            return tag_id
        raise WeChatError(45058)
    if tag_id not in account.tags:
        raise WeChatError(45159)
    return tag_id


def _fans(world: SandboxWorld, account: Account, tag_id: int) -> int:
    return sum(tag_id in u.tags.get(account.appid, set()) for u in world.users.values())


def create_tag(world: SandboxWorld, account: Account, body: dict[str, Any]) -> dict[str, Any]:
    with world.lock:
        tag = body.get("tag")
        name = _tag_name(account, tag.get("name") if isinstance(tag, dict) else None)
        if len(account.tags) >= MAX_TAGS:
            raise WeChatError(45056)
        tag_id = account.next_tag_id
        account.next_tag_id += 1
        account.tags[tag_id] = name
        return {"tag": {"id": tag_id, "name": name}}


def list_tags(world: SandboxWorld, account: Account) -> dict[str, Any]:
    with world.lock:
        tags = {2: RESERVED_TAGS[2], **account.tags}
        listed = [{"id": i, "name": n, "count": _fans(world, account, i)} for i, n in tags.items()]
        return {"tags": listed}


def update_tag(world: SandboxWorld, account: Account, body: dict[str, Any]) -> dict[str, object]:
    with world.lock:
        tag_id = _tag_id(account, body)
        tag = body["tag"]
        account.tags[tag_id] = _tag_name(account, tag.get("name"), except_id=tag_id)
        return ok()


def delete_tag(world: SandboxWorld, account: Account, body: dict[str, Any]) -> dict[str, object]:
    with world.lock:
        tag_id = _tag_id(account, body)
        if _fans(world, account, tag_id) > MAX_FANS_TO_DELETE:
            raise WeChatError(45057)
        del account.tags[tag_id]
        for user in world.users.values():
            user.tags.get(account.appid, set()).discard(tag_id)
        return ok()


def _members(world: SandboxWorld, account: Account, body: dict[str, Any]) -> list[SimUser]:
    openids = body.get("openid_list")
    if not isinstance(openids, list) or not 1 <= len(openids) <= MAX_BATCH_TAGGING:
        raise WeChatError(40032)
    if not all(isinstance(openid, str) for openid in openids):
        raise WeChatError(40003)
    return [world.by_openid(openid, account.appid) for openid in openids]


def tag_members(
    world: SandboxWorld, account: Account, body: dict[str, Any], *, add: bool
) -> dict[str, object]:
    """batchtagging / batchuntagging: ≤50 openids, ≤20 tags per user; all or nothing.

    Codes as listed for batchtagging (40032, 45159, 45059, 40003, 49003) in
    github.com/rocye/wx-idk TagsMemberBatchTagRespone.java, copied from the official doc.
    """
    with world.lock:
        members = _members(world, account, body)
        tag_id = _tag_id(account, body, allow_reserved=True)
        if add:
            for user in members:
                tags = user.tags.get(account.appid, set())
                if tag_id not in tags and len(tags) >= MAX_TAGS_PER_USER:
                    raise WeChatError(45059)
        for user in members:
            tags = user.tags.setdefault(account.appid, set())
            if add:
                tags.add(tag_id)
            else:
                tags.discard(tag_id)
        return ok()


def user_tag_ids(world: SandboxWorld, account: Account, body: dict[str, Any]) -> dict[str, Any]:
    openid = body.get("openid")
    if not isinstance(openid, str):
        raise WeChatError(40003)
    with world.lock:
        user = world.by_openid(openid, account.appid)
        return {"tagid_list": sorted(user.tags.get(account.appid, set()))}


def tag_fans(world: SandboxWorld, account: Account, body: dict[str, Any]) -> dict[str, Any]:
    """`/cgi-bin/user/tag/get {tagid, next_openid}`: the tag's followers, 10 000 a page in a
    stable order; `next_openid` continues after that openid, empty once all are returned."""
    with world.lock:
        tag_id = _tag_id(account, {"tagid": body.get("tagid")}, allow_reserved=True)
        after = body.get("next_openid") or ""
        if not isinstance(after, str):
            raise WeChatError(40003)
        fans = sorted(
            openid
            for user in world.users.values()
            if tag_id in user.tags.get(account.appid, set()) and user.following(account.appid)
            for openid in [user.openids.get(account.appid)]
            if openid is not None
        )
        start = 0
        if after:
            world.by_openid(after, account.appid)  # 40003 / 49003 for a stranger's openid
            start = next((i + 1 for i, o in enumerate(fans) if o == after), len(fans))
        page = fans[start : start + MAX_TAG_FANS_PAGE]
        more = start + len(page) < len(fans)
        return {
            "count": len(page),
            "data": {"openid": page},
            "next_openid": page[-1] if more and page else "",
        }
