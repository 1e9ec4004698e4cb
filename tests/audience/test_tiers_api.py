"""The tiers' and RFM's API: a member's tier and RFM by number (as their role may see them),
tier counts over time, last month's flows, and the policy (a bad one refused, nothing
written)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from siyu.audience import service as audience
from siyu.audience.models import TierPolicy
from siyu.core.clock import FrozenClock
from siyu.core.clock import now as clock_now
from siyu.core.db import Database
from siyu.security.enums import Role
from siyu.security.models import AuditEntry
from tests.support.security import Staff
from tests.support.tiers import event, ingest, number_of

pytestmark = pytest.mark.usefixtures("oa_app", "mp_app")
DAY = timedelta(days=1)


def policies(db: Database) -> int:
    with db.session_scope() as session:
        return int(session.scalar(select(func.count()).select_from(TierPolicy)) or 0)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"dormant_days": 90, "churn_days": 90}, "流失天数"),
        ({"new_days": 30}, "沉睡天数"),
    ],
)
def test_a_policy_out_of_order_is_refused_and_nothing_is_written(
    api: TestClient, db: Database, body: dict[str, int], field: str
) -> None:
    response = api.put("/api/audience/tiers/policy", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "audience.invalid_tier_policy"
    assert policies(db) == 0
    with db.session_scope() as session:
        audits = session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "audience.tier_policy_set")
        )
    assert audits == 0


def test_a_policy_out_of_range_is_a_422_naming_the_field(api: TestClient, db: Database) -> None:
    response = api.put("/api/audience/tiers/policy", json={"new_days": 0})
    assert response.status_code == 422
    assert "new_days" in response.text
    assert policies(db) == 0


def test_the_policy_is_stored_audited_and_read_back(api: TestClient, db: Database) -> None:
    assert api.get("/api/audience/tiers/policy").json()["new_days"] == 7
    response = api.put("/api/audience/tiers/policy", json={"new_days": 14, "churn_days": 120})
    assert response.status_code == 200, response.text
    read = api.get("/api/audience/tiers/policy").json()
    assert (read["new_days"], read["dormant_days"], read["churn_days"]) == (14, 30, 120)
    with db.session_scope() as session:
        actions = list(session.scalars(select(AuditEntry.action)))
    assert "audience.tier_policy_set" in actions


def test_an_analyst_reads_figures_but_not_members_nor_the_policy_form(
    app_client: TestClient, staff: dict[Role, Staff], workspace_id: int, db: Database
) -> None:
    analyst = staff[Role.analyst].headers
    assert app_client.get("/api/audience/tiers/counts", headers=analyst).status_code == 200
    assert app_client.get("/api/audience/tiers/flows", headers=analyst).status_code == 200
    refused = app_client.put("/api/audience/tiers/policy", json={}, headers=analyst)
    assert refused.status_code == 403
    assert policies(db) == 0


def test_a_members_tier_and_rfm_by_number(
    api: TestClient, db: Database, workspace_id: int, frozen_clock: FrozenClock
) -> None:
    now = frozen_clock.now()
    ingest(
        db,
        workspace_id,
        event(1, "pay.paid", now - 50 * DAY, amount=4_900),
        event(1, "pay.paid", now - 40 * DAY, amount=5_000),
        event(2, "mp.login", now - DAY),
        # four other buyers, who paid less, once, longer ago
        *(event(who, "pay.paid", now - (90 + who) * DAY, amount=who * 100) for who in range(3, 7)),
    )
    # before any run, the tier is computed for the answer, not stored
    first = api.get(f"/api/audience/members/{number_of(db, 1)}/tier").json()
    assert (first["tier"], first["stored"], first["since"]) == ("dormant", False, None)
    with db.session_scope() as session:
        audience.compute_tiers(session, workspace_id)
        audience.compute_rfm(session, workspace_id)
    tier = api.get(f"/api/audience/members/{number_of(db, 1)}/tier").json()
    assert (tier["tier"], tier["stored"]) == ("dormant", True)
    rfm = api.get(f"/api/audience/members/{number_of(db, 1)}/rfm").json()
    assert rfm["buyer"] is True
    assert (rfm["frequency"], rfm["monetary"], rfm["recency_days"]) == (2, 9_900, 40)
    assert (rfm["r"], rfm["f"], rfm["m"], rfm["cell"]) == (5, 5, 5, "重要价值")
    assert api.get(f"/api/audience/members/{number_of(db, 2)}/rfm").json()["buyer"] is False
    # an unknown number is a 404, an impossible one a 422
    assert api.get("/api/audience/members/99999/tier").status_code == 404
    assert api.get("/api/audience/members/0/rfm").status_code == 422


def test_a_salesperson_sees_only_their_members_tier(
    app_client: TestClient, staff: dict[Role, Staff], db: Database, workspace_id: int
) -> None:
    ingest(db, workspace_id, event(1, "mp.login", clock_now()))
    sales = staff[Role.sales].headers
    response = app_client.get(f"/api/audience/members/{number_of(db, 1)}/tier", headers=sales)
    assert response.status_code == 404


def test_counts_over_time_and_last_months_flows(
    api: TestClient, db: Database, workspace_id: int, frozen_clock: FrozenClock
) -> None:
    now = frozen_clock.now()
    ingest(db, workspace_id, event(1, "mp.login", now - 3 * DAY), event(2, "mp.login", now))
    with db.session_scope() as session:
        audience.compute_tiers(session, workspace_id)
    frozen_clock.advance(5 * DAY)
    with db.session_scope() as session:
        audience.compute_tiers(session, workspace_id)
    counts = api.get("/api/audience/tiers/counts", params={"days": 30}).json()
    assert len(counts["days"]) == 2
    series = {s["tier"]: s["counts"] for s in counts["series"]}
    assert series["new"] == [2, 1]
    assert series["active"] == [0, 1]
    flows = api.get("/api/audience/tiers/flows").json()
    assert {(f["from_tier"], f["to_tier"]): f["members"] for f in flows} == {
        (None, "new"): 2,
        ("new", "active"): 1,
    }
    assert api.get("/api/audience/tiers/flows", params={"days": 400}).status_code == 422
