"""Audience's enums that other domains may use."""

from __future__ import annotations

import enum


class SegmentKind(enum.StrEnum):
    dynamic = "dynamic"  # its membership follows the definition (a job refreshes it)
    static = "static"  # a snapshot, taken at creation and when an operator asks again


# --- sales leads (线索) ------------------------------------------------------------------------


class LeadRuleKind(enum.StrEnum):
    event = "event"  # points per matching event (with property filters), decayed by age
    condition = "condition"  # points once while a segment condition holds (a tag, an attribute)
    silent = "silent"  # points (negative) when the member did nothing for `days`


class LeadStatus(enum.StrEnum):
    new = "new"
    contacted = "contacted"
    qualified = "qualified"
    won = "won"
    lost = "lost"


OPEN_LEAD_STATUSES = (LeadStatus.new, LeadStatus.contacted, LeadStatus.qualified)


class FollowUpChannel(enum.StrEnum):
    call = "call"
    wechat = "wechat"
    visit = "visit"


class AssignmentMode(enum.StrEnum):
    pool = "pool"  # new leads wait in the pool (公海) for a salesperson to claim them
    round_robin = "round_robin"  # each new lead to the next of the assignees, in turn
    capacity = "capacity"  # to the assignee with the fewest open leads, below the capacity
    segment = "segment"  # by the first route whose segment holds the member (round-robin in it)


class LeadNoticeKind(enum.StrEnum):
    assigned = "assigned"  # a lead was given to this salesperson
    reminder = "reminder"  # the next follow-up date has come
    reclaim_warning = "reclaim_warning"  # no follow-up: back to the pool in a day
    reclaimed = "reclaimed"  # back in the pool


# --- lifecycle tiers and RFM (audience/service/lifecycle.py, rfm.py) ------------------------


class Tier(enum.StrEnum):
    """A member's lifecycle tier (生命周期分层), by the workspace's tier policy."""

    new = "new"  # 新客: joined within `new_days`
    active = "active"  # 活跃
    dormant = "dormant"  # 沉睡: no activity for `dormant_days` up to `churn_days`
    churned = "churned"  # 流失: none for more than `churn_days`, or left every OA
    returning = "returning"  # 回流: came back after dormant or churned


class TierCause(enum.StrEnum):
    """What moved a member: the nightly computation, or an event of theirs."""

    daily = "daily"
    event = "event"


class RfmCell(enum.StrEnum):
    """The eight RFM cells: R, F and M each high or low (README, "RFM")."""

    important_value = "重要价值"  # R high, F high, M high
    important_recall = "重要唤回"  # R low,  F high, M high
    important_develop = "重要深耕"  # R high, F low,  M high
    important_retain = "重要挽留"  # R low,  F low,  M high
    potential = "潜力"  # R high, F high, M low
    newcomer = "新客"  # R high, F low,  M low
    maintain = "一般维持"  # R low,  F high, M low
    lost = "流失"  # R low,  F low,  M low


class OaTagSource(enum.StrEnum):
    """What an OA tag is kept equal to: a siyu tag, or a segment's members (by its name)."""

    tag = "tag"
    segment = "segment"


class OaTagSyncStatus(enum.StrEnum):
    idle = "idle"
    running = "running"
    done = "done"
    failed = "failed"


class SkipReason(enum.StrEnum):
    """Why a member of the audience is not on the OA tag after a sync."""

    not_following = "not_following"  # no openid of this OA, or unfollowed
    user_tag_limit = "user_tag_limit"  # already carries 20 OA tags (fact sheet §2.7)
