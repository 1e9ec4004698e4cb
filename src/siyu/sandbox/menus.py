"""Conditional (个性化) menus: added over the default menu, matched by the follower's tags,
newest first (fact sheet §2.2), and the menu a simulated user therefore sees.

Codes: the global return-code page
(https://developers.weixin.qq.com/doc/oplatform/en/Return_codes/Return_code_descriptions_new):
65301 no conditional menu with this menuid, 65303 no default menu (also
github.com/swansrp/core `WechatErrorCodeConst.NO_SELF_MENU = 65303`), 65304 the match rule is
empty; 65320 a privacy filter (sex / region / language) from the addConditionalMenu page
(fact sheet §2.2); 45159 a tag the account does not have, as tagging answers it (§2.7).
"""

from __future__ import annotations

import copy
from typing import Any

from siyu.sandbox.errors import WeChatError
from siyu.sandbox.rules import as_created, validate_menu
from siyu.sandbox.world import Account, ConditionalMenu, SandboxWorld, SimUser

# Quotas of the addconditional / delconditional / trymatch APIs (fact sheet §2.2).
ADD_PER_DAY = 2000
DELETE_PER_DAY = 2000
TRYMATCH_PER_DAY = 20000
# Filters WeChat now refuses with 65320 (privacy): only tag_id and client_platform_type remain.
PRIVACY_FILTERS = ("sex", "country", "province", "city", "language")
PLATFORMS = ("1", "2", "3")  # iOS, Android, others
FIRST_MENUID = 208_379_533  # the size of the menuids WeChat's docs show


def _matchrule(account: Account, rule: object) -> dict[str, str]:
    if not isinstance(rule, dict):
        raise WeChatError(65304)
    if any(str(rule.get(name) or "") for name in PRIVACY_FILTERS):
        raise WeChatError(65320)
    kept: dict[str, str] = {}
    tag_id = str(rule.get("tag_id") or "")
    if tag_id:
        if not tag_id.isdigit() or (int(tag_id) not in account.tags and int(tag_id) != 2):
            raise WeChatError(45159)
        kept["tag_id"] = tag_id
    platform = str(rule.get("client_platform_type") or "")
    if platform:
        if platform not in PLATFORMS:
            raise WeChatError(40097)
        kept["client_platform_type"] = platform
    if not kept:
        raise WeChatError(65304)
    return kept


def add_conditional(world: SandboxWorld, account: Account, body: dict[str, Any]) -> int:
    """`/cgi-bin/menu/addconditional`: the new menu's id."""
    with world.lock:
        if account.menu is None:
            raise WeChatError(65303)
        buttons = validate_menu(body, set(account.spec.linked_mps))
        rule = _matchrule(account, body.get("matchrule"))
        world.count(account, "menu_addconditional", ADD_PER_DAY)
        last = account.conditional_menus[-1].menuid if account.conditional_menus else 0
        menuid = max(last + 1, FIRST_MENUID + account.menu_id)
        account.conditional_menus.append(ConditionalMenu(menuid, copy.deepcopy(buttons), rule))
        return menuid


def del_conditional(world: SandboxWorld, account: Account, body: dict[str, Any]) -> None:
    """`/cgi-bin/menu/delconditional` by `menuid` (a string or a number in WeChat's examples)."""
    menuid = str(body.get("menuid") or "")
    with world.lock:
        found = next((m for m in account.conditional_menus if str(m.menuid) == menuid), None)
        if found is None:
            raise WeChatError(65301)
        world.count(account, "menu_delconditional", DELETE_PER_DAY)
        account.conditional_menus.remove(found)


def menu_for(account: Account, user: SimUser) -> tuple[list[dict[str, Any]], int]:
    """The buttons this follower sees and their menu's id: the newest conditional menu whose
    rule matches their tags (the platform filter matches every simulated phone), else the
    default menu."""
    tags = user.tags.get(account.appid, set())
    for menu in reversed(account.conditional_menus):
        tag_id = menu.matchrule.get("tag_id")
        if tag_id is None or int(tag_id) in tags:
            return menu.buttons, menu.menuid
    return account.menu or [], account.menu_id


def try_match(world: SandboxWorld, account: Account, body: dict[str, Any]) -> dict[str, Any]:
    """`/cgi-bin/menu/trymatch {user_id}` (an openid here): the menu that user would see."""
    user_id = body.get("user_id")
    if not isinstance(user_id, str) or not user_id:
        raise WeChatError(40003)
    with world.lock:
        user = world.by_openid(user_id, account.appid)
        if account.menu is None:
            raise WeChatError(46003)
        world.count(account, "menu_trymatch", TRYMATCH_PER_DAY)
        buttons, _menuid = menu_for(account, user)
        return {"button": as_created(buttons)}


def conditional_view(account: Account) -> list[dict[str, Any]]:
    """`menu/get`'s `conditionalmenu` list."""
    return [
        {"button": as_created(m.buttons), "matchrule": dict(m.matchrule), "menuid": m.menuid}
        for m in account.conditional_menus
    ]
