"""The channel chart of the console: the top channels as horizontal bars, the rest as one bar."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from siyu.console.i18n import Translator
from siyu.entries.schemas import ChannelReportRow

# Past about a dozen bars the names no longer fit a panel's height; the table keeps every row.
TOP_CHANNELS = 12
BAR_HEIGHT_PX = 30
CHART_MIN_PX = 220


def _weight(row: ChannelReportRow) -> tuple[int, int, int]:
    return (row.new_followers, row.scans, row.conversions)


def channel_chart(
    tr: Translator, rows: Sequence[ChannelReportRow], top: int = TOP_CHANNELS
) -> dict[str, Any]:
    """Names and series of the channels with the most new followers (then scans, conversions);
    past `top`, the others are summed into one bar named 其他 (N 个渠道)."""
    ranked = sorted(rows, key=_weight, reverse=True)
    shown, rest = ranked[:top], ranked[top:]
    if len(rest) == 1:  # one bar for one channel: show it by its name
        shown, rest = ranked, []
    names = [r.name for r in shown]
    scans = [r.scans for r in shown]
    followers = [r.new_followers for r in shown]
    conversions = [r.conversions for r in shown]
    if rest:
        names.append(tr("channels.chart_others", n=len(rest)))
        scans.append(sum(r.scans for r in rest))
        followers.append(sum(r.new_followers for r in rest))
        conversions.append(sum(r.conversions for r in rest))
    return {
        "names": names,
        "others": len(rest),
        "height": max(CHART_MIN_PX, 60 + BAR_HEIGHT_PX * len(names)),
        "series": [
            {"name": tr("channels.col.scans"), "data": scans},
            {"name": tr("channels.col.new_followers"), "data": followers},
            {"name": tr("channels.col.conversions"), "data": conversions},
        ],
    }
