"""Labels of the canonical events on a member's timeline (`event.<name>`)."""

from __future__ import annotations

from siyu.console.i18n.plural import Message

# By event name (oa.subscribe...): (zh-CN, en).
CANONICAL_EVENT_LABELS: dict[str, Message] = {
    "oa.subscribe": ("关注公众号", "Followed the OA"),
    "oa.unsubscribe": ("取消关注", "Unfollowed the OA"),
    "oa.scan": ("扫码", "Scanned a code"),
    "oa.menu_click": ("点击菜单", "Clicked a menu"),
    "oa.message": ("发送消息", "Sent a message"),
    "mp.login": ("登录小程序", "Logged in to the MP"),
    "mp.launch": ("打开小程序", "Opened the MP"),
    "mp.page_view": ("浏览页面", "Viewed a page"),
    "mp.share": ("分享", "Shared"),
    "mp.subscribe_accept": ("同意订阅消息", "Accepted a subscription"),
    "mp.form_submit": ("提交表单", "Submitted a form"),
    "mp.message": ("小程序客服消息", "Messaged MP customer service"),
    "mp.contact": ("进入小程序客服", "Opened MP customer service"),
    "pay.paid": ("支付", "Paid"),
    "pay.refunded": ("退款", "Refunded"),
    "order.created": ("下单", "Ordered"),
    "order.shipped": ("发货", "Order shipped"),
    "order.delivered": ("签收", "Order delivered"),
    "activity.enroll": ("报名活动", "Enrolled"),
    "activity.checkin": ("打卡", "Checked in"),
    "group.join": ("入群", "Joined a group"),
    "group.leave": ("退群", "Left a group"),
    "message.sent": ("消息已发送", "Message sent"),
    "message.failed": ("消息发送失败", "Message failed"),
}

MESSAGES: dict[str, Message] = {
    **{f"event.{name}": labels for name, labels in CANONICAL_EVENT_LABELS.items()},
    # what a timeline row says of its event (console/timeline.py)
    "timeline.activity": ("活动 {code}", "activity {code}"),
    "timeline.page": ("页面 {page}", "page {page}"),
    "timeline.menu_key": ("菜单 {button}", "menu {button}"),
    "timeline.msg_type.text": ("[文字]", "[text]"),
    "timeline.msg_type.image": ("[图片]", "[image]"),
    "timeline.msg_type.voice": ("[语音]", "[voice]"),
    "timeline.msg_type.video": ("[视频]", "[video]"),
    "timeline.msg_type.shortvideo": ("[小视频]", "[short video]"),
    "timeline.msg_type.location": ("[位置]", "[location]"),
    "timeline.msg_type.link": ("[链接]", "[link]"),
    "timeline.msg_type.miniprogrampage": ("[小程序卡片]", "[Mini Program card]"),
    "timeline.msg_type.other": ("[消息]", "[message]"),
}
