"""The shape of a catalog entry: `(zh, en)`, where English may need plural forms."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Plural:
    """English forms for a count: `one` for exactly 1, `other` for every other count.
    Chinese has no plural, so only the English side of an entry is ever a Plural."""

    one: str
    other: str
    count: str = "n"  # the slot that holds the count

    def pick(self, params: Mapping[str, object]) -> str:
        # Templates pass counts formatted with thousands separators ("1", "1,024"), so compare
        # as text: 1 and "1" both take `one`.
        return self.one if str(params.get(self.count)) == "1" else self.other


Text = str | Plural
Message = tuple[str, Text]
