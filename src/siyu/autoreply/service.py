"""Auto-replies: keyword rules (exact, contains, regex), follow, default and menu-click replies,
per app.

Rules are compiled per app into a `Matcher` and cached until the app's rules change. The
passive-reply handler only reads (the inbox's contract); what a rule *does* — tag the member,
answer a Mini Program or send an MP card through the customer-service API — happens in a bus
subscriber, once, inside the push's processing job. A hand-off rule answers with a link card
to the OA QR code of an entries channel, so that the follow it brings is attributed there.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from html import escape
from typing import Any

from sqlalchemy.orm import Session

from siyu.autoreply import errors, repository
from siyu.autoreply.enums import MatchKind, RuleKind
from siyu.autoreply.matching import Matcher, Rule, compile_rule, regex_problem
from siyu.autoreply.models import AutoReplyRule
from siyu.autoreply.schemas import ReplyIn, RuleCreate, RuleRead, RuleTestResult
from siyu.core import clock, jobs
from siyu.core.errors import SiyuError
from siyu.core.logging import get_logger
from siyu.entries import service as entries
from siyu.identity import service as identity
from siyu.security import service as security
from siyu.security.schemas import Principal
from siyu.wechat.schemas import (
    Article,
    ClickEvent,
    CustomMessage,
    ImageReply,
    Message,
    NewsReply,
    Push,
    Reply,
    SubscribeEvent,
    TextMessage,
    TextReply,
)
from siyu.workspaces import service as workspaces
from siyu.workspaces.enums import AppKind
from siyu.workspaces.schemas import AppRead

KEYWORD_MAX = 30
# A menu button's key is at most 128 bytes (fact sheet §2.2, WeChat's createCustomMenu:
# https://developers.weixin.qq.com/doc/service/api/custommenu/api_createcustommenu).
MENU_KEY_MAX_BYTES = 128
OA_KINDS = (AppKind.oa_service, AppKind.oa_subscription)
log = get_logger(__name__)

# --- compiled rules, cached per process ------------------------------------------------------

CACHE_FRESH_S = 2.0  # compiled rules are trusted this long before their version is checked
_cache: dict[tuple[str, int], tuple[tuple[int, datetime | None], float, Matcher]] = {}
_cache_lock = threading.Lock()


def matcher_for(session: Session, app_id: int) -> Matcher:
    """The app's compiled rules. Within `CACHE_FRESH_S` no query at all; after it, one cheap
    query (count, last change) tells whether the cached rules still hold."""
    key = (str(session.get_bind().engine.url), app_id)
    with _cache_lock:
        cached = _cache.get(key)
    if cached is not None and time.monotonic() - cached[1] < CACHE_FRESH_S:
        return cached[2]
    version = repository.get_rules_version(session, app_id)
    if cached is not None and cached[0] == version:
        matcher = cached[2]
    else:
        rows = repository.list_rules_of_app(session, app_id)
        matcher = Matcher.build(compile_rule(row) for row in rows)
    with _cache_lock:
        _cache[key] = (version, time.monotonic(), matcher)
    return matcher


def forget(app_id: int) -> None:
    """Drop the app's compiled rules in this process (its rules changed here)."""
    with _cache_lock:
        for key in [k for k in _cache if k[1] == app_id]:
            del _cache[key]


def forget_all() -> None:
    """Drop every compiled rule set of this process: a database replaced under it (a test's,
    a restore) may reuse app ids the cache still knows."""
    with _cache_lock:
        _cache.clear()


def pick(session: Session, app_id: int, push: Push, now: datetime | None = None) -> Rule | None:
    """The rule that answers this push, if any."""
    now = now or clock.now()
    matcher = matcher_for(session, app_id)
    if isinstance(push, SubscribeEvent):
        return matcher.first_active(matcher.follow, now)
    if isinstance(push, ClickEvent):
        return matcher.click(push.key, now)
    if isinstance(push, TextMessage):
        hit = matcher.match(push.content, now)
        if hit is not None:
            return hit
    if isinstance(push, Message):
        return matcher.first_active(matcher.default, now)
    return None


# --- replies ---------------------------------------------------------------------------------


def passive_reply(reply: dict[str, Any]) -> Reply | None:
    """The OA's passive reply; None for an MP card, which goes through customer service."""
    kind = reply.get("type")
    if kind == "text":
        return TextReply(str(reply["content"]))
    if kind == "image":
        return ImageReply(str(reply["media_id"]))
    if kind == "news":
        articles = tuple(
            Article(
                title=a.get("title", ""),
                description=a.get("description", ""),
                url=a.get("url", ""),
                pic_url=a.get("pic_url", ""),
            )
            for a in reply.get("articles") or []
        )
        return NewsReply(articles)
    if kind == "link":  # an OA text may carry a link (passive replies have no link type)
        title = escape(str(reply.get("title") or reply["url"]))
        return TextReply(f'<a href="{escape(str(reply["url"]))}">{title}</a>')
    return None


def cs_message(openid: str, reply: dict[str, Any]) -> CustomMessage | None:
    """The same reply through the customer-service API (Mini Programs, MP cards)."""
    kind = reply.get("type")
    if kind == "text":
        return CustomMessage.text(openid, str(reply["content"]))
    if kind == "image":
        return CustomMessage.image(openid, str(reply["media_id"]))
    if kind == "mp_card":
        return CustomMessage.miniprogram_page(
            openid,
            title=str(reply["title"]),
            appid=str(reply["appid"]),
            pagepath=str(reply["pagepath"]),
            thumb_media_id=str(reply["thumb_media_id"]),
        )
    if kind == "link":
        body = {
            "title": str(reply.get("title") or ""),
            "description": str(reply.get("description") or ""),
            "url": str(reply["url"]),
            "thumb_url": str(reply.get("pic_url") or ""),
        }
        return CustomMessage(touser=openid, msgtype="link", body=body)
    if kind == "news":
        articles = [
            {
                "title": a.get("title", ""),
                "description": a.get("description", ""),
                "url": a.get("url", ""),
                "picurl": a.get("pic_url", ""),
            }
            for a in reply.get("articles") or []
        ]
        return CustomMessage(touser=openid, msgtype="news", body={"articles": articles})
    return None


def reply_handler(session: Session, app: AppRead, push: Push) -> Reply | None:
    """The inbox's passive-reply handler (reads only). Mini Programs get no passive reply:
    `on_push` answers them through the customer-service API."""
    if app.kind == AppKind.mp:
        return None
    if session.in_transaction():  # the processing job's late answer: its session, its lock
        rule = pick(session, app.id, push)
    else:
        # Our own short read: on SQLite every transaction holds the write lock, and the
        # handler's session stays open while later (maybe slow) handlers run.
        with Session(session.get_bind()) as own:
            try:
                rule = pick(own, app.id, push)
            finally:
                own.rollback()
    return None if rule is None else passive_reply(rule.reply)


def on_push(session: Session, push: Push) -> None:
    """What a matching rule does beyond the passive reply, once per push."""
    if not isinstance(push, Message | SubscribeEvent | ClickEvent):
        return
    if isinstance(push, SubscribeEvent) and push.scene:
        return  # a channel's follow: the entries domain's welcome answers it
    rule = pick(session, push.app_id, push)
    if rule is None:
        return
    if rule.tag and push.member_id is not None:
        identity.tag_members(
            session, push.workspace_id, [push.member_id], rule.tag, actor=f"autoreply:{rule.id}"
        )
    app = workspaces.get_apps_by_id(session, [push.app_id])[push.app_id]
    if app.kind == AppKind.mp or rule.reply.get("type") == "mp_card":
        message = cs_message(push.openid, _resolved(session, push.workspace_id, rule))
        if message is not None:
            jobs.enqueue(session, "autoreply.send_rule_reply", app.id, message.model_dump())


def _resolved(session: Session, workspace_id: int, rule: Rule) -> dict[str, Any]:
    """A hand-off becomes a link card to its channel's current OA QR code page; a channel that
    lost its code since the rule was made sends nothing (logged), rather than a dead link."""
    reply = rule.reply
    if reply.get("type") != "handoff":
        return reply
    try:
        target = entries.handoff_for(session, workspace_id, int(reply["channel_id"]))
    except SiyuError as exc:
        log.warning("autoreply_handoff_unavailable", rule_id=rule.id, code=exc.code)
        return {}
    return {
        "type": "link",
        "title": reply["title"],
        "description": reply.get("description") or "",
        "url": target.url,
        "pic_url": target.image_url,
    }


def appid_of(session: Session, app_id: int) -> str:
    return workspaces.get_apps_by_id(session, [app_id])[app_id].appid


# --- managing rules ---------------------------------------------------------------------------

# How the Chinese refusals name a reply type and a rule kind.
_REPLY_ZH = {
    "text": "文字",
    "image": "图片",
    "news": "图文",
    "mp_card": "小程序卡片",
    "link": "链接",
    "handoff": "转公众号",
}
_KIND_ZH = {
    RuleKind.keyword: "关键词",
    RuleKind.follow: "关注回复",
    RuleKind.default: "默认回复",
    RuleKind.menu_click: "菜单点击",
}


def _check_reply(session: Session, reply: ReplyIn, app: AppRead) -> None:
    missing: list[str] = []
    match reply.type:
        case "handoff":
            if app.kind != AppKind.mp:
                raise errors.INVALID_REPLY(
                    "the hand-off answers in a Mini Program's customer-service chat",
                    reason="转公众号只能用在小程序的客服会话里。",
                )
            if not (reply.channel_id and reply.title):
                missing = ["channel_id", "title"]
            else:  # refused now, with the reason, rather than silently at the first message
                entries.handoff_for(session, app.workspace_id, reply.channel_id)
        case "text":
            missing = [] if reply.content else ["content"]
        case "image":
            missing = [] if reply.media_id else ["media_id"]
        case "news":
            if app.kind == AppKind.mp:
                raise errors.INVALID_REPLY(
                    "Mini Programs cannot answer with news", reason="小程序不能回复图文。"
                )
            articles = reply.articles or []
            if not articles or any(not a.get("title") or not a.get("url") for a in articles):
                missing = ["articles (each with title and url)"]
        case "mp_card":
            names = ("title", "appid", "pagepath", "thumb_media_id")
            missing = [n for n in names if not getattr(reply, n)]
        case "link":
            missing = [] if reply.url and reply.title else ["title", "url"]
    if missing:
        fields = (
            "articles（每篇都要有 title 和 url）" if reply.type == "news" else "、".join(missing)
        )
        raise errors.INVALID_REPLY(
            f"a {reply.type} reply needs {', '.join(missing)}",
            reason=f"{_REPLY_ZH[reply.type]}回复需要填写 {fields}。",
        )


def _check_menu_keys(data: RuleCreate, app: AppRead) -> list[str]:
    """A menu click rule: the keys of click buttons of an OA's menu (only OAs have menus)."""
    if app.kind not in OA_KINDS:
        raise errors.INVALID_RULE(
            "only Official Accounts have custom menus",
            reason="只有公众号有自定义菜单，菜单点击规则请选公众号。",
        )
    keys = [k.strip() for k in data.keywords if k.strip()]
    if not keys:
        raise errors.INVALID_RULE(
            "a menu click rule needs the key of at least one button",
            reason="菜单点击规则至少需要一个按钮的 key。",
        )
    for key in keys:
        if len(key.encode("utf-8")) > MENU_KEY_MAX_BYTES:
            raise errors.INVALID_RULE(
                f"a button key is at most {MENU_KEY_MAX_BYTES} bytes",
                reason=f"按钮的 key 最多 {MENU_KEY_MAX_BYTES} 字节：{key[:20]}…",
            )
    return keys


def _check_keywords(data: RuleCreate, app: AppRead) -> list[str]:
    if data.kind == RuleKind.menu_click:
        return _check_menu_keys(data, app)
    if data.kind != RuleKind.keyword:
        if data.keywords:
            raise errors.INVALID_RULE(
                f"a {data.kind} rule has no keywords",
                reason=f"{_KIND_ZH[data.kind]}规则不带关键词。",
            )
        if data.kind == RuleKind.follow and app.kind == AppKind.mp:
            raise errors.INVALID_RULE(
                "Mini Programs have no followers", reason="小程序没有关注者，不能设关注回复。"
            )
        return []
    keywords = [k.strip() for k in data.keywords if k.strip()]
    if not keywords:
        raise errors.INVALID_RULE(
            "a keyword rule needs at least one keyword", reason="关键词规则至少需要一个关键词。"
        )
    if data.match == MatchKind.regex:
        for pattern in keywords:
            problem = regex_problem(pattern)
            if problem:
                raise errors.INVALID_REGEX(
                    f"{pattern!r}: {problem}",
                    data={"pattern": pattern, "problem": problem},
                    pattern=pattern,
                )
    elif any(len(k) > KEYWORD_MAX for k in keywords):
        raise errors.INVALID_RULE(
            f"keywords are at most {KEYWORD_MAX} characters",
            reason=f"关键词最多 {KEYWORD_MAX} 个字。",
        )
    return keywords


def add_rule(
    session: Session, workspace_id: int, data: RuleCreate, actor: Principal | str
) -> RuleRead:
    app = workspaces.get_app_by_appid(session, data.appid, workspace_id)
    keywords = _check_keywords(data, app)
    _check_reply(session, data.reply, app)
    if data.active_from and data.active_until and data.active_from >= data.active_until:
        raise errors.INVALID_RULE(
            "active_from must be before active_until", reason="生效时间必须早于失效时间。"
        )
    now = clock.now()
    row = repository.add_rule(
        session,
        AutoReplyRule(
            workspace_id=workspace_id,
            app_id=app.id,
            name=data.name or (keywords[0] if keywords else str(data.kind)),
            kind=data.kind,
            # a button's key is matched as sent, whatever the form said
            match=MatchKind.exact if data.kind == RuleKind.menu_click else data.match,
            keywords=keywords,
            priority=data.priority,
            active_from=data.active_from,
            active_until=data.active_until,
            reply=data.reply.model_dump(exclude_none=True),
            tag=data.tag,
            enabled=True,
            created_at=now,
            updated_at=now,
        ),
    )
    forget(app.id)
    security.record_audit(
        session,
        actor,
        "autoreply.rule_add",
        workspace_id=workspace_id,
        target_type="autoreply_rule",
        target_id=row.id,
        detail={"app_id": app.id, "kind": str(data.kind), "match": str(data.match)},
    )
    return RuleRead.model_validate(row)


def list_rules(session: Session, workspace_id: int) -> list[RuleRead]:
    return [RuleRead.model_validate(r) for r in repository.list_rules(session, workspace_id)]


def delete_rule(session: Session, workspace_id: int, rule_id: int, actor: Principal | str) -> None:
    row = repository.get_rule(session, rule_id)
    if row is None or row.workspace_id != workspace_id:
        raise errors.UNKNOWN_RULE(f"no rule {rule_id}")
    repository.delete_rule(session, row)
    forget(row.app_id)
    security.record_audit(
        session,
        actor,
        "autoreply.rule_delete",
        workspace_id=workspace_id,
        target_type="autoreply_rule",
        target_id=rule_id,
    )


def explain_message(
    session: Session, workspace_id: int, appid: str, message: str
) -> RuleTestResult:
    """Which rule a text message hits in this app, and the reply it would get."""
    app = workspaces.get_app_by_appid(session, appid, workspace_id)
    matcher = matcher_for(session, app.id)
    now = clock.now()
    rule = matcher.match(message, now) or matcher.first_active(matcher.default, now)
    if rule is None:
        return RuleTestResult(rule=None, reply=None)
    row = repository.get_rule(session, rule.id)
    return RuleTestResult(
        rule=None if row is None else RuleRead.model_validate(row), reply=rule.reply
    )
