"""API tokens: create (shown once), list, revoke."""

from __future__ import annotations

from siyu.console.i18n.plural import Message

MESSAGES: dict[str, Message] = {
    "nav.tokens": ("API 令牌", "API tokens"),
    "tokens.title": ("API 令牌", "API tokens"),
    "tokens.intro": (
        "脚本和外部系统用 API 令牌调用接口（Authorization: Bearer 令牌），权限与你的角色相同。",
        "Scripts and other systems call the API with a token (Authorization: Bearer …), with "
        "your role's permissions.",
    ),
    "tokens.add": ("新建令牌", "New token"),
    "tokens.field.name": ("用途", "What it is for"),
    "tokens.hint.name": ("例如：CRM 同步、每日报表脚本。", "For example: CRM sync, daily report."),
    "tokens.submit": ("生成令牌", "Create the token"),
    "tokens.created": (
        "已生成令牌“{name}”。请现在复制保存：离开本页后不再显示。",
        "Token “{name}” created. Copy it now: it is not shown again.",
    ),
    "tokens.secret": ("令牌", "Token"),
    "tokens.secret_hint": (
        "只显示这一次；系统只保存它的摘要。遗失请吊销后重新生成。",
        "Shown this once; only its hash is stored. If lost, revoke it and create another.",
    ),
    "tokens.list": ("我的令牌", "My tokens"),
    "tokens.list_all": ("工作区的全部令牌", "All tokens of the workspace"),
    "tokens.empty": ("还没有令牌。", "No token yet."),
    "tokens.col.name": ("用途", "For"),
    "tokens.col.prefix": ("开头", "Starts with"),
    "tokens.col.operator": ("持有人", "Holder"),
    "tokens.col.created": ("生成时间", "Created"),
    "tokens.col.last_used": ("最近使用", "Last used"),
    "tokens.col.status": ("状态", "Status"),
    "tokens.never_used": ("从未使用", "Never"),
    "tokens.active": ("有效", "Active"),
    "tokens.revoked_at": ("已吊销（{at}）", "Revoked ({at})"),
    "tokens.revoke": ("吊销", "Revoke"),
    "tokens.revoke_confirm": (
        "吊销令牌“{name}”？使用它的脚本会立即失效。",
        "Revoke “{name}”? Scripts using it stop working at once.",
    ),
    "tokens.revoked": ("已吊销令牌“{name}”。", "Token “{name}” revoked."),
}
