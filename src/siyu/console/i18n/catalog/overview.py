"""The overview page."""

from __future__ import annotations

from siyu.console.i18n.plural import Message

MESSAGES: dict[str, Message] = {
    "overview.title": ("概览", "Overview"),
    "overview.members": ("会员总数", "Members"),
    "overview.new_today": ("今日新增会员", "New today"),
    "overview.events_today": ("今日事件", "Events today"),
    "overview.open_conflicts": ("待审合并", "Open reviews"),
    "overview.chart_title": ("近 30 天趋势", "Last 30 days"),
    "overview.series.members": ("新增会员", "New members"),
    "overview.series.events": ("事件数", "Events"),
    "overview.review_link": ("去处理", "Review"),
    "overview.timezone": ("按 {tz} 时区统计", "Days counted in {tz}"),
    "overview.export_deidentified": (
        "导出去标识化会员数据（CSV）",
        "Export de-identified members (CSV)",
    ),
    "overview.backlog.title": ("后台任务积压", "Background work"),
    "overview.backlog.push_waiting": ("待处理推送", "Pushes waiting"),
    "overview.backlog.push_oldest": ("最早一条已等待", "Oldest waiting"),
    "overview.backlog.notice_waiting": ("待发送通知", "Notices queued"),
    "overview.backlog.queue": ("任务队列（主 / 微信接口）", "Job queue (main / WeChat calls)"),
    "overview.backlog.seconds": ("{n} 秒", "{n} s"),
    "overview.backlog.none": ("无", "none"),
    "overview.backlog.pushes": ("处理推送", "Pushes processed"),
    "overview.backlog.notices": ("发送通知", "Notices sent"),
    "overview.backlog.refunds": ("退款", "Refunds"),
    "overview.backlog.per_minute": (
        "近 {minutes} 分钟每分钟处理量",
        "Per minute over the last {minutes} minutes",
    ),
    "overview.backlog.warning": (
        "推送积压：最早的一条已等待 {minutes} 分钟，请检查任务进程（siyu worker）是否在运行。",
        "Push backlog: the oldest push has waited {minutes} minutes. "
        "Check that the workers (siyu worker) are running.",
    ),
    "overview.backlog.set_aside_link": ("查看搁置的任务", "Work set aside"),
    "set_aside.title": ("搁置的任务", "Work set aside"),
    "set_aside.intro": (
        "多次重试仍失败的推送和未取得的 UnionID。修复原因后可重新排队。",
        "Pushes that failed all their tries, and UnionIDs WeChat did not give. "
        "Fix the cause, then queue them again.",
    ),
    "set_aside.pushes": ("搁置的推送（共 {n} 条）", "Pushes set aside ({n})"),
    "set_aside.unionids": ("未取得的 UnionID", "UnionIDs not fetched"),
    "set_aside.col.id": ("编号", "Id"),
    "set_aside.col.app": ("应用", "App"),
    "set_aside.col.type": ("类型", "Type"),
    "set_aside.col.received": ("收到时间", "Received"),
    "set_aside.col.failed": ("失败时间", "Failed"),
    "set_aside.col.error": ("错误", "Error"),
    "set_aside.col.attempts": ("尝试次数", "Attempts"),
    "set_aside.col.next": ("下次重试", "Next attempt"),
    "set_aside.given_up": ("已放弃", "given up"),
    "set_aside.retry": ("重新排队", "Queue again"),
    "set_aside.retry_selected": ("重新排队所选推送", "Queue the selected pushes again"),
    "set_aside.empty": ("没有搁置的任务。", "Nothing set aside."),
}
