"""The identity hub's operations: resolve people to members, merge them and review conflicts,
record and read their timeline, tag them, show them as each role may, their consents, their
data export and erasure, and bulk imports.

Other domains and the entrypoints use identity through this package
(`from siyu.identity import service as identity`), its schemas, enums and errors. Its modules
import each other from below (members and keys at the bottom, imports at the top), never this
`__init__`.
"""

from __future__ import annotations

from siyu.identity.service.access import (
    assign_member,
    assignee_of,
    ensure_member_visible,
    find_members,
    member_for,
    present_member,
    present_members,
    view_member,
    view_member_by_number,
    visible_members,
)
from siyu.identity.service.batch import resolve_member_ids, resolve_members
from siyu.identity.service.consents import (
    families_consenting,
    grant_consent,
    has_consent,
    list_consents,
    withdraw_consent,
)
from siyu.identity.service.domain_events import (
    EventsRecorded,
    MemberCreated,
    MembersMerged,
    MergeConflictOpened,
    MergeUndone,
)
from siyu.identity.service.erasure import (
    erase_member,
    export_member,
    table_policies,
    undeclared_tables,
    was_erased,
)
from siyu.identity.service.figures import (
    DEIDENTIFIED_COLUMNS,
    deidentified_members,
    overview,
    record_deidentified_export,
)
from siyu.identity.service.imports import (
    get_import,
    import_stream,
    list_imports,
    run_import,
    start_import,
)
from siyu.identity.service.ingest import BATCH_LIMIT, ingest_events, parse_events
from siyu.identity.service.keys import phone_hash
from siyu.identity.service.listing import (
    ListedMember,
    member_list_page,
    record_member_list_export,
)
from siyu.identity.service.members import (
    count_members,
    get_member,
    get_member_by_number,
    identity_values_of,
    is_phone,
    mark_erased,
    member_families,
    member_family,
    members_table,
    numbers_of,
    search_members,
    surviving_member_id,
    wechat_ids_of,
    workspace_of_member,
)
from siyu.identity.service.merges import (
    dismiss_conflict,
    list_conflicts,
    list_merges,
    merge_members,
    undo_merge,
)
from siyu.identity.service.numbering import number_new_members
from siyu.identity.service.profiles import set_member_profile
from siyu.identity.service.resolution import SYSTEM, bind_phone, resolve, resolve_member
from siyu.identity.service.tags import (
    TAG_MAX,
    member_tags,
    members_with_tag,
    tag_counts,
    tag_member,
    tag_members,
    untag_member,
    untag_members,
)
from siyu.identity.service.timeline import (
    NewEvent,
    event_props,
    events_table,
    get_timeline,
    members_active_since,
    record_event,
    record_events,
    tally_coded_days,
    tally_coded_events,
)

__all__ = [
    "BATCH_LIMIT",
    "DEIDENTIFIED_COLUMNS",
    "SYSTEM",
    "TAG_MAX",
    "EventsRecorded",
    "ListedMember",
    "MemberCreated",
    "MembersMerged",
    "MergeConflictOpened",
    "MergeUndone",
    "NewEvent",
    "assign_member",
    "assignee_of",
    "bind_phone",
    "count_members",
    "deidentified_members",
    "dismiss_conflict",
    "ensure_member_visible",
    "erase_member",
    "event_props",
    "events_table",
    "export_member",
    "families_consenting",
    "find_members",
    "get_import",
    "get_member",
    "get_member_by_number",
    "get_timeline",
    "grant_consent",
    "has_consent",
    "identity_values_of",
    "import_stream",
    "ingest_events",
    "is_phone",
    "list_conflicts",
    "list_consents",
    "list_imports",
    "list_merges",
    "mark_erased",
    "member_families",
    "member_family",
    "member_for",
    "member_list_page",
    "member_tags",
    "members_active_since",
    "members_table",
    "members_with_tag",
    "merge_members",
    "number_new_members",
    "numbers_of",
    "overview",
    "parse_events",
    "phone_hash",
    "present_member",
    "present_members",
    "record_deidentified_export",
    "record_event",
    "record_events",
    "record_member_list_export",
    "resolve",
    "resolve_member",
    "resolve_member_ids",
    "resolve_members",
    "run_import",
    "search_members",
    "set_member_profile",
    "start_import",
    "surviving_member_id",
    "table_policies",
    "tag_counts",
    "tag_member",
    "tag_members",
    "tally_coded_days",
    "tally_coded_events",
    "undeclared_tables",
    "undo_merge",
    "untag_member",
    "untag_members",
    "view_member",
    "view_member_by_number",
    "visible_members",
    "was_erased",
    "wechat_ids_of",
    "withdraw_consent",
    "workspace_of_member",
]
