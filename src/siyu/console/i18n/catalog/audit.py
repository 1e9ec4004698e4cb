"""The audit log."""

from __future__ import annotations

from siyu.console.i18n.plural import Message

MESSAGES: dict[str, Message] = {
    "audit.title": ("审计日志", "Audit log"),
    "audit.intro": (
        "谁在什么时候查看或修改了什么。日志只追加，不能修改或删除。",
        "Who read or changed what, and when. Append-only: it cannot be edited.",
    ),
    "audit.filter.action": ("操作", "Action"),
    "audit.filter.any": ("全部", "Any"),
    "audit.filter.actor": ("操作人", "Actor"),
    "audit.filter.target_type": ("对象类型", "Target type"),
    "audit.filter.target_id": ("对象 ID", "Target id"),
    "audit.filter.since": ("开始日期", "From"),
    "audit.filter.until": ("结束日期", "To"),
    "audit.search": ("查询", "Search"),
    "audit.export": ("导出 CSV", "Export CSV"),
    "audit.empty": ("没有符合条件的记录。", "No entries match."),
    "audit.older": ("更早的记录", "Older entries"),
    "audit.col.time": ("时间", "Time"),
    "audit.col.actor": ("操作人", "Actor"),
    "audit.col.action": ("操作", "Action"),
    "audit.col.target": ("对象", "Target"),
    "audit.col.detail": ("详情", "Detail"),
    "audit.col.request": ("请求", "Request"),
    "audit.action.member.viewed": ("查看会员资料", "Viewed a profile"),
    "audit.action.member.phone_searched": ("按手机号搜索", "Searched by phone"),
    "audit.action.member.exported": ("导出会员数据", "Exported member data"),
    "audit.action.member.erased": ("删除会员个人数据", "Erased member data"),
    "audit.action.member.merged": ("合并会员", "Merged members"),
    "audit.action.member.merge_undone": ("撤销合并", "Undid a merge"),
    "audit.action.member.assigned": ("分配负责销售", "Assigned a sales rep"),
    "audit.action.conflict.dismissed": ("忽略待审合并", "Dismissed a review item"),
    "audit.action.app.added": ("登记应用（含密钥）", "Registered an app (credentials)"),
    "audit.action.operator.created": ("新增操作员", "Added an operator"),
    "audit.action.operator.role_changed": ("修改角色", "Changed a role"),
    "audit.action.operator.disabled": ("停用操作员", "Disabled an operator"),
    "audit.action.operator.enabled": ("启用操作员", "Enabled an operator"),
    "audit.action.operator.signed_in": ("登录", "Signed in"),
    "audit.action.token.created": ("创建 API 令牌", "Created an API token"),
    "audit.action.audit.exported": ("导出审计日志", "Exported the audit log"),
    "audit.action.security.denied": ("越权访问被拒绝", "Denied access"),
    "audit.action.keys.rotation_started": ("开始密钥轮换", "Started a key rotation"),
    "audit.action.keys.rotation_finished": ("完成密钥轮换", "Finished a key rotation"),
}
