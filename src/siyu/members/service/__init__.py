"""Members' operations; each topic is a module, re-exported here."""

from __future__ import annotations

from siyu.members.service.levels import (
    MemberLevelChanged,
    create_level,
    delete_level,
    list_levels,
    my_level,
    notify_at_risk,
    requalify,
    update_level,
)
from siyu.members.service.points import (
    Earn,
    Earned,
    adjust,
    adjust_by_number,
    balance_of,
    claw_back,
    create_rule,
    delete_rule,
    earn,
    earn_many,
    expire_due,
    ledger,
    list_rules,
    remind_expiring,
    set_policy,
    spend_points,
    update_rule,
)
from siyu.members.service.policy import get_policy

__all__ = [
    "Earn",
    "Earned",
    "MemberLevelChanged",
    "adjust",
    "adjust_by_number",
    "balance_of",
    "claw_back",
    "create_level",
    "create_rule",
    "delete_level",
    "delete_rule",
    "earn",
    "earn_many",
    "expire_due",
    "get_policy",
    "ledger",
    "list_levels",
    "list_rules",
    "my_level",
    "notify_at_risk",
    "remind_expiring",
    "requalify",
    "set_policy",
    "spend_points",
    "update_level",
    "update_rule",
]
