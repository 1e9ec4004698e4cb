"""The review of identity conflicts."""

from __future__ import annotations

from siyu.console.i18n.plural import Message

MESSAGES: dict[str, Message] = {
    "review.title": ("待审合并", "Review"),
    "review.intro": (
        "系统发现以下会员可能是同一个人，但证据互相矛盾，需要人工判断。",
        "These members may be one person, but the evidence disagrees: a person decides.",
    ),
    "review.empty": ("没有待审的合并。", "Nothing to review."),
    "review.member_a": ("会员 A", "Member A"),
    "review.member_b": ("会员 B", "Member B"),
    "review.keep": ("合并，保留 {number}", "Merge, keep {number}"),
    "review.dismiss": ("忽略", "Dismiss"),
    "review.dismiss_confirm": (
        "确定忽略这条记录吗？两位会员保持独立。",
        "Dismiss this? Both members stay separate.",
    ),
    "review.opened": ("发现于 {time}", "Found {time}"),
    "review.merged_done": (
        "已合并：会员 {merged} 并入会员 {survivor}。",
        "Merged: member {merged} into member {survivor}.",
    ),
    "review.dismissed_done": (
        "已忽略：会员 {a} 与会员 {b} 保持独立。",
        "Dismissed: members {a} and {b} stay separate.",
    ),
    "review.status_merged": ("（该会员已被合并）", "(this member has been merged)"),
    "conflict.reason.openid_unionid_mismatch": (
        "同一 OpenID 出现了两个不同的 UnionID",
        "One OpenID arrived with two different UnionIDs",
    ),
    "conflict.reason.phone_on_two_unionids": (
        "同一手机号绑定在两个不同的 UnionID 上",
        "One phone number is bound to two UnionIDs",
    ),
    "conflict.reason.external_id_on_two_members": (
        "同一外部 ID 与 OpenID 指向不同会员",
        "An external ID and an OpenID name two members",
    ),
}
