"""Reading a push's parsed fields: XML gives strings, JSON (Mini Programs) numbers too."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

Raw = Mapping[str, Any]

# Senders are openids (28 base64url characters today); system pushes use other ids. The column
# holds 64 characters of printable ASCII, and anything else is not a push WeChat would send.
SENDER = re.compile(r"^[\x21-\x7e]{1,64}$")
MSG_TYPE = re.compile(r"^[A-Za-z0-9_.:-]{1,32}$")
EVENT = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
MAX_CREATE_TIME = 2**33  # seconds; far beyond any real CreateTime, still a valid datetime
MAX_XML_DEPTH = 8  # pushes nest three levels at most (SendPicsInfo/PicList/item)
XML_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")  # not allowed in XML 1.0 text


class MalformedPush(ValueError):
    """A push whose fields do not make a message WeChat would send."""


def text(raw: Raw, key: str, default: str = "") -> str:
    """A scalar field as text: XML gives strings, JSON (MP) may give numbers."""
    value = raw.get(key)
    if value is None:
        return default
    if isinstance(value, Mapping | list):
        raise MalformedPush(f"{key} must be a value, not a structure")
    return str(value)


def optional(raw: Raw, key: str) -> str | None:
    value = text(raw, key)
    return value or None


def integer(raw: Raw, key: str, default: int = 0) -> int:
    value = text(raw, key).strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise MalformedPush(f"{key} must be an integer") from exc


def number(raw: Raw, key: str) -> float:
    value = text(raw, key).strip()
    if not value:
        return 0.0
    try:
        return float(value)
    except ValueError as exc:
        raise MalformedPush(f"{key} must be a number") from exc


def section(raw: Raw, key: str) -> Raw:
    value = raw.get(key)
    return value if isinstance(value, Mapping) else {}


def items(value: Any) -> list[Raw]:
    """XML repeats an element for a list and gives a lone one as a mapping; JSON gives a list."""
    if isinstance(value, Mapping):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, Mapping)]
    return []
