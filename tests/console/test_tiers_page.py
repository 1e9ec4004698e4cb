"""The 分层 page: tiers over time and last month's flows as charts and tables, the RFM cells,
the policy form (a bad policy shown again, nothing stored); the member's profile shows their
tier and RFM cell."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from siyu.audience import service as audience
from siyu.audience.models import TierPolicy
from siyu.core.clock import FrozenClock
from siyu.core.db import Database
from siyu.security.enums import Role
from tests.support.console import Console
from tests.support.security import Staff
from tests.support.tiers import event, ingest, member_id

pytestmark = pytest.mark.usefixtures("oa_app", "mp_app")
DAY = timedelta(days=1)


def _charts(html: str) -> list[dict[str, object]]:
    return [
        json.loads(raw.replace("&#39;", "'")) for raw in re.findall(r"data-chart='([^']*)'", html)
    ]


def test_the_page_draws_the_tiers_and_the_flows(
    console: Console, db: Database, workspace_id: int, frozen_clock: FrozenClock
) -> None:
    now = frozen_clock.now()
    ingest(
        db,
        workspace_id,
        event(1, "mp.login", now - 2 * DAY),
        event(2, "pay.paid", now - 40 * DAY, amount=1_000),
    )
    with db.session_scope() as session:
        audience.compute_tiers(session, workspace_id)
        audience.compute_rfm(session, workspace_id)
    page = console.client.get("/tiers")
    assert page.status_code == 200
    assert "会员分层" in page.text
    assert "近 30 天的层间流动" in page.text
    stacked, sankey = _charts(page.text)
    series = stacked["option"]["series"]  # type: ignore[index]
    assert [s["name"] for s in series] == ["新客", "活跃", "沉睡", "流失", "回流"]
    assert all(s["stack"] == "tiers" for s in series)
    links = sankey["option"]["series"][0]["links"]  # type: ignore[index]
    assert {(link["target"], link["value"]) for link in links} == {("现·新客", 1), ("现·沉睡", 1)}
    assert "一般维持" in page.text  # the RFM cells are listed


def test_the_profile_shows_the_tier_and_the_rfm_cell(
    console: Console, db: Database, workspace_id: int, frozen_clock: FrozenClock
) -> None:
    now = frozen_clock.now()
    ingest(db, workspace_id, event(1, "pay.paid", now - 40 * DAY, amount=1_000))
    member = member_id(db, 1)
    # before any computation: the tier estimated now, no RFM yet
    page = console.client.get(f"/members/{member}").text
    assert "沉睡" in page
    assert "尚未计算" in page
    assert "无消费记录" in page
    with db.session_scope() as session:
        audience.compute_tiers(session, workspace_id)
        audience.compute_rfm(session, workspace_id)
    page = console.client.get(f"/members/{member}").text
    assert "尚未计算" not in page
    assert "流失" in page  # one buyer: every score is 1, the cell 流失 (quintiles of one)
    assert "R 1 · F 1 · M 1" in page
    # and the timeline says the move in words
    assert "首次分层 → 沉睡" in page


def test_a_bad_policy_is_shown_again_and_nothing_is_stored(console: Console, db: Database) -> None:
    refused = console.client.post(
        "/tiers/policy",
        data={
            "csrf_token": console.csrf,
            "new_days": "7",
            "dormant_days": "90",
            "churn_days": "60",
        },
    )
    assert refused.status_code == 422
    assert "沉睡天数（90）必须小于流失天数（60）" in refused.text
    with db.session_scope() as session:
        assert session.scalar(select(func.count()).select_from(TierPolicy)) == 0
    saved = console.client.post(
        "/tiers/policy",
        data={"csrf_token": console.csrf, "new_days": "10", "churn_on_unfollow": "0"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    with db.session_scope() as session:
        stored = session.scalars(select(TierPolicy)).one()
    assert (stored.rules["new_days"], stored.rules["churn_on_unfollow"]) == (10, False)


def test_an_analyst_sees_the_page_without_the_form(
    app_client: TestClient, staff: dict[Role, Staff]
) -> None:
    page = app_client.get("/tiers", headers=staff[Role.analyst].headers)
    assert page.status_code == 200
    assert 'action="/tiers/policy"' not in page.text
