"""Security's public enums: the roles operators hold and the permissions they grant."""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    owner = "owner"
    admin = "admin"
    operator = "operator"
    customer_service = "customer_service"
    analyst = "analyst"
    sales = "sales"


class Permission(enum.StrEnum):
    # members
    members_read = "members.read"  # list, search and open profiles (masked)
    members_all = "members.all"  # every member of the workspace, not only those assigned
    members_identifiers = "members.identifiers"  # UnionID, openid and external ids
    members_phone = "members.phone"  # the full phone number (138****0000 otherwise)
    members_timeline = "members.timeline"  # orders, enrollments, service records
    members_merge = "members.merge"  # merge, undo, review list
    members_tag = "members.tag"  # put tags on members and take them off
    members_assign = "members.assign"  # assign members to sales reps
    members_erase = "members.erase"
    members_export = "members.export"  # a member's own data, on their request
    consents_read = "consents.read"
    events_ingest = "events.ingest"
    imports_manage = "imports.manage"
    # aggregates
    analytics_read = "analytics.read"  # overview figures and charts
    # WeChat Pay
    payments_read = "payments.read"  # orders, refunds, refused notifications, reconciliation
    payments_manage = "payments.manage"  # create orders; merchant credentials need apps.manage
    payments_refund = "payments.refund"  # staff refunds (a reason is required and audited)
    # community campaigns
    community_read = "community.read"  # the matrix, activities, enrollments, check-ins, review
    community_manage = "community.manage"  # edit the matrix, groups, reject check-ins
    community_settle = "community.settle"  # confirm a settlement: refunds leave (audited)
    members_notes = "members.notes"  # write service records on a member
    # member benefits: coupons and the points mall
    coupons_read = "coupons.read"  # templates, their reports, the mall and its fulfilment
    coupons_manage = "coupons.manage"  # templates, issuing by staff
    coupons_redeem = "coupons.redeem"  # redeem and refund at the brand's mall or till
    mall_manage = "mall.manage"  # mall items; mark gifts shipped
    # reach: notices, broadcasts, auto-replies
    reach_read = "reach.read"  # send log, ledger, preferences, templates, broadcasts
    reach_send = "reach.send"  # notify a member, broadcast to an audience, set preferences
    reach_manage = "reach.manage"  # templates and the sending policy
    autoreply_manage = "autoreply.manage"  # keyword, follow and default replies
    # audience: segments, rule tags, tag groups
    segments_read = "segments.read"  # segments, their counts and members (as the role shows)
    segments_manage = "segments.manage"  # define, refresh, delete, export and notify segments
    # audience: sales leads (线索)
    leads_read = "leads.read"  # the pool and one's own leads (every lead with leads.manage)
    leads_claim = "leads.claim"  # claim from the pool, follow up and move one's own leads
    leads_manage = "leads.manage"  # every lead, scoring rules, the policy, assign, the report
    # members' points, sign-in and levels (会员权益)
    points_read = "points.read"  # balances, the ledger, rules and levels
    points_manage = "points.manage"  # rules, levels and the points policy
    points_adjust = "points.adjust"  # grant or deduct a member's points (a reason, audited)
    # entries and attribution
    entries_read = "entries.read"  # channels, codes, menus and their aggregate reports
    entries_manage = "entries.manage"  # link apps, make channels and codes, publish menus
    # audience: lifecycle tiers and RFM (their figures are analytics.read)
    audience_manage = "audience.manage"  # the tier policy
    # configuration and people
    apps_read = "apps.read"
    apps_manage = "apps.manage"  # credentials: AppSecret, Token, EncodingAESKey
    operators_manage = "operators.manage"
    audit_read = "audit.read"  # search and export the audit log
    tokens_create = "tokens.create"  # one's own API tokens
    keys_rotate = "keys.rotate"
