"""The reports the store answers: the operations index, funnels and retention. Each checks its
input, renders its queries (queries.py) for the store's dialect and shapes the rows; the
analyst role sees aggregates only, cells of fewer than 5 members blanked."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from siyu.analytics import errors, queries
from siyu.analytics.schemas import (
    MAX_SPAN_DAYS,
    MAX_STEPS,
    MAX_WINDOW_DAYS,
    FunnelGroup,
    FunnelQuery,
    FunnelReport,
    FunnelStepResult,
    HeatCell,
    IndexDay,
    IndexReport,
    MetricDefinition,
    PeriodBucket,
    Ratio,
    RetentionCohort,
    RetentionQuery,
    RetentionReport,
)
from siyu.analytics.store import Store
from siyu.core.clock import BEIJING
from siyu.identity.schemas import CANONICAL_EVENTS
from siyu.security.enums import Role
from siyu.security.schemas import Principal

SUPPRESS_BELOW = 5
DROPPED_LIMIT = 1000
PERIOD_BUCKETS = ("当天", "1–6 天", "7–29 天", "30–89 天", "90 天以上")

DEFINITIONS: tuple[tuple[str, str, str], ...] = (
    ("new", "新增会员", "当天（北京时间）第一次出现任何事件的会员数。"),
    ("dau", "日活 DAU", "当天有任何事件的会员数；公众号/小程序/两者按事件所属应用区分。"),
    ("wau", "周活 WAU", "截至当天的 7 天内有事件的会员数。"),
    ("mau", "月活 MAU", "截至当天的 30 天内有事件的会员数。"),
    ("dau_mau", "DAU/MAU", "日活 ÷ 月活，衡量粘性。"),
    ("dwell", "人均停留（秒）", "当天 mp.page_view 的 duration_s 之和 ÷ 当天小程序活跃会员数。"),
    ("menu", "人均菜单点击", "当天 oa.menu_click 次数 ÷ 当天公众号活跃会员数。"),
    ("article", "文章打开", "当天来自文章（props.from = article）的 mp.page_view 次数。"),
    ("hours", "活跃时段", "按北京时间的星期 × 小时统计事件数。"),
    ("period", "活跃周期", "区间内每个会员第一次到最后一次事件相隔的天数分布。"),
    (
        "mp_to_oa",
        "小程序 → 公众号关注转化",
        "区间内在小程序活跃、之后关注了公众号的会员 ÷ 区间内小程序活跃会员。",
    ),
    (
        "repurchase",
        "30 天复购率",
        "区间内首次支付后 30 天内再次支付的会员 ÷ 区间内支付过的会员。",
    ),
    (
        "mp_retention",
        "小程序来源粉丝 30 天留存",
        "先在小程序活跃再关注公众号、且关注已满 30 天的会员中，30 天内未取消关注的比例。",
    ),
)


def _utc(day: date) -> datetime:
    """The start of a Beijing day, as the store's naive UTC."""
    return datetime.combine(day, time(), BEIJING).astimezone(UTC).replace(tzinfo=None)


EARLIEST, LATEST = date(2000, 1, 1), date(2099, 12, 31)


def _check_range(start: date, end: date) -> None:
    if not (EARLIEST <= start <= LATEST and EARLIEST <= end <= LATEST):
        raise errors.BAD_RANGE(f"dates must fall between {EARLIEST} and {LATEST}")
    if start > end:
        raise errors.BAD_RANGE(f"start {start} is after end {end}")
    if (end - start).days + 1 > MAX_SPAN_DAYS:
        raise errors.SPAN_TOO_LONG(
            f"the range may span at most {MAX_SPAN_DAYS} days", days=MAX_SPAN_DAYS
        )


def _check_event(event: str) -> None:
    if event not in CANONICAL_EVENTS:
        raise errors.UNKNOWN_EVENT(f"no such event: {event}", event=event)


def _run(store: Store, template: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    return store.read(queries.render(template, params, store.dialect))


def _aggregates_only(actor: Principal | None) -> bool:
    return actor is not None and actor.role == Role.analyst


def _cell(value: int | None, hide: bool) -> int | None:
    if value is None:
        return None
    return None if hide and 0 < value < SUPPRESS_BELOW else int(value)


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _carried(start: date, end: date, marks: dict[date, int]) -> dict[date, int]:
    """The running count on each day of start..end: the value of the last change on or
    before it (the query gives a row only for the days it changed)."""
    ordered = sorted(marks.items())
    values: dict[date, int] = {}
    current, i = 0, 0
    day = start
    while day <= end:
        while i < len(ordered) and ordered[i][0] <= day:
            current = ordered[i][1]
            i += 1
        values[day] = current
        day += timedelta(days=1)
    return values


def _ratio(num: int, den: int, hide: bool) -> Ratio:
    n, d = _cell(num, hide), _cell(den, hide)
    rate = round(num / den, 4) if den and n is not None and d is not None else None
    return Ratio(numerator=n, denominator=d, rate=rate)


def operations_index(
    store: Store, workspace_id: int, start: date, end: date, actor: Principal | None = None
) -> IndexReport:
    """The 运营指数 for the Beijing days start..end."""
    _check_range(start, end)
    hide = _aggregates_only(actor)
    t0, t1 = _utc(start), _utc(end + timedelta(days=1))
    params: dict[str, Any] = {
        "ws": workspace_id,
        "t0": t0,
        "t1": t1,
        "t_mature": t1 - timedelta(days=30),
    }
    rolling_params = {
        span: {**params, "span": span, "t_lookback": t0 - timedelta(days=span)} for span in (7, 30)
    }
    templates = [
        (queries.ROLLING_ACTIVE, rolling_params[7]),
        (queries.ROLLING_ACTIVE, rolling_params[30]),
        (queries.INDEX_DAYS, params),
        (queries.ACTIVE_HOURS, params),
        (queries.ACTIVE_PERIODS, params),
        (queries.MONITORING, params),
    ]
    wau_rows, mau_rows, day_rows, hour_rows, period_rows, monitoring = store.read_many(
        [queries.render(t, p, store.dialect) for t, p in templates]
    )
    rolling = {
        7: _carried(start, end, {_day(d): int(n) for d, n in wau_rows}),
        30: _carried(start, end, {_day(d): int(n) for d, n in mau_rows}),
    }
    days: list[IndexDay] = []
    found = {_day(r[0]): r for r in day_rows}
    day = start
    while day <= end:
        r = found.get(day)
        new, dau, oa, mp, both, dwell, menu, article = (
            (int(r[1]), int(r[2]), int(r[3]), int(r[4]), int(r[5]), r[6], int(r[7]), int(r[8]))
            if r
            else (0, 0, 0, 0, 0, 0.0, 0, 0)
        )
        wau, mau = rolling[7].get(day, 0), rolling[30].get(day, 0)
        days.append(
            IndexDay(
                date=day,
                new=_cell(new, hide),
                dau=_cell(dau, hide),
                dau_oa=_cell(oa, hide),
                dau_mp=_cell(mp, hide),
                dau_both=_cell(both, hide),
                wau=_cell(wau, hide),
                mau=_cell(mau, hide),
                dau_mau=round(dau / mau, 4) if mau else None,
                dwell_s_per_mp_visitor=round(float(dwell or 0) / mp, 2) if mp else None,
                menu_clicks_per_oa_active=round(menu / oa, 4) if oa else None,
                article_opens=_cell(article, hide),
            )
        )
        day += timedelta(days=1)
    heat = [
        HeatCell(weekday=int(w), hour=int(h), events=_cell(int(n), hide)) for w, h, n in hour_rows
    ]
    buckets = {int(b): int(n) for b, n in period_rows}
    periods = [
        PeriodBucket(bucket=label, members=_cell(buckets.get(i, 0), hide))
        for i, label in enumerate(PERIOD_BUCKETS)
    ]
    m = [int(x or 0) for x in monitoring[0]]
    return IndexReport(
        start=start,
        end=end,
        days=days,
        active_hours=heat,
        active_periods=periods,
        mp_to_oa_follow=_ratio(m[1], m[0], hide),
        repurchase_30d=_ratio(m[3], m[2], hide),
        mp_follower_retention_30d=_ratio(m[5], m[4], hide),
        suppressed_below=SUPPRESS_BELOW if hide else None,
        definitions=[MetricDefinition(key=k, label=lbl, how=how) for k, lbl, how in DEFINITIONS],
    )


def funnel(
    store: Store, workspace_id: int, query: FunnelQuery, actor: Principal | None = None
) -> FunnelReport:
    """Members at each step of the funnel, by breakdown group, with the mean time from the step
    before, and (for staff who may see members) who dropped at a step."""
    _check_range(query.start, query.end)
    if not 2 <= len(query.steps) <= MAX_STEPS:
        raise errors.TOO_MANY_STEPS(
            f"a funnel has 2 to {MAX_STEPS} steps, not {len(query.steps)}", limit=MAX_STEPS
        )
    if not 60 <= query.window_s <= MAX_WINDOW_DAYS * 86400:
        raise errors.WINDOW_OUT_OF_RANGE(
            f"the window must be between 60 s and {MAX_WINDOW_DAYS} days",
            days=MAX_WINDOW_DAYS,
        )
    for step in query.steps:
        _check_event(step.event)
    hide = _aggregates_only(actor)
    if query.dropped_at is not None:
        if hide:
            raise errors.MEMBERS_HIDDEN("the analyst role sees aggregates only")
        if not 2 <= query.dropped_at <= len(query.steps):
            raise errors.BAD_STEP(
                f"members drop at steps 2..{len(query.steps)}", step=query.dropped_at
            )
    steps = [(s.event, dict(s.filters)) for s in query.steps]
    ordered = query.order == "ordered"
    breakdown = None if query.breakdown == "none" else query.breakdown
    params = queries.funnel_params(
        workspace_id, steps, _utc(query.start), _utc(query.end + timedelta(days=1)), query.window_s
    )
    per_member = queries.funnel_sql(steps, ordered=ordered, breakdown=breakdown)
    rows = _run(store, queries.funnel_summary_sql(len(steps), per_member, ordered=ordered), params)
    totals = [0] * len(steps)
    weighted = [0.0] * len(steps)
    groups: list[FunnelGroup] = []
    for row in rows:
        reached = [int(row[1])] + [int(row[2 * i]) for i in range(1, len(steps))]
        means = [None] + [row[2 * i + 1] for i in range(1, len(steps))]
        for i, n in enumerate(reached):
            totals[i] += n
            weighted[i] += float(means[i] or 0) * n
        groups.append(
            FunnelGroup(group=str(row[0]), steps=_step_results(steps, reached, means, hide))
        )
    overall = [None] + [
        weighted[i] / totals[i] if totals[i] else None for i in range(1, len(steps))
    ]
    dropped = None
    if query.dropped_at is not None:
        sql = queries.funnel_dropped_sql(
            query.dropped_at - 1, per_member, ordered=ordered, limit=DROPPED_LIMIT
        )
        dropped = [int(r[0]) for r in _run(store, sql, params)]
    return FunnelReport(
        steps=_step_results(steps, totals, overall, hide),
        groups=groups if breakdown else [],
        dropped_member_ids=dropped,
        suppressed_below=SUPPRESS_BELOW if hide else None,
    )


def _step_results(
    steps: list[tuple[str, dict[str, str]]],
    reached: list[int],
    means: list[Any],
    hide: bool,
) -> list[FunnelStepResult]:
    first = reached[0] if reached else 0
    return [
        FunnelStepResult(
            event=event,
            members=_cell(reached[i], hide),
            conversion=round(reached[i] / first, 4) if first else None,
            avg_seconds_from_previous=round(float(means[i]), 1) if means[i] is not None else None,
        )
        for i, (event, _) in enumerate(steps)
    ]


def retention(
    store: Store, workspace_id: int, query: RetentionQuery, actor: Principal | None = None
) -> RetentionReport:
    """Cohorts by their first `cohort_event` in the range (or their arrival channel), and how
    many did `return_event` in each period after."""
    _check_range(query.start, query.end)
    _check_event(query.cohort_event)
    _check_event(query.return_event)
    hide = _aggregates_only(actor)
    params = {
        "ws": workspace_id,
        "t0": _utc(query.start),
        "t1": _utc(query.end + timedelta(days=1)),
        "cohort_event": query.cohort_event,
        "return_event": query.return_event,
        "periods": query.periods,
        # no return counts past the grid: the last cohort's last period ends before this
        "t_grid_end": _utc(query.end + timedelta(days=1))
        + timedelta(days={"day": 1, "week": 7, "month": 31}[query.period] * (query.periods + 1)),
    }
    sql = queries.retention_sql(query.period, query.cohort_by == "channel")
    cohorts: dict[str, tuple[int, list[int]]] = {}
    for key, size, offset, n in _run(store, sql, params):
        label = str(key)[:10] if query.cohort_by == "start" else str(key)
        entry = cohorts.setdefault(label, (int(size), [0] * query.periods))
        if offset is not None and n is not None:
            entry[1][int(offset)] = int(n)
    return RetentionReport(
        period=query.period,
        cohorts=[
            RetentionCohort(
                start=label, size=_cell(size, hide), returned=[_cell(n, hide) for n in returned]
            )
            for label, (size, returned) in sorted(cohorts.items())
        ],
        suppressed_below=SUPPRESS_BELOW if hide else None,
    )
