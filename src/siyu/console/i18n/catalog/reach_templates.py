"""Reach's templates: each notice's forms, listed, registered and edited."""

from __future__ import annotations

from siyu.console.i18n.plural import Message

MESSAGES: dict[str, Message] = {
    "reach_templates.title": ("通知模板", "Notice templates"),
    "reach_templates.intro": (
        "一条通知可以有三种形式：服务号模板消息、小程序订阅消息、客服消息（文字）。"
        "发送时按发送策略选择会员当下可达的形式；群发通知至少需要一个模板。",
        "A notice may take three forms: an OA template message, a Mini Program subscribe "
        "message, a customer-service text. Each send takes the form the member can be reached "
        "by; notices to a segment need at least one template.",
    ),
    "reach_templates.back": ("返回消息触达", "Back to reach"),
    "reach_templates.back_list": ("返回模板列表", "Back to the templates"),
    "reach_templates.list": ("已登记的模板", "Registered templates"),
    "reach_templates.empty": (
        "还没有模板：在下面登记第一个，群发通知就能选择它了。",
        "No template yet: register the first below, and notices can use it.",
    ),
    "reach_templates.col.shape": ("内容", "Shape"),
    "reach_templates.edit": ("编辑", "Edit"),
    "reach_templates.view": ("查看", "View"),
    "reach_templates.edit_title": ("模板 {notice}", "Template {notice}"),
    "reach_templates.add": ("登记模板", "Register a template"),
    "reach_templates.submit": ("登记", "Register"),
    "reach_templates.save": ("保存", "Save"),
    "reach_templates.kind.oa_template": ("服务号模板消息", "OA template message"),
    "reach_templates.kind.mp_subscribe": ("小程序订阅消息", "MP subscribe message"),
    "reach_templates.kind.customer_service": ("客服消息（文字）", "Customer-service text"),
    "reach_templates.field.key": ("通知名", "Notice key"),
    "reach_templates.field.kind": ("形式", "Form"),
    "reach_templates.field.app": ("发送的应用", "Sending app"),
    "reach_templates.field.title": ("标题", "Title"),
    "reach_templates.field.template_id": ("微信模板 ID", "WeChat template ID"),
    "reach_templates.field.fields": (
        "字段对应（每行 微信字段=数据名）",
        "Fields (key=name a line)",
    ),
    "reach_templates.field.body": ("客服消息正文", "Customer-service text"),
    "reach_templates.field.page": ("小程序页面", "Mini Program page"),
    "reach_templates.field.url": ("网页链接", "Web link"),
    "reach_templates.hint.key": (
        "小写字母、数字、_ . -，例如 checkin_reminder；同一通知的几种形式用同一个通知名。",
        "Lower-case letters, digits, _ . -, e.g. checkin_reminder; a notice's forms share it.",
    ),
    "reach_templates.hint.template_id": (
        "模板消息、订阅消息必填：在微信后台选用模板后得到。",
        "Required for template and subscribe messages: from WeChat's console.",
    ),
    "reach_templates.hint.fields": (
        "模板消息、订阅消息必填，例如 thing1=course 表示微信字段 thing1 取通知数据里的 course。",
        "Template and subscribe messages: thing1=course fills WeChat's thing1 with the "
        "notice's course.",
    ),
    "reach_templates.hint.body": (
        "客服消息必填，可用 {course} 这样的占位符。",
        "Customer-service texts: placeholders such as {course} are filled from the data.",
    ),
    "reach_templates.hint.page": (
        "点开通知进入的小程序页面（可选）。",
        "The Mini Program page the notice opens (optional).",
    ),
    "reach_templates.fields_line": (
        "每行写成 微信字段=数据名：{line}",
        "Write each line as key=name: {line}",
    ),
    "reach_templates.invalid.key": (
        "通知名只能用小写字母、数字、_ . -，最多 64 个字符。",
        "Lower-case letters, digits, _ . - only, at most 64 characters.",
    ),
    "reach.no_templates": (
        "还没有通知模板，群发通知需要先登记模板。",
        "No notice template yet: register one before sending notices.",
    ),
    "reach.templates_link": ("管理通知模板", "Manage templates"),
}
