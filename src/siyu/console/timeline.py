"""A member's timeline for people: what each event says (the message's text, the amount in
yuan, the page, the activity) and the channel's name, instead of its raw props."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from siyu.console.i18n import Translator
from siyu.core.money import format_yuan
from siyu.entries import service as entries

# Props that are references for machines (ids, signatures), never shown to a person.
_MACHINE = frozenset(
    {"push_id", "msg_id", "out_trade_no", "transaction_id", "out_refund_no", "activity_id",
     "template_id", "source", "reference", "launch_id", "query"}
)  # fmt: skip
_MONEY = ("amount", "amount_fen", "total_fen")
_SHOWN = 160


def channel_names(session: Session, workspace_id: int) -> dict[str, str]:
    """Channel slug (a code's scene) → the channel's name."""
    return {c.slug: c.name for c in entries.list_channels(session, workspace_id)}


def _money(props: Mapping[str, Any]) -> str | None:
    for key in _MONEY:
        value = props.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return f"¥{format_yuan(value)}"
    return None


def _cut(text: str) -> str:
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def describe(tr: Translator, name: str, props: Mapping[str, Any] | None) -> str:
    """One line a person reads for an event of the timeline."""
    p = props or {}
    parts: list[str] = []
    if name == "member.tier_changed":
        before = f"tiers.tier.{p.get('from')}"
        after = f"tiers.tier.{p.get('to')}"
        return tr(
            "timeline.tier_changed",
            before=tr(before) if tr.has(before) else tr("tiers.flow.first"),
            after=tr(after) if tr.has(after) else str(p.get("to")),
        )
    if name.endswith(".message"):
        text = p.get("text")
        if isinstance(text, str) and text:
            return f"“{_cut(text)}”"
        return tr.label("timeline.msg_type", str(p.get("msg_type") or "other"))
    money = _money(p)
    if money:
        parts.append(money)
    for key in ("description", "reason"):
        if isinstance(p.get(key), str) and p[key]:
            parts.append(str(p[key]))
    if isinstance(p.get("code"), str):
        parts.append(tr("timeline.activity", code=p["code"]))
    if isinstance(p.get("day"), str):
        parts.append(str(p["day"]))
    page = p.get("title") or p.get("page_title") or p.get("path") or p.get("page")
    if isinstance(page, str) and page:
        parts.append(tr("timeline.page", page=page))
    if name == "oa.menu_click" and p.get("key"):
        parts.append(tr("timeline.menu_key", button=str(p["key"])))
    if parts:
        return _cut(" · ".join(parts))
    rest = [
        f"{k}: {v}"
        for k, v in p.items()
        if k not in _MACHINE and k not in _MONEY and isinstance(v, str | int | float)
        and not isinstance(v, bool) and v != ""
    ]  # fmt: skip
    return _cut("，".join(rest))
