"""Audience's operations; each topic is a module, re-exported here."""

from __future__ import annotations

from siyu.audience.service import leads
from siyu.audience.service.segments import (
    compile_definition,
    create_segment,
    delete_segment,
    due_segments,
    get_segment,
    list_segments,
    notify_segment,
    on_events_recorded,
    preview,
    record_segment_export,
    refresh_on_demand,
    refresh_segment,
    segment_export_page,
    segment_members,
    update_segment,
)
from siyu.audience.service.tag_groups import delete_tag_group, list_tag_groups, save_tag_group

__all__ = [
    "compile_definition",
    "create_segment",
    "delete_segment",
    "delete_tag_group",
    "due_segments",
    "get_segment",
    "leads",
    "list_segments",
    "list_tag_groups",
    "notify_segment",
    "on_events_recorded",
    "preview",
    "record_segment_export",
    "refresh_on_demand",
    "refresh_segment",
    "save_tag_group",
    "segment_export_page",
    "segment_members",
    "update_segment",
]
