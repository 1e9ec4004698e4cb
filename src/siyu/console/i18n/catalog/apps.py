"""The workspace's apps (OAs and Mini Programs)."""

from __future__ import annotations

from siyu.console.i18n.plural import Message

MESSAGES: dict[str, Message] = {
    "apps.title": ("应用", "Apps"),
    "apps.list": ("已登记的应用", "Registered apps"),
    "apps.empty": ("还没有登记应用。", "No apps registered yet."),
    "apps.col.kind": ("类型", "Kind"),
    "apps.col.appid": ("AppID", "AppID"),
    "apps.col.name": ("名称", "Name"),
    "apps.col.secret": ("AppSecret", "AppSecret"),
    "apps.col.token": ("Token", "Token"),
    "apps.col.aes_key": ("EncodingAESKey", "EncodingAESKey"),
    "apps.col.push_mode": ("消息加解密方式", "Push mode"),
    "apps.col.created": ("登记时间", "Registered"),
    "apps.add": ("登记应用", "Register an app"),
    "apps.field.kind": ("类型", "Kind"),
    "apps.field.appid": ("AppID", "AppID"),
    "apps.field.name": ("名称", "Name"),
    "apps.field.entity": ("主体名称", "Legal entity"),
    "apps.field.entity_kind": ("主体类型", "Entity kind"),
    "apps.field.secret": ("AppSecret", "AppSecret"),
    "apps.field.token": ("Token（消息推送）", "Token (push)"),
    "apps.field.aes_key": ("EncodingAESKey", "EncodingAESKey"),
    "apps.field.push_mode": ("消息加解密方式", "Message encryption mode"),
    "apps.push_mode.auto": (
        "按密钥决定（有 EncodingAESKey 为安全模式）",
        "From the keys (secure with an EncodingAESKey)",
    ),
    "apps.hint.push_mode": (
        "与微信公众平台“服务器配置”中的选择一致；安全模式拒收明文推送。",
        "As chosen in WeChat's server configuration; secure mode refuses plaintext pushes.",
    ),
    "apps.hint.appid": (
        "公众号、小程序为 wx 开头的 18 位 AppID。",
        "Official Accounts and Mini Programs: the 18-character AppID starting with wx.",
    ),
    "apps.hint.secrets": (
        "密钥加密保存，保存后不再显示。",
        "Secrets are stored encrypted and never shown again.",
    ),
    "apps.hint.reenter": (
        "出于安全考虑，密钥不会回显，请重新填写。",
        "Secrets are never echoed back; please enter them again.",
    ),
    "apps.submit": ("登记", "Register"),
    "apps.added": ("已登记应用“{name}”（{appid}）。", "Registered “{name}” ({appid})."),
    "apps.form_invalid": ("表单有误，请按提示修改。", "Please correct the highlighted fields."),
    "apps.invalid.kind": ("请选择应用类型。", "Choose a kind of app."),
    "apps.invalid.appid": (
        (
            "AppID 格式不正确：公众号、小程序为 wx 加 16 位十六进制字符；"
            "H5、外部应用为 2–64 位字母、数字、_ 或 -。"
        ),
        (
            "AppID is not valid: Official Accounts and Mini Programs use wx plus 16 hex "
            "characters; H5 and external apps use 2–64 letters, digits, _ or -."
        ),
    ),
    "apps.invalid.name": ("请填写名称（不超过 100 字）。", "Enter a name (up to 100 characters)."),
    "apps.invalid.entity": (
        "主体名称不超过 200 字。",
        "The entity name has at most 200 characters.",
    ),
    "apps.invalid.entity_kind": ("请选择主体类型。", "Choose an entity kind."),
    "apps.invalid.secret": (
        "AppSecret 不超过 128 个字符。",
        "AppSecret has at most 128 characters.",
    ),
    "apps.invalid.token": ("Token 不超过 128 个字符。", "Token has at most 128 characters."),
    "apps.invalid.aes_key": (
        "EncodingAESKey 必须是 43 位字母或数字。",
        "EncodingAESKey must be 43 letters or digits.",
    ),
    "apps.invalid.push_mode": (
        "兼容模式和安全模式需要填写 EncodingAESKey。",
        "Compatible and secure modes need an EncodingAESKey.",
    ),
    "app.push_mode.plaintext": ("明文模式", "Plaintext"),
    "app.push_mode.compatible": ("兼容模式", "Compatible"),
    "app.push_mode.secure": ("安全模式", "Secure"),
    "app.kind.oa_service": ("服务号", "Service account"),
    "app.kind.oa_subscription": ("订阅号", "Subscription account"),
    "app.kind.mp": ("小程序", "Mini Program"),
    "app.kind.h5": ("H5", "H5"),
    "app.kind.external": ("外部应用", "External app"),
    "entity.kind.enterprise": ("企业", "Enterprise"),
    "entity.kind.individual_business": ("个体工商户", "Individual business"),
    "apps.links": ("公众号与小程序关联", "OA ↔ Mini Program links"),
    "links.title": ("公众号与小程序关联", "OA ↔ Mini Program links"),
    "links.intro": (
        "菜单的小程序按钮、模板消息和客服消息里的小程序卡片，只能打开已关联的小程序。"
        "在这里发起关联，并在两边管理员于微信确认后标记为已关联。",
        "Menu buttons, template messages and customer-service cards open only linked Mini "
        "Programs. Ask for a link here, and mark it linked once both admins confirmed it in "
        "WeChat.",
    ),
    "links.back": ("返回应用", "Back to apps"),
    "links.list": ("关联", "Links"),
    "links.empty": ("还没有关联。", "No link yet."),
    "links.col.oa": ("公众号", "Official Account"),
    "links.col.mp": ("小程序", "Mini Program"),
    "links.col.status": ("状态", "Status"),
    "links.col.entity": ("主体", "Entity"),
    "links.col.updated": ("更新时间", "Updated"),
    "links.status.pending": ("待微信确认", "Awaiting WeChat"),
    "links.status.linked": ("已关联", "Linked"),
    "links.status.refused": ("被拒绝", "Refused"),
    "links.status.unlinked": ("已解除", "Unlinked"),
    "links.same_entity": ("同主体", "Same entity"),
    "links.other_entity": ("不同主体", "Other entity"),
    "links.mark.linked": ("已在微信确认", "Confirmed in WeChat"),
    "links.mark.refused": ("被拒绝", "Refused"),
    "links.marked.linked": ("已标记为已关联。", "Marked linked."),
    "links.marked.refused": ("已标记为被拒绝。", "Marked refused."),
    "links.unlink": ("解除关联", "Unlink"),
    "links.unlink_confirm": (
        "解除关联？菜单和消息将不能再打开这个小程序。",
        "Unlink? Menus and messages will no longer open this Mini Program.",
    ),
    "links.unlinked": ("已解除关联。", "Unlinked."),
    "links.add": ("发起关联", "Link an OA and a Mini Program"),
    "links.need_apps": (
        "需要先登记至少一个公众号和一个小程序。",
        "Register at least one Official Account and one Mini Program first.",
    ),
    "links.field.oa": ("公众号", "Official Account"),
    "links.field.mp": ("小程序", "Mini Program"),
    "links.field.notify": ("通知公众号的关注者", "Tell the OA's followers"),
    "links.hint": (
        "提交后状态为“待微信确认”；两边管理员在微信确认后，请回到这里标记。",
        "The link awaits WeChat until both admins confirm it there; then mark it here.",
    ),
    "links.submit": ("发起关联", "Ask for the link"),
    "links.asked": ("已发起 {oa} 与 {mp} 的关联，待微信确认。", "Asked to link {oa} and {mp}."),
}
