"""会员权益: points (rules, ledger, adjustments), levels, and a member's points on the profile."""

from __future__ import annotations

from siyu.console.i18n.plural import Message, Plural

MESSAGES: dict[str, Message] = {
    "nav.points": ("积分", "Points"),
    "nav.levels": ("会员等级", "Levels"),
    "points.title": ("会员权益 · 积分", "Loyalty · Points"),
    "points.intro": (
        "积分按规则从事件获得（支付、签到、打卡、关注、绑定手机），按批次过期，先到期的先用；"
        "退款会扣回对应支付所得积分。人工调整须填写原因并记入审计。",
        "Points are earned from events by rules (payment, sign-in, check-in, follow, phone), "
        "expire by lot, the first to expire spent first; a refund takes back what its payment "
        "earned. Staff adjustments need a reason and are audited.",
    ),
    "points.policy": ("积分设置", "Settings"),
    "points.policy.expiry": ("有效期", "Expiry"),
    "points.policy.rolling": (
        "获得后 {months} 个月",
        Plural(one="1 month after earning", other="{months} months after earning", count="months"),
    ),
    "points.policy.fixed": ("每年 {day} 到期", "Every year on {day}"),
    "points.policy.never": ("永久有效", "Never"),
    "points.policy.reminder": (
        "到期前 {days} 天提醒",
        Plural(one="Reminder 1 day before", other="Reminder {days} days before", count="days"),
    ),
    "points.policy.signin": (
        "签到每日 {points} 分，连续签到奖励：{bonuses}",
        "Sign-in {points} a day; streak bonuses: {bonuses}",
    ),
    "points.policy.api": (
        "设置通过 API（PUT /api/points/policy）修改。",
        "Change the settings through the API (PUT /api/points/policy).",
    ),
    "points.rules": ("积分规则", "Earning rules"),
    "points.no_rules": ("还没有规则。", "No rule yet."),
    "points.col.trigger": ("触发事件", "Trigger"),
    "points.col.points": ("积分（支付为每元）", "Points (per yuan for payments)"),
    "points.col.growth": ("成长值", "Growth"),
    "points.col.daily_cap": ("每日上限", "Daily cap"),
    "points.col.member_cap": ("每人上限", "Per-member cap"),
    "points.col.active": ("启用", "Active"),
    "points.add_rule": ("添加规则", "Add rule"),
    "points.delete": ("删除", "Delete"),
    "points.trigger.pay_paid": ("支付", "Payment"),
    "points.trigger.oa_follow": ("关注公众号", "OA follow"),
    "points.trigger.phone_bound": ("绑定手机", "Phone bound"),
    "points.trigger.checkin": ("打卡", "Check-in"),
    "points.trigger.activity_completed": ("完成活动", "Activity completed"),
    "points.trigger.signin": ("签到", "Sign-in"),
    "points.trigger.invite_qualified": ("邀请达成", "Qualified invitation"),
    "points.ledger": ("积分流水", "Ledger"),
    "points.search": ("查询", "Search"),
    "points.no_entries": ("没有记录。", "No entry."),
    "points.field.member": ("会员编号", "Member number"),
    "points.field.kind": ("类型", "Kind"),
    "points.field.source": ("来源编号前缀", "Source key prefix"),
    "points.field.amount": ("积分（负数为扣减）", "Points (negative deducts)"),
    "points.field.reason": ("原因", "Reason"),
    "points.col.time": ("时间", "Time"),
    "points.col.amount": ("变动", "Change"),
    "points.col.shortfall": ("未扣回", "Shortfall"),
    "points.col.source": ("来源", "Source"),
    "points.col.actor": ("操作者", "By"),
    "points.kind.earn": ("获得", "Earned"),
    "points.kind.spend": ("使用", "Spent"),
    "points.kind.expire": ("过期", "Expired"),
    "points.kind.clawback": ("退款扣回", "Taken back"),
    "points.kind.adjust": ("人工调整", "Adjusted"),
    "points.kind.any": ("全部", "All"),
    "points.adjust": ("调整积分", "Adjust points"),
    "points.adjust_submit": ("提交调整", "Adjust"),
    "points.profile": ("积分与等级", "Points and level"),
    "points.balance": ("积分余额", "Balance"),
    "points.growth": ("成长值", "Growth"),
    "points.level": ("等级", "Level"),
    "points.expiring": ("{points} 分将于 {time} 过期", "{points} expire at {time}"),
    "points.all_entries": ("全部流水", "All entries"),
    "levels.title": ("会员权益 · 等级", "Loyalty · Levels"),
    "levels.intro": (
        "成长值达到门槛即时升级；每个周期（{months} 个月）结束时未达到当前等级门槛的会员降一级，"
        "并提前 {days} 天提醒。",
        "A member moves up as soon as their growth reaches a threshold; at the end of each "
        "period (months: {months}) a member below their level's threshold drops one level, "
        "told beforehand (days: {days}).",
    ),
    "levels.none": ("无等级", "No level"),
    "levels.list": ("等级", "Levels"),
    "levels.no_levels": ("还没有等级。", "No level yet."),
    "levels.col.rank": ("序号", "Rank"),
    "levels.col.name": ("名称", "Name"),
    "levels.col.threshold": ("成长值门槛", "Growth threshold"),
    "levels.col.multiplier": ("积分倍率（%）", "Points multiplier (%)"),
    "levels.col.member_only": ("会员专享内容", "Member-only content"),
    "levels.col.coupon_pack": ("升级礼包", "Upgrade coupon pack"),
    "levels.col.members": ("会员数", "Members"),
    "levels.chart": ("各等级会员数", "Members by level"),
    "levels.add": ("添加等级", "Add level"),
    "levels.yes": ("是", "Yes"),
    "levels.no": ("否", "No"),
}
