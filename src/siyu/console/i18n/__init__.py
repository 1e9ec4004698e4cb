"""Console text (zh-CN first, en) and the translator templates call as `t()`/`_()`.

The text lives in `catalog/<area>.py`, each entry `key: (zh, en)`; they are merged here into
one catalog per language."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from starlette.requests import Request

from siyu.console.i18n.catalog import AREAS, merged
from siyu.console.i18n.catalog.community import MESSAGES as COMMUNITY_MESSAGES
from siyu.console.i18n.catalog.entries import MESSAGES as ENTRIES_LABELS
from siyu.console.i18n.catalog.events import CANONICAL_EVENT_LABELS
from siyu.console.i18n.catalog.reach import MESSAGES as REACH_LABELS
from siyu.console.i18n.plural import Message, Plural, Text
from siyu.core.errors import SiyuError, error_code

__all__ = [
    "CANONICAL_EVENT_LABELS",
    "CATALOGS",
    "COMMUNITY_MESSAGES",
    "DEFAULT_LANG",
    "EN",
    "ENTRIES_LABELS",
    "LANGUAGES",
    "LANG_COOKIE",
    "REACH_LABELS",
    "ZH",
    "Message",
    "Plural",
    "Text",
    "Translator",
    "format_datetime",
    "language_of",
]

LANG_COOKIE = "siyu_lang"
DEFAULT_LANG = "zh-CN"

_MESSAGES = merged(AREAS)
ZH: dict[str, str] = {key: zh for key, (zh, _) in _MESSAGES.items()}
EN: dict[str, Text] = {key: en for key, (_, en) in _MESSAGES.items()}

CATALOGS: dict[str, Mapping[str, Text]] = {"zh-CN": ZH, "en": EN}
LANGUAGES: dict[str, str] = {"zh-CN": "中文", "en": "English"}


class Translator:
    """`t("key", n=3)`: the message in this language, else English, else the key itself."""

    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in CATALOGS else DEFAULT_LANG
        self.catalog = CATALOGS[self.lang]

    def __call__(self, key: str, **params: object) -> str:
        text = self.catalog.get(key) or EN.get(key) or key
        if isinstance(text, Plural):
            text = text.pick(params)
        return text.format(**params) if params else text

    def has(self, key: str) -> bool:
        return key in self.catalog

    def error(self, code: str, fallback: str, params: Mapping[str, Any] | None = None) -> str:
        """A refusal in this language, as its code is listed (its area's `errors.py`): the
        Chinese text, or the English one where the code has it; else the service's own words."""
        if (listed := error_code(code)) is not None:
            shown = listed.text(params) if self.lang == "zh-CN" else listed.english(params)
            if shown is not None:
                return shown
        return self("error.generic", message=fallback)

    def refusal(self, exc: SiyuError) -> str:
        """`error()` for a raised refusal."""
        return self.error(exc.code, exc.message, exc.params)

    def label(self, prefix: str, value: object) -> str:
        """The label of an enum-like value (`app.kind.mp`), or the raw value when unknown."""
        key = f"{prefix}.{value}"
        return self(key) if key in self.catalog else str(value)


def language_of(request: Request) -> str:
    lang = request.cookies.get(LANG_COOKIE, DEFAULT_LANG)
    return lang if lang in CATALOGS else DEFAULT_LANG


def format_datetime(value: datetime | None, zone: ZoneInfo, with_seconds: bool = False) -> str:
    """A stored UTC time as the operators read it: local, to the minute."""
    if value is None:
        return ""
    pattern = "%Y-%m-%d %H:%M:%S" if with_seconds else "%Y-%m-%d %H:%M"
    return value.astimezone(zone).strftime(pattern)
