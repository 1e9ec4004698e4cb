"""Auto-replies: keyword rules (exact, contains, regex), follow and default replies, per app.

Rules are compiled per app into a `Matcher` and cached until the app's rules change. The
passive-reply handler only reads (the inbox's contract); what a rule *does* — tag the member,
answer a Mini Program or send an MP card through the customer-service API — happens in a bus
subscriber, once, inside the push's processing job. A hand-off rule answers with a link card
to the OA QR code of an entries channel, so that the follow it brings is attributed there.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from typing import Any

from sqlalchemy.orm import Session

from siyu.core import clock
from siyu.core.errors import Invalid, NotFound, SiyuError
from siyu.core.jobs import enqueue_after_commit
from siyu.core.logging import get_logger
from siyu.entries import service as entries
from siyu.identity import service as identity
from siyu.reach import repository
from siyu.reach.models import AutoReplyRule, MatchKind, RuleKind
from siyu.reach.rules import regex_problem
from siyu.reach.schemas import ReplyIn, RuleCreate, RuleRead, RuleTestResult
from siyu.security import service as security
from siyu.security.schemas import Principal
from siyu.wechat.gateway import CustomMessage
from siyu.wechat.schemas import (
    Article,
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
log = get_logger(__name__)


def _norm(text: str) -> str:
    return text.strip().casefold()


@dataclass(frozen=True)
class Rule:
    id: int
    name: str
    kind: RuleKind
    match: MatchKind
    keywords: tuple[str, ...]
    priority: int
    active_from: datetime | None
    active_until: datetime | None
    reply: dict[str, Any]
    tag: str | None
    patterns: tuple[re.Pattern[str], ...] = ()

    @property
    def order(self) -> tuple[int, int]:
        return self.priority, self.id

    def active(self, now: datetime) -> bool:
        return (self.active_from is None or self.active_from <= now) and (
            self.active_until is None or now < self.active_until
        )


@dataclass
class Matcher:
    """An app's rules, indexed: exact keywords in a dict, contains-keywords by length (a
    message is scanned once per distinct keyword length), regexes behind one combined
    pattern that answers "none of them" in a single search."""

    exact: dict[str, list[Rule]] = field(default_factory=dict)
    contains: dict[str, list[Rule]] = field(default_factory=dict)
    lengths: tuple[int, ...] = ()
    contains_first: tuple[int, int] | None = None  # the best order among contains rules
    regex: list[Rule] = field(default_factory=list)
    any_regex: re.Pattern[str] | None = None
    # Patterns anchored at the start are tried at position 0 only (`match`, not `search`).
    anchored: bool = False
    follow: list[Rule] = field(default_factory=list)
    default: list[Rule] = field(default_factory=list)

    @classmethod
    def build(cls, rules: Iterable[Rule]) -> Matcher:
        matcher = cls()
        for rule in sorted(rules, key=lambda r: r.order):
            if rule.kind == RuleKind.follow:
                matcher.follow.append(rule)
            elif rule.kind == RuleKind.default:
                matcher.default.append(rule)
            elif rule.match == MatchKind.regex:
                matcher.regex.append(rule)
            else:
                index = matcher.exact if rule.match == MatchKind.exact else matcher.contains
                for keyword in rule.keywords:
                    index.setdefault(keyword, []).append(rule)
        matcher.lengths = tuple(sorted({len(k) for k in matcher.contains}))
        orders = [rule.order for rules in matcher.contains.values() for rule in rules]
        matcher.contains_first = min(orders) if orders else None
        sources = [p.pattern for rule in matcher.regex for p in rule.patterns]
        if sources:
            matcher.anchored = all(s.startswith("^") and "(?m" not in s for s in sources)
            try:
                matcher.any_regex = re.compile("|".join(f"(?:{s})" for s in sources))
            except re.error:  # e.g. the same group name in two patterns: check them one by one
                matcher.any_regex = None
        return matcher

    def match(self, message: str, now: datetime) -> Rule | None:
        text = _norm(message)
        best: Rule | None = None

        def consider(candidates: list[Rule]) -> None:
            nonlocal best
            for rule in candidates:  # sorted: the first active one is the best of the list
                if best is not None and rule.order >= best.order:
                    return
                if rule.active(now):
                    best = rule
                    return

        consider(self.exact.get(text, []))
        first = self.contains_first
        if first is not None and (best is None or first < best.order):
            for length in self.lengths:
                for start in range(len(text) - length + 1):
                    hit = self.contains.get(text[start : start + length])
                    if hit:
                        consider(hit)
        if self.regex and (best is None or self.regex[0].order < best.order) and self._any(message):
            for rule in self.regex:
                if best is not None and rule.order >= best.order:
                    break
                if rule.active(now) and any(p.search(message) for p in rule.patterns):
                    best = rule
                    break
        return best

    def _any(self, message: str) -> bool:
        """Whether some regex rule could match: one pass of the combined pattern."""
        if self.any_regex is None:
            return True
        found = self.any_regex.match(message) if self.anchored else self.any_regex.search(message)
        return found is not None

    def first_active(self, rules: list[Rule], now: datetime) -> Rule | None:
        return next((rule for rule in rules if rule.active(now)), None)


def compile_rule(row: AutoReplyRule) -> Rule:
    patterns: tuple[re.Pattern[str], ...] = ()
    keywords = tuple(row.keywords)
    if row.match == MatchKind.regex:
        patterns = tuple(re.compile(k) for k in row.keywords)
    else:
        keywords = tuple(_norm(k) for k in row.keywords)
    return Rule(
        id=row.id,
        name=row.name,
        kind=row.kind,
        match=row.match,
        keywords=keywords,
        priority=row.priority,
        active_from=row.active_from,
        active_until=row.active_until,
        reply=dict(row.reply),
        tag=row.tag,
        patterns=patterns,
    )


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
    version = repository.rules_version(session, app_id)
    if cached is not None and cached[0] == version:
        matcher = cached[2]
    else:
        rows = repository.rules_of_app(session, app_id)
        matcher = Matcher.build(compile_rule(row) for row in rows)
    with _cache_lock:
        _cache[key] = (version, time.monotonic(), matcher)
    return matcher


def forget(app_id: int) -> None:
    """Drop the app's compiled rules in this process (its rules changed here)."""
    with _cache_lock:
        for key in [k for k in _cache if k[1] == app_id]:
            del _cache[key]


def pick(session: Session, app_id: int, push: Push, now: datetime | None = None) -> Rule | None:
    """The rule that answers this push, if any."""
    now = now or clock.now()
    matcher = matcher_for(session, app_id)
    if isinstance(push, SubscribeEvent):
        return matcher.first_active(matcher.follow, now)
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
    if not isinstance(push, Message | SubscribeEvent):
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
            from siyu.reach import tasks

            enqueue_after_commit(session, tasks.send_rule_reply, app.id, message.model_dump())


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


def _check_reply(session: Session, reply: ReplyIn, app: AppRead) -> None:
    missing: list[str] = []
    match reply.type:
        case "handoff":
            if app.kind != AppKind.mp:
                raise Invalid(
                    "autoreply.invalid_reply",
                    "the hand-off answers in a Mini Program's customer-service chat",
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
                raise Invalid("autoreply.invalid_reply", "Mini Programs cannot answer with news")
            articles = reply.articles or []
            if not articles or any(not a.get("title") or not a.get("url") for a in articles):
                missing = ["articles (each with title and url)"]
        case "mp_card":
            names = ("title", "appid", "pagepath", "thumb_media_id")
            missing = [n for n in names if not getattr(reply, n)]
        case "link":
            missing = [] if reply.url and reply.title else ["title", "url"]
    if missing:
        raise Invalid("autoreply.invalid_reply", f"a {reply.type} reply needs {', '.join(missing)}")


def _check_keywords(data: RuleCreate, app: AppRead) -> list[str]:
    if data.kind != RuleKind.keyword:
        if data.keywords:
            raise Invalid("autoreply.invalid_rule", f"a {data.kind} rule has no keywords")
        if data.kind == RuleKind.follow and app.kind == AppKind.mp:
            raise Invalid("autoreply.invalid_rule", "Mini Programs have no followers")
        return []
    keywords = [k.strip() for k in data.keywords if k.strip()]
    if not keywords:
        raise Invalid("autoreply.invalid_rule", "a keyword rule needs at least one keyword")
    if data.match == MatchKind.regex:
        for pattern in keywords:
            problem = regex_problem(pattern)
            if problem:
                raise Invalid(
                    "autoreply.invalid_regex",
                    f"{pattern!r}: {problem}",
                    data={"pattern": pattern, "problem": problem},
                )
    elif any(len(k) > KEYWORD_MAX for k in keywords):
        raise Invalid("autoreply.invalid_rule", f"keywords are at most {KEYWORD_MAX} characters")
    return keywords


def add_rule(
    session: Session, workspace_id: int, data: RuleCreate, actor: Principal | str
) -> RuleRead:
    app = workspaces.get_app_by_appid(session, data.appid, workspace_id)
    keywords = _check_keywords(data, app)
    _check_reply(session, data.reply, app)
    if data.active_from and data.active_until and data.active_from >= data.active_until:
        raise Invalid("autoreply.invalid_rule", "active_from must be before active_until")
    now = clock.now()
    row = AutoReplyRule(
        workspace_id=workspace_id,
        app_id=app.id,
        name=data.name or (keywords[0] if keywords else str(data.kind)),
        kind=data.kind,
        match=data.match,
        keywords=keywords,
        priority=data.priority,
        active_from=data.active_from,
        active_until=data.active_until,
        reply=data.reply.model_dump(exclude_none=True),
        tag=data.tag,
        enabled=True,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
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
    row = session.get(AutoReplyRule, rule_id)
    if row is None or row.workspace_id != workspace_id:
        raise NotFound("autoreply.unknown_rule", f"no rule {rule_id}")
    session.delete(row)
    session.flush()
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
    row = session.get(AutoReplyRule, rule.id)
    return RuleTestResult(
        rule=None if row is None else RuleRead.model_validate(row), reply=rule.reply
    )
