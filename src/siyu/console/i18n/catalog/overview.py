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
}
