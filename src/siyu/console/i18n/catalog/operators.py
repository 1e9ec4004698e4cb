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
        "初始密码（至少 10 位）",
        "First password (10 characters or more)",
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
}
