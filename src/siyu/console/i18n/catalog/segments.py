"""Segments (人群): the list, the builder with its live count, a segment's page, tag groups."""

from __future__ import annotations

from siyu.console.i18n.plural import Message

MESSAGES: dict[str, Message] = {
    "nav.segments": ("人群", "Segments"),
    "segments.title": ("人群", "Segments"),
    "segments.intro": (
        "按属性、标签、行为、活动和触达状态圈选会员；动态人群随会员的行为自动进出，"
        "进出记录在会员时间线上，可以作为通知的对象。",
        "Pick members by attributes, tags, behaviour, activities and reach state; dynamic "
        "segments follow what members do, entries and exits go on their timelines, and a "
        "segment can be a notice's audience.",
    ),
    "segments.list": ("全部人群", "All segments"),
    "segments.none": ("还没有人群。", "No segment yet."),
    "segments.new": ("新建人群", "New segment"),
    "segments.save": ("保存人群", "Save segment"),
    "segments.delete": ("删除", "Delete"),
    "segments.delete_confirm": ("确定删除这个人群？", "Delete this segment?"),
    "segments.conditions": ("条件", "Conditions"),
    "segments.live_count": ("当前符合条件的会员", "Members matching now"),
    "segments.first_members": ("前几位学号", "First member numbers"),
    "segments.definition": ("条件定义（JSON）", "Definition (JSON)"),
    "segments.advanced": ("高级：用 JSON 写条件", "Advanced: conditions as JSON"),
    "segments.advanced_hint": (
        "填写后以这里的 JSON 为准，上面的字段不再生效；格式见 README 的“Segments (人群)”一节。",
        "When filled, this JSON is used instead of the fields above; the format is in the "
        "README's “Segments (人群)” section.",
    ),
    "segments.any_state": ("不限", "Any"),
    "segments.follows_any": ("关注任一公众号", "Follows any OA"),
    "segments.phone.yes": ("已绑定手机号", "Phone bound"),
    "segments.phone.no": ("未绑定手机号", "No phone"),
    "segments.never": ("尚未刷新", "Not yet refreshed"),
    "segments.refresh": ("立即刷新", "Refresh now"),
    "segments.refreshed": (
        "已刷新：新进入 {entered} 人，离开 {left} 人，现有 {count} 人。",
        "Refreshed: {entered} entered, {left} left, {count} now.",
    ),
    "segments.export": ("导出 CSV", "Export CSV"),
    "segments.members": ("成员", "Members"),
    "segments.no_members": ("这个人群现在没有成员。", "No member now."),
    "segments.col.count": ("人数", "Members"),
    "segments.col.refreshed": ("最近刷新", "Last refreshed"),
    "segments.col.entered": ("进入时间", "Entered"),
    "segments.kind.dynamic": ("动态人群", "Dynamic"),
    "segments.kind.static": ("静态快照", "Static snapshot"),
    "segments.match.any": ("含任一标签", "Has any"),
    "segments.match.all": ("含全部标签", "Has all"),
    "segments.match.none": ("不含这些标签", "Has none"),
    "segments.combine.and": ("同时满足全部条件", "All conditions"),
    "segments.combine.or": ("满足任一条件", "Any condition"),
    "segments.field.name": ("名称", "Name"),
    "segments.field.kind": ("类型", "Kind"),
    "segments.field.description": ("说明", "Description"),
    "segments.field.rule_tag": ("规则标签", "Rule tag"),
    "segments.field.rule_tag_hint": (
        "可选：会员进入人群时自动打上、离开时自动去掉的标签。",
        "Optional: a tag members get on entering and lose on leaving.",
    ),
    "segments.field.combine": ("组合方式", "Combine"),
    "segments.field.tags": ("标签", "Tags"),
    "segments.field.tags_hint": ("多个标签用逗号分隔", "Tags separated by commas"),
    "segments.field.tag_match": ("标签匹配", "Tag match"),
    "segments.field.event": ("做过的行为", "Did an event"),
    "segments.field.min_count": ("至少次数", "At least (times)"),
    "segments.field.within_days": ("最近天数", "Within the last (days)"),
    "segments.field.follows": ("关注公众号", "Follows an OA"),
    "segments.field.joined_days": ("加入不超过（天）", "Joined within (days)"),
    "segments.field.joined_hint": ("0 表示不限", "0: any"),
    "segments.field.phone": ("手机号", "Phone"),
    "segments.field.json": ("JSON 定义", "JSON definition"),
    "segments.notice": ("发通知给这个人群", "Send a notice to this segment"),
    "segments.notice_intro": (
        "按人群当前成员发送，遵守通知的偏好、免打扰时段、频次上限和配额；"
        "选择模板发送模板/订阅通知，不选模板则发公众号群发文本。",
        "Sent to the segment's current members under reach's preferences, quiet hours, caps "
        "and quotas; pick a template for a template or subscribe notice, or none for an OA "
        "mass text.",
    ),
    "segments.notice.name": ("通知名称", "Notice name"),
    "segments.notice.template": ("模板", "Template"),
    "segments.notice.mass_instead": ("不用模板（公众号群发文本）", "No template (OA mass text)"),
    "segments.notice.slots": (
        "模板字段（每行 字段=内容）",
        "Template slots (one name=value a line)",
    ),
    "segments.notice.mass_app": ("群发的公众号", "OA for the mass text"),
    "segments.notice.mass_text": ("群发文本", "Mass text"),
    "segments.notice.send": ("发送", "Send"),
    "segments.tag_groups": ("标签组", "Tag groups"),
    "segments.tag_groups_intro": (
        "把标签按用途分组（如“兴趣”“身份”），每个标签后是带有它的会员数。",
        "Tags grouped by purpose (interests, roles); each tag shows how many members have it.",
    ),
    "segments.tag_group.none": ("还没有标签组。", "No tag group yet."),
    "segments.tag_group.name": ("组名", "Group name"),
    "segments.tag_group.tags": ("标签", "Tags"),
    "segments.tag_group.save": ("保存标签组", "Save tag group"),
}
