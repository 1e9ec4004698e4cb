"""分层: lifecycle tiers over time, flows between them, RFM cells and the tier policy."""

from __future__ import annotations

from siyu.console.i18n.plural import Message, Plural

MESSAGES: dict[str, Message] = {
    "nav.tiers": ("分层", "Tiers"),
    "tiers.title": ("会员分层", "Member tiers"),
    "tiers.hint": (
        "每晚按分层策略重新计算；沉睡或流失的会员一有互动即转为回流。",
        "Recomputed nightly by the tier policy; a dormant or churned member who acts is"
        " returning at once.",
    ),
    "tiers.over_time": ("各层人数（按日）", "Members per tier, by day"),
    "tiers.none": ("还没有计算过分层。", "The tiers have not been computed yet."),
    "tiers.flows": (
        "近 {days} 天的层间流动",
        Plural(
            one="Moves between tiers, the last day",
            other="Moves between tiers, last {days} days",
            count="days",
        ),
    ),
    "tiers.no_flows": ("这段时间没有会员换层。", "No member changed tier in this period."),
    "tiers.flow.first": ("首次分层", "First tier"),
    "tiers.flow.before": ("原·{tier}", "From {tier}"),
    "tiers.flow.after": ("现·{tier}", "To {tier}"),
    "tiers.col.from": ("原分层", "From"),
    "tiers.col.to": ("新分层", "To"),
    "tiers.col.members": ("人数", "Members"),
    "tiers.col.cell": ("RFM 分群", "RFM cell"),
    "tiers.tier.new": ("新客", "New"),
    "tiers.tier.active": ("活跃", "Active"),
    "tiers.tier.dormant": ("沉睡", "Dormant"),
    "tiers.tier.churned": ("流失", "Churned"),
    "tiers.tier.returning": ("回流", "Returning"),
    "tiers.rfm": ("RFM 分群", "RFM cells"),
    "tiers.rfm_hint": (
        "按工作区内五分位打 1–5 分；R、F、M 各自 ≥ {score} 分为高。",
        "Scored 1–5 by quintiles within the workspace; R, F or M of {score} or more is high.",
    ),
    "tiers.no_rfm": ("还没有消费记录，或尚未计算。", "No payments yet, or not computed yet."),
    "tiers.policy": ("分层策略", "Tier policy"),
    "tiers.policy.new_days": ("新客：加入不超过（天）", "New: joined at most (days)"),
    "tiers.policy.dormant_days": ("沉睡：无互动至少（天）", "Dormant: no activity for (days)"),
    "tiers.policy.churn_days": ("流失：无互动超过（天）", "Churned: no activity for over (days)"),
    "tiers.policy.returning_days": ("回流状态保持（天）", "Returning lasts (days)"),
    "tiers.policy.churn_on_unfollow": (
        "取关全部公众号且小程序无互动算流失",
        "Unfollowing every OA with no Mini Program activity is churn",
    ),
    "tiers.policy.rfm_high_score": ("RFM 高分线（2–5）", "RFM high score (2–5)"),
    "tiers.policy.save": ("保存策略", "Save the policy"),
    "tiers.policy.save_hint": (
        "保存后在后台按新策略重新计算分层。",
        "The tiers are recomputed by the new policy in the background.",
    ),
    "tiers.yes": ("是", "Yes"),
    "tiers.no": ("否", "No"),
    "event.member.tier_changed": ("分层变化", "Tier changed"),
    "timeline.tier_changed": ("{before} → {after}", "{before} → {after}"),
    "member.tier": ("分层", "Tier"),
    "member.tier_since": ("自 {time}", "since {time}"),
    "member.tier_live": ("（尚未计算，按当前数据估算）", "(not computed yet; estimated now)"),
    "member.rfm": ("RFM", "RFM"),
    "member.rfm_none": ("无消费记录", "No payments"),
    "member.rfm_scores": (
        "R {r} · F {f} · M {m}（{frequency} 笔，净额 {amount}）",
        "R {r} · F {f} · M {m} ({frequency} orders, net {amount})",
    ),
}
