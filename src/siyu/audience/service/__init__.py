"""Audience's operations; each topic is a module, re-exported here."""

from __future__ import annotations

from siyu.audience.service.oa_tags import (
    MAX_OA_TAGS,
    MEMBER_SOURCES,
    MemberSource,
    broadcast_to_oa_tag,
    create_oa_tag_sync,
    find_or_create_oa_tag_sync,
    get_oa_tag_sync,
    import_oa_tags,
    list_oa_tag_syncs,
    register_member_source,
    start_oa_tag_sync,
    sync_oa_tag,
)

__all__: list[str] = [
    "MAX_OA_TAGS",
    "MEMBER_SOURCES",
    "MemberSource",
    "broadcast_to_oa_tag",
    "create_oa_tag_sync",
    "find_or_create_oa_tag_sync",
    "get_oa_tag_sync",
    "import_oa_tags",
    "list_oa_tag_syncs",
    "register_member_source",
    "start_oa_tag_sync",
    "sync_oa_tag",
]
