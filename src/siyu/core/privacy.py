"""How each table is erased when a member asks to be forgotten: declared beside the model.

Every model sets `__erasure__` to one of the policies below. The security domain's eraser and
the member's data export read these declarations from the model registry, so a table added
later is covered by declaring its policy, and a test fails while a table has none.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Action = Literal["none", "keep", "delete", "anonymize"]


def keep_numbers(value: Any) -> Any:
    """A JSON object reduced to its numeric and boolean entries (amounts, durations, flags):
    the figures that aggregates add up survive, free text (names, addresses) does not."""
    if not isinstance(value, Mapping):
        return {}
    return {
        k: v
        for k, v in value.items()
        if isinstance(v, bool) or (isinstance(v, int | float) and not isinstance(v, bool))
    }


ERASED = "erased"
"""What an anonymized identifier column holds afterwards (NOT NULL columns keep a value)."""


@dataclass(frozen=True)
class Erasure:
    """A table's erasure policy.

    - `none`: the table holds no member's personal data (apps, workspaces, operators' tables);
    - `keep`: it refers to members by id only (audit log, erasure proofs) and is kept as is;
    - `delete`: rows of the member are deleted;
    - `anonymize`: rows stay (aggregates keep their counts and amounts) with `scrub` applied:
      column → replacement value, or a callable mapping the old value to the new one.

    `member` names the columns holding a member id, `wechat_ids` those holding one of the
    member's openids/UnionIDs; a row matches when any of them does. `private` columns are left
    out of the member's own data export (session keys, token hashes: secrets, not their data).
    """

    action: Action
    member: tuple[str, ...] = ()
    wechat_ids: tuple[str, ...] = ()
    scrub: Mapping[str, Any | Callable[[Any], Any]] = field(default_factory=dict)
    private: tuple[str, ...] = ()
    reason: str = ""

    @classmethod
    def none(cls, reason: str) -> Erasure:
        return cls("none", reason=reason)

    @classmethod
    def keep(cls, *, member: tuple[str, ...], reason: str) -> Erasure:
        return cls("keep", member=member, reason=reason)

    @classmethod
    def delete(
        cls,
        *,
        member: tuple[str, ...] = (),
        wechat_ids: tuple[str, ...] = (),
        private: tuple[str, ...] = (),
    ) -> Erasure:
        return cls("delete", member=member, wechat_ids=wechat_ids, private=private)

    @classmethod
    def anonymize(
        cls,
        *,
        member: tuple[str, ...],
        scrub: Mapping[str, Any | Callable[[Any], Any]],
        wechat_ids: tuple[str, ...] = (),
        private: tuple[str, ...] = (),
    ) -> Erasure:
        return cls("anonymize", member=member, wechat_ids=wechat_ids, scrub=scrub, private=private)

    @property
    def matches_members(self) -> bool:
        return bool(self.member or self.wechat_ids)
