"""Community rules inside one transaction, by topic: the matrix, enrollment, check-ins,
settlement, groups, service records, the review (复盘), the history import and the demo.

Each staff operation validates, writes, audits (as its `actor`) and enqueues its jobs by name;
entrypoints parse, call it and render. Nothing here calls WeChat: the Mini Program's route asks
Pay for payment parameters, and the job `community.send_refunds` sends a settlement's refunds.
Other domains, the console and the CLI use community through this package (and `schemas`,
`enums`, `errors`); its modules import one another, never this `__init__`.
"""

from __future__ import annotations

from siyu.community.service.checkins import check_in, list_checkins, reject_checkin
from siyu.community.service.common import (
    code_of_reference,
    day_start,
    get_series,
    reference_of,
    today,
)
from siyu.community.service.demo import (
    DEMO_CURRENT,
    DEMO_PREVIOUS,
    create_demo_matrix,
    replay_demo_checkins,
    replay_demo_history,
)
from siyu.community.service.enrollment import (
    EnrollStep,
    enroll,
    enrollment_counts,
    is_blacklisted,
    list_enrollments,
    member_enrollments,
    on_order_paid,
    on_refund_settled,
)
from siyu.community.service.groups import (
    add_group_member,
    create_group,
    get_group,
    group_members,
    join_by_open_gid,
    join_group,
    leave_group,
    list_groups,
    list_posts,
    post_to_group,
    remove_group_member,
    set_group_state,
)
from siyu.community.service.imports import import_activities
from siyu.community.service.matrix import (
    MatrixSeries,
    MatrixTheme,
    create_activity,
    create_series,
    create_theme,
    end_activity_early,
    get_activity,
    get_activity_by_code,
    list_activities,
    list_series,
    list_themes,
    matrix,
    update_activity,
)
from siyu.community.service.records import add_service_record, service_records
from siyu.community.service.review import ACTIVE_AFTER_DAYS, activity_review, series_review
from siyu.community.service.selections import enrolled_member_ids
from siyu.community.service.settlement import (
    REFUND_CHUNK,
    SEND_REFUNDS,
    Confirmed,
    compute_settlement,
    confirm_settlement,
    refund_for,
    settlement_view,
)

__all__ = [
    "ACTIVE_AFTER_DAYS",
    "DEMO_CURRENT",
    "DEMO_PREVIOUS",
    "REFUND_CHUNK",
    "SEND_REFUNDS",
    "Confirmed",
    "EnrollStep",
    "MatrixSeries",
    "MatrixTheme",
    "activity_review",
    "add_group_member",
    "add_service_record",
    "check_in",
    "code_of_reference",
    "compute_settlement",
    "confirm_settlement",
    "create_activity",
    "create_demo_matrix",
    "create_group",
    "create_series",
    "create_theme",
    "day_start",
    "end_activity_early",
    "enroll",
    "enrolled_member_ids",
    "enrollment_counts",
    "get_activity",
    "get_activity_by_code",
    "get_group",
    "get_series",
    "group_members",
    "import_activities",
    "is_blacklisted",
    "join_by_open_gid",
    "join_group",
    "leave_group",
    "list_activities",
    "list_checkins",
    "list_enrollments",
    "list_groups",
    "list_posts",
    "list_series",
    "list_themes",
    "matrix",
    "member_enrollments",
    "on_order_paid",
    "on_refund_settled",
    "post_to_group",
    "reference_of",
    "refund_for",
    "reject_checkin",
    "remove_group_member",
    "replay_demo_checkins",
    "replay_demo_history",
    "series_review",
    "service_records",
    "set_group_state",
    "settlement_view",
    "today",
    "update_activity",
]
