"""Analytics's operations: loading the store (sync, and the bus subscribers that mark members
to copy again) and the reports it answers (operations index, funnels, retention)."""

from __future__ import annotations

from siyu.analytics.service.reports import (
    DEFINITIONS,
    SUPPRESS_BELOW,
    funnel,
    operations_index,
    retention,
)
from siyu.analytics.service.sync import (
    on_member_erased,
    on_members_merged,
    on_merge_undone,
    store,
    sync_store,
)

__all__ = [
    "DEFINITIONS",
    "SUPPRESS_BELOW",
    "funnel",
    "on_member_erased",
    "on_members_merged",
    "on_merge_undone",
    "operations_index",
    "retention",
    "store",
    "sync_store",
]
