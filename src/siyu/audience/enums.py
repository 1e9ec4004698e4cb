"""Audience's enums that other domains may use."""

from __future__ import annotations

import enum

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
