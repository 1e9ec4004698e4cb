"""Operators, their roles and the security refusals."""

from __future__ import annotations

from siyu.console.i18n.plural import Message

MESSAGES: dict[str, Message] = {
    "operators.title": ("操作员", "Operators"),
    "operators.intro": (
        "角色决定能看到什么：客服看不到 UnionID、OpenID 和完整手机号，销售只看到分配给自己的会员。",
        (
            "Roles decide what people see: customer service never sees UnionID, openid or full "
            "phone numbers; sales see only the members assigned to them."
        ),
    ),
    "operators.col.name": ("姓名", "Name"),
    "operators.col.email": ("邮箱", "Email"),
    "operators.col.role": ("角色", "Role"),
    "operators.col.status": ("状态", "Status"),
    "operators.col.action": ("操作", "Action"),
    "operators.active": ("正常", "Active"),
    "operators.disabled_at": ("已于 {time} 停用", "Disabled {time}"),
    "operators.change_role": ("修改", "Change"),
    "operators.disable": ("停用", "Disable"),
    "operators.disable_confirm": (
        "确定停用吗？该操作员的登录会话和 API 令牌会立即失效。",
        "Disable this operator? Their sessions and API tokens end now.",
    ),
    "operators.enable": ("启用", "Enable"),
    "operators.add": ("新增操作员", "Add an operator"),
    "operators.field.email": ("邮箱", "Email"),
    "operators.field.name": ("姓名", "Name"),
    "operators.field.password": (
        "一次性初始密码（至少 10 位，对方首次登录后须改为自己的密码）",
        "One-time first password (10 characters or more; they set their own at first sign-in)",
    ),
    "operators.field.role": ("角色", "Role"),
    "operators.submit": ("新增", "Add"),
    "operators.added": ("已新增操作员 {email}。", "Added operator {email}."),
    "operators.role_changed": ("已修改 {email} 的角色。", "Changed the role of {email}."),
    "operators.disabled": (
        "已停用 {email}，其会话和令牌已失效。",
        "Disabled {email}; their sessions and tokens ended.",
    ),
    "operators.enabled": ("已启用 {email}。", "Enabled {email}."),
    "operators.reset": ("重置密码", "Reset password"),
    "operators.reset_confirm": (
        "确定重置这位操作员的密码吗？其登录会话会立即失效，新的一次性密码只显示一次。",
        "Reset this operator's password? Their sessions end now; the one-time password shows once.",
    ),
    "operators.reset_done": (
        "已重置 {email} 的密码。一次性密码（只显示这一次，请安全地转交）：",
        "Reset the password of {email}. One-time password (shown only now; pass it on safely):",
    ),
    "operators.one_time_pending": ("待改密码", "Must change password"),
}
