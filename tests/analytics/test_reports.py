"""The reports on the hand-worked timeline of tests/support/analytics.py: the same answers on
DuckDB and on ClickHouse's engine (chDB), bad input refused, the analyst's cells blanked."""

from __future__ import annotations

from datetime import date

import pytest

from siyu.analytics import service as analytics
from siyu.analytics.schemas import FunnelQuery, FunnelStep, RetentionQuery
from siyu.analytics.store import Store
from siyu.core.db import Database
from siyu.core.errors import SiyuError
from siyu.security.enums import Role
from siyu.security.schemas import Principal
from tests.support.analytics import Scenario

NOV = {"start": date(2026, 11, 1), "end": date(2026, 11, 30)}
FUNNEL = ["mp.launch", "mp.page_view", "oa.subscribe", "pay.paid"]


@pytest.fixture
def loaded(db: Database, scenario: Scenario, analytics_store: Store) -> Store:
    with db.session_scope() as session:
        analytics.sync_store(session, analytics_store)
    return analytics_store


def analyst_of(owner: Principal) -> Principal:
    return owner.model_copy(update={"role": Role.analyst})


def funnel_query(**changes: object) -> FunnelQuery:
    fields: dict[str, object] = {"steps": [FunnelStep(event=e) for e in FUNNEL], **NOV}
    return FunnelQuery.model_validate({**fields, **changes})


def test_the_operations_index_by_beijing_day(scenario: Scenario, loaded: Store) -> None:
    # when the index of 11-02..11-05 is asked
    report = analytics.operations_index(
        loaded, scenario.workspace_id, date(2026, 11, 2), date(2026, 11, 5)
    )
    days = {d.date.day: d for d in report.days}
    # then each day counts as worked out by hand
    assert [(d.new, d.dau, d.dau_oa, d.dau_mp, d.dau_both) for d in report.days] == [
        (2, 2, 1, 2, 1),
        (1, 3, 0, 3, 0),
        (1, 1, 1, 0, 0),
        (0, 1, 1, 0, 0),
    ]
    assert days[2].dwell_s_per_mp_visitor == 20.0
    assert days[2].article_opens == 1
    assert days[4].menu_clicks_per_oa_active == 2.0
    assert [(d.wau, d.mau) for d in report.days] == [(2, 2), (3, 3), (4, 4), (4, 4)]
    assert days[5].dau_mau == 0.25
    # Monday 10:00 in Beijing: A's launch and page view
    heat = {(c.weekday, c.hour): c.events for c in report.active_hours}
    assert heat[(1, 10)] == 2
    assert heat[(1, 20)] == 2
    assert report.mp_to_oa_follow.model_dump() == {"numerator": 1, "denominator": 3, "rate": 0.3333}
    assert report.repurchase_30d.model_dump() == {"numerator": 0, "denominator": 2, "rate": 0.0}
    assert {d.key for d in report.definitions} >= {"dau", "mau", "mp_to_oa", "repurchase"}


def test_the_monitoring_ratios_over_a_longer_range(scenario: Scenario, loaded: Store) -> None:
    report = analytics.operations_index(
        loaded, scenario.workspace_id, date(2026, 11, 1), date(2026, 12, 6)
    )
    assert report.repurchase_30d.model_dump() == {"numerator": 1, "denominator": 2, "rate": 0.5}
    # A followed from the MP on 11-02 and still follows 30 days later
    assert report.mp_follower_retention_30d.model_dump() == {
        "numerator": 1,
        "denominator": 1,
        "rate": 1.0,
    }
    # first to last activity: A 8 days, B 1, C 13, D 1
    buckets = {b.bucket: b.members for b in report.active_periods}
    assert buckets == {"当天": 0, "1–6 天": 2, "7–29 天": 2, "30–89 天": 0, "90 天以上": 0}


def test_a_funnel_in_order_with_breakdown_and_drop_outs(scenario: Scenario, loaded: Store) -> None:
    # when the four-step funnel with a 7-day window is asked, by channel
    report = analytics.funnel(
        loaded, scenario.workspace_id, funnel_query(breakdown="channel", dropped_at=2)
    )
    # then 3 launched, 2 viewed a page, 1 followed, 1 paid
    assert [s.members for s in report.steps] == [3, 2, 1, 1]
    assert [s.conversion for s in report.steps] == [1.0, 0.6667, 0.3333, 0.3333]
    # A: 5 min to the page, 115 min to follow; B: 1 min to the page
    assert report.steps[1].avg_seconds_from_previous == 180.0
    assert report.steps[2].avg_seconds_from_previous == 115 * 60
    groups = {g.group: [s.members for s in g.steps] for g in report.groups}
    assert groups == {"": [1, 0, 0, 0], "qr_autumn": [1, 1, 0, 0], "qr_spring": [1, 1, 1, 1]}
    # and C dropped before viewing a page
    assert report.dropped_member_ids == [scenario.members["C"]]


def test_a_funnel_with_property_filters_any_order_and_a_short_window(
    scenario: Scenario, loaded: Store
) -> None:
    steps = [
        FunnelStep(event="mp.launch"),
        FunnelStep(event="mp.page_view", filters={"from": "article"}),
    ]
    filtered = analytics.funnel(loaded, scenario.workspace_id, funnel_query(steps=steps))
    assert [s.members for s in filtered.steps] == [3, 1]
    # in any order: A paid before following is fine; a one-hour window loses the payments
    any_order = analytics.funnel(
        loaded, scenario.workspace_id, funnel_query(order="any", window_s=3600)
    )
    assert [s.members for s in any_order.steps] == [3, 2, 0, 0]
    ordered_pay_first = analytics.funnel(
        loaded,
        scenario.workspace_id,
        funnel_query(
            steps=[FunnelStep(event=e) for e in ["mp.launch", "pay.paid", "oa.subscribe"]]
        ),
    )
    assert [s.members for s in ordered_pay_first.steps] == [3, 2, 0]
    unordered_pay_first = analytics.funnel(
        loaded,
        scenario.workspace_id,
        funnel_query(
            steps=[FunnelStep(event=e) for e in ["mp.launch", "pay.paid", "oa.subscribe"]],
            order="any",
        ),
    )
    assert [s.members for s in unordered_pay_first.steps] == [3, 2, 1]


def test_weekly_retention_of_mp_launches(scenario: Scenario, loaded: Store) -> None:
    query = RetentionQuery(
        cohort_event="mp.launch", return_event="mp.launch", period="week", periods=4, **NOV
    )
    report = analytics.retention(loaded, scenario.workspace_id, query)
    assert [(c.start, c.size, c.returned) for c in report.cohorts] == [
        ("2026-11-02", 3, [3, 1, 1, 0])
    ]
    by_channel = analytics.retention(
        loaded, scenario.workspace_id, query.model_copy(update={"cohort_by": "channel"})
    )
    assert [(c.start, c.size, c.returned) for c in by_channel.cohorts] == [
        ("", 1, [1, 0, 1, 0]),
        ("qr_autumn", 1, [1, 0, 0, 0]),
        ("qr_spring", 1, [1, 1, 0, 0]),
    ]
    daily = analytics.retention(
        loaded, scenario.workspace_id, query.model_copy(update={"period": "day", "periods": 8})
    )
    assert [(c.start, c.size, c.returned) for c in daily.cohorts] == [
        ("2026-11-02", 2, [2, 0, 0, 0, 0, 0, 0, 1]),
        ("2026-11-03", 1, [1, 0, 0, 0, 0, 0, 0, 0]),
    ]


def test_the_analyst_sees_aggregates_with_small_cells_blanked(
    scenario: Scenario, loaded: Store, owner: Principal
) -> None:
    analyst = analyst_of(owner)
    report = analytics.funnel(loaded, scenario.workspace_id, funnel_query(), actor=analyst)
    assert [s.members for s in report.steps] == [None, None, None, None]
    assert report.suppressed_below == 5
    with pytest.raises(SiyuError) as refused:
        analytics.funnel(loaded, scenario.workspace_id, funnel_query(dropped_at=2), actor=analyst)
    assert refused.value.code == "analytics.members_hidden"
    index = analytics.operations_index(
        loaded, scenario.workspace_id, date(2026, 11, 2), date(2026, 11, 3), actor=analyst
    )
    assert {d.dau for d in index.days} == {None}


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"steps": [FunnelStep(event="mp.launch"), FunnelStep(event="no.such")]}, "unknown_event"),
        ({"steps": [FunnelStep(event="mp.launch")] * 21}, "too_many_steps"),
        ({"steps": [FunnelStep(event="mp.launch")]}, "too_many_steps"),
        ({"window_s": 30}, "window_out_of_range"),
        ({"window_s": 91 * 86400}, "window_out_of_range"),
        ({"start": date(2025, 1, 1), "end": date(2026, 12, 1)}, "span_too_long"),
        ({"start": date(2026, 12, 1), "end": date(2026, 11, 1)}, "bad_range"),
        ({"dropped_at": 1}, "bad_step"),
    ],
)
def test_bad_funnels_are_refused(
    scenario: Scenario, duck_store: Store, changes: dict[str, object], code: str
) -> None:
    with pytest.raises(SiyuError) as refused:
        analytics.funnel(duck_store, scenario.workspace_id, funnel_query(**changes))
    assert refused.value.code == f"analytics.{code}"


def test_a_query_past_its_budget_is_stopped(scenario: Scenario, loaded: Store) -> None:
    # given a budget far shorter than the index takes
    loaded.budget_s = 0.000_001
    # then the query is stopped with the budget's code, not left running
    with pytest.raises(SiyuError) as stopped:
        analytics.operations_index(
            loaded, scenario.workspace_id, date(2026, 11, 1), date(2026, 11, 30)
        )
    assert stopped.value.code == "analytics.query_budget"
