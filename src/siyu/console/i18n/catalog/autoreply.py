"""Auto-replies: the rules, their tester and the rule form."""

from __future__ import annotations

from siyu.console.i18n.plural import Message

MESSAGES: dict[str, Message] = {
    "nav.autoreplies": ("自动回复", "Auto-replies"),
    "autoreply.title": ("自动回复", "Auto-replies"),
    "autoreply.intro": (
        "关键词（精确、包含、正则）、菜单点击、关注回复和默认回复；小程序客服消息走同样的规则。",
        "Keyword (exact, contains, regex), menu click, follow and default replies; Mini "
        "Program customer-service messages follow the same rules.",
    ),
    "autoreply.tester": ("规则测试", "Rule tester"),
    "autoreply.test": ("测试", "Test"),
    "autoreply.hit": (
        "命中规则「{name}」（优先级 {priority}）",
        "Hits rule “{name}” (priority {priority})",
    ),
    "autoreply.miss": ("没有规则命中。", "No rule matches."),
    "autoreply.rules": ("规则", "Rules"),
    "autoreply.no_rules": ("还没有规则。", "No rule yet."),
    "autoreply.new": ("新建规则", "New rule"),
    "autoreply.add": ("添加", "Add"),
    "autoreply.delete": ("删除", "Delete"),
    "autoreply.col.kind": ("类型", "Kind"),
    "autoreply.col.reply": ("回复", "Reply"),
    "autoreply.field.app": ("应用", "App"),
    "autoreply.field.message": ("用户消息", "User message"),
    "autoreply.field.match": ("匹配方式", "Match"),
    "autoreply.field.keywords": ("关键词（每行一个）", "Keywords (one a line)"),
    "autoreply.field.priority": ("优先级（小者优先）", "Priority (lower first)"),
    "autoreply.field.tag": ("命中后打标签", "Tag on match"),
    "autoreply.field.reply_text": ("回复文字", "Reply text"),
    "autoreply.field.handoff": ("转到公众号（渠道）", "Hand off to the OA (channel)"),
    "autoreply.field.handoff_hint": (
        "仅小程序客服：回复一张打开该渠道公众号二维码的链接卡片，回复文字作卡片标题；"
        "经此关注计入该渠道。",
        "Mini Programs only: answers with a link card to the channel's OA QR code, the reply "
        "text as its title; follows through it count for the channel.",
    ),
    "autoreply.kind.keyword": ("关键词", "Keyword"),
    "autoreply.kind.follow": ("关注回复", "Follow reply"),
    "autoreply.kind.default": ("默认回复", "Default reply"),
    "autoreply.kind.menu_click": ("菜单点击", "Menu click"),
    "autoreply.field.keywords_hint": (
        "菜单点击规则：每行写一个点击按钮的 key（与菜单里的 key 完全一致），用户点击该按钮时回复。",
        "Menu click rules: one click button's key a line (exactly as in the menu); a click on "
        "that button gets the reply.",
    ),
    "autoreply.match.exact": ("精确", "Exact"),
    "autoreply.match.contains": ("包含", "Contains"),
    "autoreply.match.regex": ("正则", "Regex"),
    "autoreply.reply.text": ("文字", "Text"),
    "autoreply.reply.image": ("图片", "Image"),
    "autoreply.reply.news": ("图文", "News"),
    "autoreply.reply.mp_card": ("小程序卡片", "MP card"),
    "autoreply.reply.link": ("链接", "Link"),
}
