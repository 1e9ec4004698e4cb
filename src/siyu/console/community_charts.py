"""ECharts options of the community pages: an activity's daily check-ins, its review (复盘)
and a series' activities side by side. Labels come from the page's translator."""

from __future__ import annotations

from typing import Any

from siyu.community.schemas import ActivityRead, SeriesReview
from siyu.console.i18n import Translator


def rate_chart(tr: Translator, activity: ActivityRead, rates: list[Any]) -> dict[str, Any]:
    """ECharts option: members who checked in each day, and the rate (percent)."""
    return {
        "option": {
            "color": ["#07a35a", "#3370ff"],
            "tooltip": {"trigger": "axis"},
            "legend": {
                "top": 0,
                "data": [tr("community.chart.members"), tr("community.chart.rate")],
            },
            "grid": {"left": 48, "right": 56, "top": 48, "bottom": 28},
            "xAxis": {"type": "category", "data": [r.day.isoformat()[5:] for r in rates]},
            "yAxis": [
                {"type": "value", "name": tr("community.chart.members"), "minInterval": 1},
                {
                    "type": "value",
                    "name": "%",
                    "max": 100,
                    "splitLine": {"show": False},
                },
            ],
            "series": [
                {
                    "name": tr("community.chart.members"),
                    "type": "bar",
                    "barMaxWidth": 18,
                    "data": [r.members for r in rates],
                },
                {
                    "name": tr("community.chart.rate"),
                    "type": "line",
                    "yAxisIndex": 1,
                    "smooth": True,
                    "data": [round(r.rate * 100, 1) for r in rates],
                },
            ],
        }
    }


def review_charts(tr: Translator, found: Any, activity: ActivityRead) -> dict[str, Any]:
    channels = [
        {"name": tr.label("community.channel", name), "value": n}
        for name, n in found.by_channel.items()
    ]
    charts: dict[str, Any] = {
        "rate": rate_chart(tr, activity, found.checkin_rate_by_day),
        "channels": {
            "option": {
                "tooltip": {"trigger": "item"},
                "legend": {"bottom": 0},
                "series": [
                    {
                        "type": "pie",
                        "radius": ["35%", "65%"],
                        "data": channels,
                        "label": {"formatter": "{b}: {c}"},
                    }
                ],
            }
        },
        "retention": None,
    }
    kept = found.retention
    if kept is not None:
        names = [
            tr("community.review.previous_members"),
            tr("community.review.re_enrolled"),
            tr("community.review.stayed"),
            tr("community.review.lost"),
        ]
        charts["retention"] = {
            "option": {
                "color": ["#3370ff"],
                "tooltip": {"trigger": "axis"},
                "grid": {"left": 48, "right": 24, "top": 24, "bottom": 28},
                "xAxis": {"type": "category", "data": names},
                "yAxis": {"type": "value", "minInterval": 1},
                "series": [
                    {
                        "type": "bar",
                        "barMaxWidth": 40,
                        "data": [
                            kept.previous_members,
                            {"value": kept.re_enrolled, "itemStyle": {"color": "#07a35a"}},
                            {"value": kept.stayed, "itemStyle": {"color": "#f0a020"}},
                            {"value": kept.lost, "itemStyle": {"color": "#d54941"}},
                        ],
                        "label": {"show": True, "position": "top"},
                    }
                ],
            }
        }
    return charts


def series_chart(tr: Translator, found: SeriesReview) -> dict[str, Any]:
    """Activity after activity: enrollments (bars, people), completion and re-enrollment rates
    (lines, percent)."""
    codes = [a.code for a in found.activities]
    rates = [
        round(a.retention.re_enrollment_rate * 100, 1) if a.retention else None
        for a in found.activities
    ]
    return {
        "option": {
            "color": ["#3370ff", "#07a35a", "#f0a020"],
            "tooltip": {"trigger": "axis"},
            "legend": {"top": 0},
            "grid": {"left": 48, "right": 48, "top": 36, "bottom": 28},
            "xAxis": {"type": "category", "data": codes},
            "yAxis": [
                {"type": "value", "minInterval": 1, "name": tr("community.review.enrollments")},
                {"type": "value", "min": 0, "max": 100, "axisLabel": {"formatter": "{value}%"}},
            ],
            "series": [
                {
                    "name": tr("community.review.enrollments"),
                    "type": "bar",
                    "barMaxWidth": 32,
                    "data": [a.enrollments for a in found.activities],
                },
                {  # a rate, on the percent axis beside the re-enrollment rate
                    "name": tr("community.review.completion"),
                    "type": "line",
                    "yAxisIndex": 1,
                    "data": [round(a.completion_rate * 100, 1) for a in found.activities],
                },
                {
                    "name": tr("community.series.re_enrollment"),
                    "type": "line",
                    "yAxisIndex": 1,
                    "connectNulls": True,
                    "data": rates,
                },
            ],
        }
    }
