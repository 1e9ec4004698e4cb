"""Auto-reply's public vocabulary: how a keyword rule matches, and what a rule answers."""

from __future__ import annotations

import enum


class MatchKind(enum.StrEnum):
    exact = "exact"
    contains = "contains"
    regex = "regex"


class RuleKind(enum.StrEnum):
    keyword = "keyword"
    follow = "follow"  # answers a new follower (after the channel welcome of entries)
    default = "default"  # answers a message no keyword rule matched
    # answers a custom-menu click button: its keywords are the buttons' keys (the push's
    # EventKey, matched exactly as WeChat sends it), never a text message's words
    menu_click = "menu_click"
