"""Members: the list, the profile, privacy (consents, erasure, export), merges and identity
refusals."""

from __future__ import annotations

from siyu.console.i18n.plural import Message

MESSAGES: dict[str, Message] = {
    "member.identifier_hidden": ("你的角色不可见此标识", "hidden for your role"),
    "member.erased_at": ("个人数据已于 {time} 删除", "personal data erased {time}"),
    "member.erased_done": (
        "已删除会员 {number} 的个人数据；统计数字保持不变。",
        "Member {number}'s personal data was erased; the figures stay the same.",
    ),
    "member.consents": ("授权记录", "Consents"),
    "member.no_consents": ("没有授权记录。", "No consent recorded."),
    "member.consent.col.purpose": ("用途", "Purpose"),
    "member.consent.col.entry": ("来源", "Entry"),
    "member.consent.col.granted": ("授权时间", "Granted"),
    "member.consent.col.withdrawn": ("撤回时间", "Withdrawn"),
    "consent.purpose.phone": ("使用手机号", "Use of the phone number"),
    "consent.purpose.subscription": ("订阅消息", "Subscription messages"),
    "consent.purpose.marketing": ("营销推送", "Marketing"),
    "member.assignee": ("负责销售", "Sales rep"),
    "member.unassigned": ("未分配", "Unassigned"),
    "member.assign": ("保存", "Save"),
    "member.assigned_done": ("已更新负责人。", "The sales rep was updated."),
    "member.privacy": ("个人信息", "Personal data"),
    "member.export": ("导出该会员的数据（JSON）", "Export this member's data (JSON)"),
    "member.export_hint": (
        "用于响应会员本人的查阅请求；导出会记入审计日志。",
        "For the member's own access request; the export is audited.",
    ),
    "member.erase": ("删除个人数据", "Erase personal data"),
    "member.erase_hint": (
        (
            "删除或匿名化该会员（及并入他的会员）在所有表中的个人信息：身份、手机号、会话、消息。"
            "会员数、事件数和金额保留。此操作不可撤销。"
        ),
        (
            "Deletes or anonymizes this member's (and merged members') personal data in every "
            "table: identities, phone, sessions, messages. Member and event counts and amounts "
            "stay. This cannot be undone."
        ),
    ),
    "member.erase_type_number": (
        "输入学号 {number} 以确认",
        "Type the member number {number} to confirm",
    ),
    "member.erase_confirm": (
        "确定删除这位会员的个人数据吗？此操作不可撤销。",
        "Erase this member's personal data? This cannot be undone.",
    ),
    "members.title": ("会员", "Members"),
    "members.search_label": ("搜索会员", "Search members"),
    "members.search_placeholder": (
        "输入学号、手机号、名字、备注中的词、OpenID 或 UnionID",
        "Member number, phone, name, words of a remark, OpenID or UnionID",
    ),
    "members.search_submit": ("搜索", "Search"),
    "members.search_hint": (
        "学号（会员编号）、手机号、OpenID 或 UnionID 精确匹配；名字与备注按其中的词查找。",
        "Exact match on member number, phone, OpenID or UnionID; names and remarks by the "
        "words in them.",
    ),
    "members.col.number": ("学号", "Number"),
    "members.col.identities": ("身份", "Identities"),
    "members.col.created": ("创建时间", "Created"),
    "members.empty": ("没有找到会员。", "No members found."),
    "members.empty_query": ("没有与“{q}”匹配的会员。", "No member matches “{q}”."),
    "members.count": ("共 {n} 位", "{n} shown"),
    "members.next_page": ("下一页", "Next page"),
    "members.prev_page": ("上一页", "Previous page"),
    "member.title": ("会员 {number}", "Member {number}"),
    "member.number": ("学号", "Number"),
    "member.status": ("状态", "Status"),
    "member.first_seen": ("首次出现", "First seen"),
    "member.profile": ("名字与备注", "Name and remark"),
    "member.display_name": ("名字", "Name"),
    "member.display_name_hint": ("团队怎么称呼 TA，如 王同学", "What the team calls them"),
    "member.remark": ("备注", "Remark"),
    "member.profile_save": ("保存", "Save"),
    "member.profile_hint": (
        "加密保存，可按名字或备注中的词搜索；修改会记入审计日志。",
        "Encrypted at rest; found by search; changes are audited.",
    ),
    "member.profile_saved": ("名字与备注已保存。", "Name and remark saved."),
    "members.col.name": ("名字 / 备注", "Name / remark"),
    "member.created": ("创建时间", "Created"),
    "member.merged_into": ("已合并到会员 {number}", "Merged into member {number}"),
    "member.status.active": ("正常", "Active"),
    "member.status.merged": ("已合并", "Merged"),
    "member.identities": ("身份", "Identities"),
    "member.no_identities": ("这位会员没有身份记录。", "This member has no identities."),
    "member.col.kind": ("类型", "Kind"),
    "member.col.app": ("应用", "App"),
    "member.col.value": ("值", "Value"),
    "member.col.since": ("关联时间", "Linked"),
    "member.phone_hidden": (
        "完整号码仅所有者与管理员可见",
        "Full numbers are visible to owners and admins",
    ),
    "member.merges": ("合并记录", "Merges"),
    "member.no_merges": ("没有合并记录。", "No merges."),
    "member.merge.col.time": ("时间", "Time"),
    "member.merge.col.what": ("合并", "Merge"),
    "member.merge.col.reason": ("原因", "Reason"),
    "member.merge.col.actor": ("操作人", "By"),
    "member.merge.col.action": ("操作", "Action"),
    "member.merge.into": ("{merged} 并入 {survivor}", "{merged} into {survivor}"),
    "member.merge.undo": ("撤销合并", "Undo merge"),
    "member.merge.undo_confirm": (
        "确定撤销这次合并吗？两位会员会重新分开。",
        "Undo this merge? The two members will be separated again.",
    ),
    "member.merge.undone": ("已于 {time} 撤销", "Undone at {time}"),
    "member.merge.undo_done": (
        "已撤销合并：会员 {merged} 已恢复为独立会员。",
        "Merge undone: member {merged} stands on its own again.",
    ),
    "member.timeline": ("时间线", "Timeline"),
    "member.timeline_empty": ("还没有事件。", "No events yet."),
    "member.timeline.col.time": ("时间", "Time"),
    "member.timeline.col.event": ("事件", "Event"),
    "member.timeline.col.app": ("应用", "App"),
    "member.timeline.col.channel": ("渠道", "Channel"),
    "member.timeline.col.props": ("内容", "What"),
    "member.timeline.more": ("加载更多", "Load more"),
    "merge.reason.unionid": ("UnionID 相同", "Same UnionID"),
    "merge.reason.phone": ("手机号相同", "Same phone"),
    "merge.reason.manual": ("人工合并", "Manual"),
    "kind.unionid": ("UnionID", "UnionID"),
    "kind.openid": ("OpenID", "OpenID"),
    "kind.phone": ("手机号", "Phone"),
    "kind.external": ("外部 ID", "External ID"),
    "member.tags": ("标签", "Tags"),
    "member.no_tags": ("还没有标签", "No tags yet"),
    "member.tag_add": ("添加标签", "Add tag"),
    "member.tag_placeholder": ("如：黑名单、21天打卡", "e.g. blacklist, 21-day challenge"),
    "member.untag": ("去掉标签 {tag}", "Remove tag {tag}"),
}
