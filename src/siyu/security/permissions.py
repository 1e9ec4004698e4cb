"""Roles and their permissions, as data: the one table every entrypoint consults."""

from __future__ import annotations

from collections.abc import Mapping

from siyu.security.enums import Permission, Role

P = Permission

# Not route gates: they widen what a route shows (every member rather than one's own, WeChat
# ids, the full phone), or guard a command line tool (key rotation).
SCOPES = frozenset({P.members_all, P.members_identifiers, P.members_phone, P.keys_rotate})

_OPERATOR = frozenset(
    {
        P.members_read,
        P.members_all,
        P.members_identifiers,
        P.members_timeline,
        P.members_merge,
        P.members_tag,
        P.consents_read,
        P.events_ingest,
        P.imports_manage,
        P.analytics_read,
        P.apps_read,
        P.tokens_create,
        P.payments_read,
        P.payments_manage,
        P.payments_refund,
        P.community_read,
        P.community_manage,
        P.community_settle,
        P.members_notes,
        P.reach_read,
        P.reach_send,
        P.reach_manage,
        P.autoreply_manage,
        P.entries_read,
        P.entries_manage,
        P.segments_read,
        P.segments_manage,
        P.leads_read,
        P.leads_manage,
        P.points_read,
        P.points_manage,
        P.points_adjust,
        P.audience_manage,
        P.coupons_read,
        P.coupons_manage,
        P.coupons_redeem,
        P.mall_manage,
    }
)

ROLE_PERMISSIONS: Mapping[Role, frozenset[Permission]] = {
    Role.owner: frozenset(Permission),
    Role.admin: frozenset(Permission) - {P.keys_rotate},
    Role.operator: _OPERATOR,
    # Serves members: their orders, enrollments, service records; never their WeChat ids or
    # full phone number.
    Role.customer_service: frozenset(
        {
            P.members_read,
            P.members_all,
            P.members_timeline,
            P.consents_read,
            P.tokens_create,
            P.payments_read,
            P.community_read,
            P.members_notes,
            P.reach_read,
            P.points_read,
            P.coupons_read,
            P.coupons_redeem,
        }
    ),
    # Figures only: aggregates and de-identified exports, no single member.
    # Channel and menu reports are aggregates (counts per channel or button, never a member).
    Role.analyst: frozenset({P.analytics_read, P.entries_read, P.tokens_create}),
    # Only the members assigned to them (no `members.all`); of leads, the pool and their own.
    Role.sales: frozenset(
        {
            P.members_read,
            P.members_timeline,
            P.consents_read,
            P.tokens_create,
            P.members_notes,
            P.leads_read,
            P.leads_claim,
        }
    ),
}


def permissions_of(role: Role | str) -> frozenset[Permission]:
    return ROLE_PERMISSIONS.get(Role(role), frozenset())


def allows(role: Role | str, permission: Permission) -> bool:
    return permission in permissions_of(role)
