"""Every query the store answers, built in this one place: written once in DuckDB's dialect with
named placeholders (`:name`), the values bound as typed literals in sqlglot's syntax tree
(never spliced into text), and the tree transpiled to the store's dialect (DuckDB or
ClickHouse). Times in the store are UTC; a Beijing day is `CAST(ts + INTERVAL 8 HOUR AS DATE)`
(China keeps no daylight saving time, so the offset is exact).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, cast

import sqlglot
from sqlglot import exp

BEIJING_DAY = "CAST(ts + INTERVAL 8 HOUR AS DATE)"


def _literal(value: Any) -> exp.Expression:
    if isinstance(value, datetime):
        return cast(
            exp.Expression,
            exp.cast(exp.Literal.string(value.strftime("%Y-%m-%d %H:%M:%S")), "TIMESTAMP"),
        )
    if isinstance(value, date):
        return cast(exp.Expression, exp.cast(exp.Literal.string(value.isoformat()), "DATE"))
    if isinstance(value, list | tuple):
        return exp.Tuple(expressions=[_literal(v) for v in value])
    return cast(exp.Expression, exp.convert(value))


def _clickhouse(node: exp.Expression) -> exp.Expression:
    """The few spellings sqlglot does not carry over to ClickHouse as ClickHouse means them."""
    if isinstance(node, exp.Anonymous) and node.name.lower() == "json_num":
        column, key = node.expressions
        return cast(exp.Expression, exp.func("JSONExtractFloat", column, key))
    if isinstance(node, exp.Anonymous) and node.name.lower() == "json_str":
        column, key = node.expressions
        return cast(exp.Expression, exp.func("JSONExtractString", column, key))
    return node


def _duckdb(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Anonymous) and node.name.lower() == "json_num":
        column, key = node.expressions
        path = exp.Literal.string(f"$.{key.name}")
        extracted = exp.func("json_extract_string", column, path)
        return exp.TryCast(this=extracted, to=exp.DataType.build("DOUBLE"))
    if isinstance(node, exp.Anonymous) and node.name.lower() == "json_str":
        column, key = node.expressions
        path = exp.Literal.string(f"$.{key.name}")
        return cast(exp.Expression, exp.func("json_extract_string", column, path))
    return node


def _postgres(node: exp.Expression) -> exp.Expression:
    """PostgreSQL, for the benchmark's comparison only (bench/analytics.py runs the same
    queries on a PostgreSQL copy of the store's table, props as jsonb)."""
    name = node.name.lower() if isinstance(node, exp.Anonymous) else ""
    if name in ("json_num", "json_str"):
        column, key = node.expressions
        text = exp.JSONExtractScalar(this=column, expression=key)
        if name == "json_str":
            return text
        return cast(exp.Expression, exp.cast(text, "DOUBLE"))
    if isinstance(node, exp.DayOfWeekIso | exp.Hour):
        unit = "ISODOW" if isinstance(node, exp.DayOfWeekIso) else "HOUR"
        return exp.Extract(this=exp.var(unit), expression=node.this)
    if isinstance(node, exp.ArgMin):
        ordered = exp.Order(expressions=[exp.Ordered(this=node.expression)])
        agg = exp.ArrayAgg(this=exp.Order(this=node.this, expressions=ordered.expressions))
        return exp.Bracket(this=exp.Paren(this=agg), expressions=[exp.Literal.number(0)])
    return node


_TRANSFORMS = {"clickhouse": _clickhouse, "duckdb": _duckdb, "postgres": _postgres}


def render(template: str, params: Mapping[str, Any], dialect: str) -> str:
    """The template with `params` bound, in `dialect` ("duckdb" or "clickhouse"; "postgres"
    for the benchmark)."""
    tree = sqlglot.parse_one(template, read="duckdb")
    missing: list[str] = []

    def bind(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Placeholder) and node.name:
            if node.name not in params:
                missing.append(node.name)
                return node
            return _literal(params[node.name])
        return node

    tree = tree.transform(bind)
    if missing:
        raise KeyError(f"unbound parameters: {missing}")
    tree = tree.transform(_TRANSFORMS[dialect])
    return tree.sql(dialect=dialect)


# --- The operations index ------------------------------------------------------------------

# Per Beijing day of [:d0, :d1]: new members (their first event ever), DAU, by app, and the
# day's MP dwell seconds, menu clicks and article opens.
INDEX_DAYS = f"""
WITH ev AS (
  SELECT member_id, app_kind, name, {BEIJING_DAY} AS day, props
  FROM events WHERE workspace_id = :ws AND ts >= :t0 AND ts < :t1
),
firsts AS (
  SELECT member_id, min(ts) AS first_ts FROM events WHERE workspace_id = :ws
  GROUP BY member_id
),
news AS (
  SELECT CAST(first_ts + INTERVAL 8 HOUR AS DATE) AS day, count(*) AS new_members
  FROM firsts WHERE first_ts >= :t0 AND first_ts < :t1 GROUP BY 1
),
member_days AS (
  SELECT day, member_id,
    max(CASE WHEN app_kind = 'oa' THEN 1 ELSE 0 END) AS on_oa,
    max(CASE WHEN app_kind = 'mp' THEN 1 ELSE 0 END) AS on_mp
  FROM ev GROUP BY day, member_id
),
daily AS (
  SELECT day, count(*) AS dau, sum(on_oa) AS dau_oa, sum(on_mp) AS dau_mp,
    sum(on_oa * on_mp) AS dau_both
  FROM member_days GROUP BY day
),
acts AS (
  SELECT day,
    sum(CASE WHEN name = 'mp.page_view' THEN json_num(props, 'duration_s') ELSE 0 END) AS dwell,
    sum(CASE WHEN name = 'oa.menu_click' THEN 1 ELSE 0 END) AS menu_clicks,
    sum(CASE WHEN name = 'mp.page_view' AND json_str(props, 'from') = 'article'
        THEN 1 ELSE 0 END) AS article_opens
  FROM ev GROUP BY day
)
SELECT daily.day, coalesce(news.new_members, 0), daily.dau, daily.dau_oa, daily.dau_mp,
  daily.dau_both, acts.dwell, acts.menu_clicks, acts.article_opens
FROM daily LEFT JOIN news ON news.day = daily.day LEFT JOIN acts ON acts.day = daily.day
ORDER BY 1
"""

# Members active in the trailing :span days ending on each day of [:d0, :d1]: each active day
# `a` of a member covers a .. a+span-1; its covering interval starts after the previous one
# ends, so the intervals of one member never overlap and their starts and ends can be summed.
ROLLING_ACTIVE = f"""
WITH md AS (
  SELECT DISTINCT member_id, {BEIJING_DAY} AS day FROM events
  WHERE workspace_id = :ws AND ts >= :t_lookback AND ts < :t1
),
ordered AS (
  SELECT member_id, day, lag(day) OVER (PARTITION BY member_id ORDER BY day) AS prev FROM md
),
spans AS (
  SELECT CASE WHEN prev IS NULL OR prev + :span <= day THEN day ELSE prev + :span END AS s,
    day + :span AS e
  FROM ordered
),
marks AS (
  SELECT s AS day, 1 AS delta FROM spans WHERE s < e
  UNION ALL
  SELECT e AS day, -1 AS delta FROM spans WHERE s < e
),
per_day AS (SELECT day, sum(delta) AS delta FROM marks GROUP BY day)
SELECT day, sum(delta) OVER (ORDER BY day ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
FROM per_day ORDER BY day
"""

# Events by Beijing weekday (1 = Monday) and hour.
ACTIVE_HOURS = """
SELECT isodow(ts + INTERVAL 8 HOUR) AS wd, hour(ts + INTERVAL 8 HOUR) AS hr, count(*) AS n
FROM events WHERE workspace_id = :ws AND ts >= :t0 AND ts < :t1
GROUP BY 1, 2 ORDER BY 1, 2
"""

# Members by the Beijing days between their first and last activity in the range.
ACTIVE_PERIODS = """
WITH spans AS (
  SELECT member_id, date_diff('day', CAST(min(ts) + INTERVAL 8 HOUR AS DATE),
    CAST(max(ts) + INTERVAL 8 HOUR AS DATE)) AS days FROM events
  WHERE workspace_id = :ws AND ts >= :t0 AND ts < :t1 GROUP BY member_id
)
SELECT CASE WHEN days < 1 THEN 0 WHEN days < 7 THEN 1 WHEN days < 30 THEN 2
  WHEN days < 90 THEN 3 ELSE 4 END AS bucket, count(*) AS members
FROM spans GROUP BY 1 ORDER BY 1
"""

# The monitoring ratios over the range: MP visitors who then followed the OA; payers who paid
# again within 30 days of their first payment in the range; followers who came from the MP
# (active on the MP before following) still following 30 days later.
MONITORING = """
WITH mp_first AS (
  SELECT member_id, min(ts) AS t FROM events
  WHERE workspace_id = :ws AND app_kind = 'mp' AND ts >= :t0 AND ts < :t1 GROUP BY member_id
),
follows AS (
  SELECT member_id, min(ts) AS t FROM events
  WHERE workspace_id = :ws AND name = 'oa.subscribe' AND ts >= :t0 AND ts < :t1
  GROUP BY member_id
),
mp_follow AS (
  SELECT f.member_id, f.t FROM follows f JOIN mp_first m ON m.member_id = f.member_id
  WHERE f.t > m.t
),
unfollowed AS (
  SELECT DISTINCT u.member_id FROM events u JOIN mp_follow f ON f.member_id = u.member_id
  WHERE u.workspace_id = :ws AND u.name = 'oa.unsubscribe' AND u.ts > f.t
    AND u.ts <= f.t + INTERVAL 30 DAY
),
pays AS (
  SELECT member_id, ts FROM events
  WHERE workspace_id = :ws AND name = 'pay.paid' AND ts >= :t0 AND ts < :t1
),
first_pay AS (SELECT member_id, min(ts) AS t FROM pays GROUP BY member_id),
repaid AS (
  SELECT DISTINCT p.member_id FROM pays p JOIN first_pay f ON f.member_id = p.member_id
  WHERE p.ts > f.t AND p.ts <= f.t + INTERVAL 30 DAY
)
SELECT
  (SELECT count(*) FROM mp_first) AS mp_visitors,
  (SELECT count(*) FROM mp_follow) AS mp_followed,
  (SELECT count(*) FROM first_pay) AS payers,
  (SELECT count(*) FROM repaid) AS repurchasers,
  (SELECT count(*) FROM mp_follow WHERE t <= :t_mature) AS mp_followers_mature,
  (SELECT count(*) FROM mp_follow f WHERE f.t <= :t_mature
     AND f.member_id NOT IN (SELECT member_id FROM unfollowed)) AS mp_followers_kept
"""


# --- Funnels ----------------------------------------------------------------------------


def _step_match(alias: str, index: int, filters: Mapping[str, str]) -> str:
    """The condition an event row must meet to count as step `index` (placeholders only)."""
    parts = [f"{alias}.name = :event_{index}"]
    for j, _key in enumerate(filters):
        parts.append(f"json_str({alias}.props, :key_{index}_{j}) = :value_{index}_{j}")
    return " AND ".join(parts)


def funnel_params(
    workspace_id: int,
    steps: Sequence[tuple[str, Mapping[str, str]]],
    t0: datetime,
    t1: datetime,
    window_s: int,
) -> dict[str, Any]:
    params: dict[str, Any] = {"ws": workspace_id, "t0": t0, "t1": t1, "window": window_s}
    for i, (event, filters) in enumerate(steps):
        params[f"event_{i}"] = event
        for j, (key, value) in enumerate(filters.items()):
            params[f"key_{i}_{j}"] = key
            params[f"value_{i}_{j}"] = value
    return params


def funnel_sql(
    steps: Sequence[tuple[str, Mapping[str, str]]],
    *,
    ordered: bool,
    breakdown: str | None,
) -> str:
    """Per member: the time of each step reached (NULL from the first step missed), with the
    breakdown of their first step. Step 1 is the member's first matching event in the range;
    the others must fall within `:window` seconds of it, each at or after the one before when
    `ordered`, in any order otherwise."""
    group = {"channel": "coalesce(channel, '')", "app": "app_kind"}.get(
        breakdown or "", "CAST('' AS VARCHAR)"
    )
    first = _step_match("e", 0, steps[0][1])
    within = "e.ts <= p.t0 + INTERVAL (:window) SECOND"
    ctes = [
        f"s0 AS (SELECT e.member_id, min(e.ts) AS t0, min(e.ts) AS t, arg_min({group}, e.ts)"
        " AS grp FROM events e WHERE e.workspace_id = :ws AND e.ts >= :t0"
        f" AND e.ts < :t1 AND {first} GROUP BY e.member_id)"
    ]
    n = len(steps)
    if ordered:
        for i in range(1, n):
            match = _step_match("e", i, steps[i][1])
            ctes.append(
                f"s{i} AS (SELECT p.member_id, p.t0, min(e.ts) AS t FROM s{i - 1} p"
                " JOIN events e ON e.member_id = p.member_id"
                f" WHERE e.workspace_id = :ws AND {match} AND e.ts >= p.t AND {within}"
                " GROUP BY p.member_id, p.t0)"
            )
        cols = "".join(f", s{i}.t AS t{i}" for i in range(1, n))
        joins = " ".join(f"LEFT JOIN s{i} ON s{i}.member_id = s0.member_id" for i in range(1, n))
    else:
        names = " OR ".join(f"({_step_match('e', i, steps[i][1])})" for i in range(1, n))
        cases = ", ".join(
            f"min(CASE WHEN {_step_match('e', i, steps[i][1])} THEN e.ts END) AS t{i}"
            for i in range(1, n)
        )
        if n > 1:
            ctes.append(
                f"later AS (SELECT p.member_id, {cases} FROM s0 p JOIN events e"
                " ON e.member_id = p.member_id WHERE e.workspace_id = :ws AND e.ts >= p.t0"
                f" AND {within} AND ({names}) GROUP BY p.member_id)"
            )
        cols = "".join(f", later.t{i} AS t{i}" for i in range(1, n))
        joins = "LEFT JOIN later ON later.member_id = s0.member_id" if n > 1 else ""
    head = "s0.member_id AS member_id, s0.grp AS grp, s0.t0 AS t0"
    return f"WITH {', '.join(ctes)} SELECT {head}{cols} FROM s0 {joins}"


def _reached(i: int, *, ordered: bool) -> str:
    if i == 0:
        return "TRUE"
    if ordered:
        return f"t{i} IS NOT NULL"
    return " AND ".join(f"t{k} IS NOT NULL" for k in range(1, i + 1))


def _done_at(i: int, *, ordered: bool) -> str:
    """When step `i` was completed: its own time in order, the latest of 0..i in any order."""
    if ordered or i == 0:
        return f"t{i}"
    return f"greatest({', '.join(f't{k}' for k in range(i + 1))})"


def funnel_summary_sql(n_steps: int, per_member: str, *, ordered: bool) -> str:
    """Members reaching each step by breakdown group, and the mean seconds from the step
    before, over the per-member rows of `funnel_sql`."""
    cols = ["grp", "count(*) AS r0"]
    for i in range(1, n_steps):
        cond = _reached(i, ordered=ordered)
        prev, last = _done_at(i - 1, ordered=ordered), _done_at(i, ordered=ordered)
        cols.append(f"sum(CASE WHEN {cond} THEN 1 ELSE 0 END) AS r{i}")
        cols.append(f"avg(CASE WHEN {cond} THEN date_diff('second', {prev}, {last}) END) AS d{i}")
    return f"SELECT {', '.join(cols)} FROM ({per_member}) AS pm GROUP BY grp ORDER BY grp"


def funnel_dropped_sql(step: int, per_member: str, *, ordered: bool, limit: int) -> str:
    """Members who reached step `step - 1` and not step `step` (0-based `step` ≥ 1)."""
    before = _reached(step - 1, ordered=ordered)
    return (
        f"SELECT member_id FROM ({per_member}) AS pm WHERE {before} AND t{step} IS NULL"
        f" ORDER BY member_id LIMIT {int(limit)}"
    )


# --- Retention --------------------------------------------------------------------------


def retention_sql(period: str, by_channel: bool) -> str:
    """Cohorts of members by the period of their first `:cohort_event` in the range (or by
    their arrival channel: the channel of their first event that has one), and per period
    offset 0 .. :periods-1 the members who did `:return_event` in it."""
    unit = {"day": "day", "week": "week", "month": "month"}[period]
    diff_unit = "month" if unit == "month" else "day"
    divisor = 7 if unit == "week" else 1
    cohort_key = "coalesce(arrival.first_channel, '')" if by_channel else "c.start"
    arrival = (
        """LEFT JOIN (SELECT member_id, arg_min(channel, ts) AS first_channel FROM events
           WHERE workspace_id = :ws AND channel IS NOT NULL GROUP BY member_id) arrival
           ON arrival.member_id = c.member_id"""
        if by_channel
        else ""
    )
    return f"""
WITH firsts AS (
  SELECT member_id, min(ts) AS t FROM events
  WHERE workspace_id = :ws AND name = :cohort_event AND ts >= :t0 AND ts < :t1
  GROUP BY member_id
),
c AS (
  SELECT member_id,
    CAST(date_trunc('{unit}', CAST(t + INTERVAL 8 HOUR AS DATE)) AS DATE) AS start
  FROM firsts
),
keyed AS (SELECT c.member_id, c.start, {cohort_key} AS cohort FROM c {arrival}),
returns AS (
  SELECT DISTINCT k.member_id, k.cohort,
    CAST(date_diff('{diff_unit}', k.start,
      CAST(date_trunc('{unit}', CAST(e.ts + INTERVAL 8 HOUR AS DATE)) AS DATE))
      / {divisor} AS BIGINT) AS off
  FROM keyed k JOIN events e ON e.member_id = k.member_id
  WHERE e.workspace_id = :ws AND e.name = :return_event AND e.ts >= :t0 AND e.ts < :t_grid_end
    AND e.ts >= CAST(k.start AS TIMESTAMP) - INTERVAL 8 HOUR
),
sizes AS (SELECT cohort, count(*) AS size FROM keyed GROUP BY cohort),
grid AS (
  SELECT cohort, off, count(*) AS n FROM returns WHERE off >= 0 AND off < :periods
  GROUP BY cohort, off
)
SELECT CAST(sizes.cohort AS VARCHAR), sizes.size, grid.off, grid.n FROM sizes
LEFT JOIN grid ON grid.cohort = sizes.cohort ORDER BY 1, 3
"""


# --- Known event names, for validation --------------------------------------------------

EVENT_NAMES = "SELECT DISTINCT name FROM events WHERE workspace_id = :ws"
