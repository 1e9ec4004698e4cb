"""会员权益: coupon templates and their report, the points mall and the fulfilment of gifts."""

from __future__ import annotations

from siyu.console.i18n.plural import Message

MESSAGES: dict[str, Message] = {
    "nav.benefits": ("会员权益", "Member benefits"),
    "benefits.tab.coupons": ("优惠券", "Coupons"),
    "benefits.tab.mall": ("积分商城", "Points mall"),
    "benefits.coupons.title": ("会员权益 · 优惠券", "Member benefits · Coupons"),
    "benefits.coupons.intro": (
        "满减、折扣（可封顶）和礼品券；有效期为固定时段或领取后 N 天。库存与每人限领在并发下"
        "同样准确。会员在小程序领取，或在公众号发送关键词领取；回复“优惠券”可查看自己的券。",
        "Amount-off, percent-off (capped) and gift coupons, valid for a window or N days after "
        "the claim. Stock and the per-member limit hold under concurrency. Members claim in the "
        "Mini Program or by a keyword in the Official Account; “优惠券” lists their own.",
    ),
    "benefits.chart": ("各模板的券：已核销、可用、已过期", "Coupons per template"),
    "benefits.templates": ("优惠券模板", "Coupon templates"),
    "benefits.no_templates": ("还没有优惠券模板。", "No coupon template yet."),
    "benefits.new_template": ("新建优惠券模板", "New coupon template"),
    "benefits.create": ("创建", "Create"),
    "benefits.pause": ("暂停发放", "Pause"),
    "benefits.resume": ("恢复发放", "Resume"),
    "benefits.end": ("结束", "End"),
    "benefits.new_member": ("新人礼", "New-member gift"),
    "benefits.kind.amount_off": ("满减券", "Amount off"),
    "benefits.kind.percent_off": ("折扣券", "Percent off"),
    "benefits.kind.gift": ("礼品券", "Gift"),
    "benefits.status.active": ("发放中", "Active"),
    "benefits.status.paused": ("已暂停", "Paused"),
    "benefits.status.ended": ("已结束", "Ended"),
    "benefits.rule.amount_off": ("满 {threshold} 减 {off}", "{off} off {threshold}"),
    "benefits.rule.percent_off": ("减 {percent}%", "{percent}% off"),
    "benefits.rule.cap": ("最多减 {cap}", "at most {cap}"),
    "benefits.col.rule": ("规则", "Rule"),
    "benefits.col.status": ("状态", "Status"),
    "benefits.col.issued": ("已发放", "Issued"),
    "benefits.col.claimed": ("会员领取", "Claimed"),
    "benefits.col.redeemed": ("已核销", "Redeemed"),
    "benefits.col.usable": ("可用", "Usable"),
    "benefits.col.expired": ("已过期", "Expired"),
    "benefits.col.rate": ("核销率", "Redemption rate"),
    "benefits.col.discounted": ("优惠金额", "Discounted"),
    "benefits.field.name": ("名称", "Name"),
    "benefits.field.kind": ("类型", "Kind"),
    "benefits.field.threshold": ("使用门槛（元）", "Threshold (¥)"),
    "benefits.field.amount_off": ("减免金额（元）", "Amount off (¥)"),
    "benefits.field.percent_off": ("折扣（减 %）", "Percent off"),
    "benefits.field.cap": ("最多减（元）", "Cap (¥)"),
    "benefits.field.gift_name": ("礼品名称", "Gift"),
    "benefits.field.valid_days": ("领取后有效天数", "Valid days after claim"),
    "benefits.field.valid_from": ("生效日期", "Valid from"),
    "benefits.field.valid_until": ("截止日期（含）", "Valid until (inclusive)"),
    "benefits.field.stock": ("库存", "Stock"),
    "benefits.field.per_member_limit": ("每人限领", "Per member"),
    "benefits.field.oa_keyword": ("公众号领取关键词", "OA claim keyword"),
    "benefits.field.mp_claimable": ("小程序可领取", "Claimable in the Mini Program"),
    "benefits.field.new_member_gift": ("作为新人礼", "New-member gift"),
    "benefits.field.new_member_gift_hint": (
        "成为会员时自动发放一张。不要以分享或关注为条件发券：微信规则禁止诱导分享和诱导关注。",
        "Given once when a person becomes a member. Never make a coupon the reward for sharing "
        "or following: WeChat's rules forbid induced sharing and following.",
    ),
}
