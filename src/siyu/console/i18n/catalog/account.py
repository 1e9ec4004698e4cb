"""Signing in and the operator's own account page."""

from __future__ import annotations

from siyu.console.i18n.plural import Message

MESSAGES: dict[str, Message] = {
    "account.title": ("我的账号", "My account"),
    "account.role": ("角色：{role}", "Role: {role}"),
    "account.role_hint.owner": (
        "可以管理一切，包括密钥轮换和其他所有者。",
        "Can manage everything, key rotation and other owners included.",
    ),
    "account.role_hint.admin": (
        "可以管理应用、操作员、审计日志和会员数据（不含密钥轮换）。",
        "Can manage apps, operators, the audit log and member data (not key rotation).",
    ),
    "account.role_hint.operator": (
        "可以查看会员、处理合并、导入事件和查看概览。",
        "Can look members up, review merges, import events, see figures.",
    ),
    "account.role_hint.customer_service": (
        "可以查看会员的订单、报名和服务记录；看不到 UnionID、OpenID 和完整手机号。",
        (
            "Sees members' orders, enrollments and service records; never UnionID, openid or the "
            "full phone number."
        ),
    ),
    "account.role_hint.analyst": (
        "只能查看汇总数据和去标识化的导出。",
        "Sees aggregate figures and de-identified exports only.",
    ),
    "account.role_hint.sales": (
        "只能查看分配给你的会员。",
        "Sees only the members assigned to you.",
    ),
    "account.password.title": ("修改密码", "Change password"),
    "account.password.current": ("当前密码", "Current password"),
    "account.password.new": ("新密码", "New password"),
    "account.password.confirm": ("再次输入新密码", "New password again"),
    "account.password.rules": (
        (
            "至少 {min_length} 个字符，不能包含登录邮箱。"
            "修改后，你在其他设备上的登录会退出，当前页面保持登录。"
        ),
        (
            "At least {min_length} characters, not containing your sign-in email. Your sessions "
            "elsewhere end; this one stays."
        ),
    ),
    "account.password.submit": ("修改密码", "Change password"),
    "account.password.changed": (
        "密码已修改，其他设备上的登录已退出。",
        "Password changed; your sessions elsewhere ended.",
    ),
    "account.password.required": (
        "你使用的是一次性密码。请先设置自己的密码，然后才能使用其他页面。",
        "You signed in with a one-time password. Set your own before using other pages.",
    ),
    "login.title": ("登录", "Sign in"),
    "login.heading": ("登录私域运营后台", "Sign in to Siyu"),
    "login.email": ("邮箱", "Email"),
    "login.password": ("密码", "Password"),
    "login.submit": ("登录", "Sign in"),
    "login.hint": (
        (
            "忘记密码请联系工作区所有者或管理员重置；"
            "所有者可在服务器上运行 siyu operators reset-password 邮箱。"
        ),
        (
            "Forgot your password? Ask an owner or admin to reset it; an owner can run "
            "siyu operators reset-password EMAIL on the server."
        ),
    ),
}
