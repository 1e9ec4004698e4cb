"""Sales leads (线索): scoring with decay, the threshold that makes a lead with its reasons,
claims under a daily cap (and concurrent claims on PostgreSQL), the sales scope, follow-ups
and the pipeline, the reclaim sweep with its warning, a payment that wins a lead once, the
report per salesperson."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from siyu.audience import service
from siyu.audience.tasks import score_leads, sweep_leads
from siyu.core.clock import FrozenClock
from siyu.core.db import Database
from siyu.identity import service as identity
from siyu.security.enums import Role
from siyu.security.schemas import Principal
from tests.support.audience import event
from tests.support.cli import run
from tests.support.console import session_csrf, sign_in
from tests.support.leads import counts, leads_by_member, notices, policy, post, rule, score, scores
from tests.support.names import MP_APPID
from tests.support.pay import PayEnv
from tests.support.security import PASSWORD, Staff, audit_actions, make_staff

EVERYONE = {"op": "and", "conditions": [{"kind": "app_used", "appids": [MP_APPID]}]}


def _pool(api: TestClient, *, cap: int = 20, reclaim_days: int = 7, **more: Any) -> list[int]:
    """Every member a lead in the pool; their lead ids, best first."""
    rule(api, name="用过小程序", kind="condition", points=5, condition=EVERYONE)
    policy(api, threshold=5, daily_claim_cap=cap, reclaim_days=reclaim_days, **more)
    assert score(api)["leads_created"] == 4
    page = api.get("/api/audience/leads", params={"view": "pool"}).json()
    return [item["id"] for item in page["items"]]


def test_scores_decay_with_age_and_the_threshold_makes_a_lead_with_its_reasons(
    api: TestClient, db: Database, people: dict[str, int], frozen_clock: FrozenClock
) -> None:
    # given +10 per payment of the last 90 days halving every 7 days, +30 for the tag 老师,
    # −20 after 30 silent days, and a threshold of 12
    paid = rule(
        api, name="付费", kind="event", event="pay.paid", points=10, days=90, half_life_days=7
    )
    rule(
        api,
        name="老师",
        kind="condition",
        points=30,
        condition={"op": "and", "conditions": [{"kind": "tags", "match": "any", "tags": ["老师"]}]},
    )
    silent = rule(api, name="沉默", kind="silent", points=-20, days=30)
    policy(api, threshold=12)
    # when the workspace is scored
    result = score(api)
    # then ann (paid 3 days ago: 10, and 10 days ago: 5) is a lead with her reason; cai (30 for
    # the tag, −20 silent) is scored but below the threshold; bob's payment is too old
    assert scores(db) == {people["ann"]: 15, people["cai"]: 10}
    assert result == {"scored": 2, "leads_created": 1, "assigned": 0}
    leads = leads_by_member(db)
    assert set(leads) == {people["ann"]}
    assert leads[people["ann"]].reasons == [{"rule_id": paid["id"], "rule": "付费", "points": 15}]
    cai = api.get("/api/audience/leads/scores/10003").json()
    assert {r["rule"]: r["points"] for r in cai["reasons"]} == {"老师": 30, "沉默": -20}
    assert cai["lead_id"] is None
    assert silent["id"] in {r["rule_id"] for r in cai["reasons"]}
    # when a week passes and the workspace is scored again
    frozen_clock.advance(timedelta(days=7))
    again = score(api)
    # then ann's payments weigh ¼ and ½ (7.5 → 8), her lead keeps its place with the new score,
    # and no second lead is made
    assert again["leads_created"] == 0
    assert scores(db)[people["ann"]] == 8
    assert leads_by_member(db)[people["ann"]].score == 8


def test_recorded_events_mark_the_scores_stale_and_the_job_scores(
    api: TestClient, db: Database, people: dict[str, int], workspace_id: int
) -> None:
    # given a rule and a first scoring
    rule(
        api,
        name="浏览课程",
        kind="event",
        event="mp.page_view",
        points=20,
        where=[{"prop": "page", "op": "=", "value": "/course"}],
    )
    policy(api, threshold=40)
    score(api)
    assert leads_by_member(db) == {}
    # when bob views the course page again (an event recorded) and the job runs
    with db.session_scope() as session:
        identity.ingest_events(
            session, workspace_id, [event("mp.page_view", "bob", 0, page="/course")]
        )
    score_leads.call_local()
    # then bob (two views: 40) is a lead
    assert set(leads_by_member(db)) == {people["bob"]}


def test_a_rule_on_an_unknown_event_is_refused_naming_it_and_nothing_is_written(
    api: TestClient, db: Database, people: dict[str, int]
) -> None:
    response = api.post(
        "/api/audience/leads/rules",
        json={"name": "x", "kind": "event", "event": "no.such", "points": 5},
    )
    assert response.status_code == 422
    assert response.json()["code"] == "audience.lead_rule_invalid"
    assert "no.such" in response.json()["message"]
    assert api.get("/api/audience/leads/rules").json() == []


def test_a_claim_over_the_daily_cap_is_refused_and_writes_nothing(
    api: TestClient,
    app_client: TestClient,
    db: Database,
    people: dict[str, int],
    sellers: tuple[Staff, Staff],
) -> None:
    # given four leads in the pool and a cap of one a day
    first, second, *_ = _pool(api, cap=1)
    wang = sellers[0]
    # when a salesperson claims one, then another
    post(app_client, f"/{first}/claim", headers=wang.headers)
    before = counts(db)
    refused = app_client.post(f"/api/audience/leads/{second}/claim", headers=wang.headers)
    # then the second is refused with a stable code, and nothing changed
    assert refused.status_code == 409
    assert refused.json()["code"] == "audience.claim_cap_reached"
    assert counts(db) == before == {**before, "claimed": 1, "owned": 1}
    # and the next day (Beijing) the cap is fresh
    mine = app_client.get("/api/audience/leads", headers=wang.headers).json()
    assert [item["id"] for item in mine["items"]] == [first]


def test_a_salesperson_sees_only_their_leads_and_the_pool(
    api: TestClient,
    app_client: TestClient,
    db: Database,
    people: dict[str, int],
    sellers: tuple[Staff, Staff],
) -> None:
    first, second, *_ = _pool(api)
    wang, li = sellers
    post(app_client, f"/{first}/claim", headers=wang.headers)
    before = counts(db)
    # when another salesperson opens, follows up, moves or claims wang's lead
    answers = [
        app_client.get(f"/api/audience/leads/{first}", headers=li.headers),
        app_client.post(
            f"/api/audience/leads/{first}/follow-ups",
            headers=li.headers,
            json={"channel": "call", "note": "试试"},
        ),
        app_client.post(
            f"/api/audience/leads/{first}/status",
            headers=li.headers,
            json={"status": "lost", "reason": "抢单"},
        ),
    ]
    # then each is refused with `lead_not_yours` and nothing changed
    assert [a.status_code for a in answers] == [403, 403, 403]
    assert {a.json()["code"] for a in answers} == {"audience.lead_not_yours"}
    taken = app_client.post(f"/api/audience/leads/{first}/claim", headers=li.headers)
    assert taken.status_code == 403
    assert counts(db) == before
    # and li sees the pool (without wang's lead) and none of their own; `all` is their own
    pool = app_client.get("/api/audience/leads", params={"view": "pool"}, headers=li.headers)
    assert first not in [i["id"] for i in pool.json()["items"]]
    assert pool.json()["total"] == 3
    for view in ("mine", "all"):
        own = app_client.get("/api/audience/leads", params={"view": view}, headers=li.headers)
        assert own.json()["items"] == []
    # and a salesperson may not change rules, the policy or see the report
    assert app_client.get("/api/audience/leads/report", headers=li.headers).status_code == 403
    assert app_client.post("/api/audience/leads/score", headers=li.headers).status_code == 403
    # while a pool lead is open to them
    assert app_client.get(f"/api/audience/leads/{second}", headers=li.headers).status_code == 200


def test_follow_ups_move_the_pipeline_and_the_report_counts_contacts_and_wins(
    api: TestClient,
    app_client: TestClient,
    db: Database,
    people: dict[str, int],
    sellers: tuple[Staff, Staff],
    frozen_clock: FrozenClock,
) -> None:
    first, second, third, _ = _pool(api)
    wang, li = sellers
    for lead_id in (first, second):
        post(app_client, f"/{lead_id}/claim", headers=wang.headers)
    post(app_client, f"/{third}/claim", headers=li.headers)
    # when wang calls the first within the hour, qualifies and wins it, loses the second
    # without a reason (refused) and then with one, and li calls two days later
    frozen_clock.advance(timedelta(hours=1))
    done = post(
        app_client,
        f"/{first}/follow-ups",
        {
            "channel": "call",
            "note": "有意向，周五回电",
            "next_follow_up_at": "2026-11-22T02:00:00Z",
        },
        headers=wang.headers,
    )
    post(app_client, f"/{first}/status", {"status": "qualified"}, headers=wang.headers)
    post(app_client, f"/{first}/status", {"status": "won"}, headers=wang.headers)
    no_reason = app_client.post(
        f"/api/audience/leads/{second}/status", json={"status": "lost"}, headers=wang.headers
    )
    post(
        app_client,
        f"/{second}/status",
        {"status": "lost", "reason": "预算不足"},
        headers=wang.headers,
    )
    backwards = app_client.post(
        f"/api/audience/leads/{first}/status", json={"status": "new"}, headers=wang.headers
    )
    frozen_clock.advance(timedelta(days=2))
    post(app_client, f"/{third}/follow-ups", {"channel": "wechat"}, headers=li.headers)
    # then the lead's page shows the follow-up and the pipeline refused what it must
    assert no_reason.json()["code"] == "audience.lead_lost_reason"
    assert backwards.json()["code"] == "audience.lead_bad_transition"
    page = app_client.get(f"/api/audience/leads/{first}", headers=wang.headers).json()
    assert page["lead"]["status"] == "won"
    assert [f["id"] for f in page["follow_ups"]] == [done["id"]]
    assert page["follow_ups"][0]["note"] == "有意向，周五回电"
    # and the report: wang 2 leads, 1 contacted within 24 h, 1 won; li 1, 0, 0
    rows = sorted(
        (r["leads"], r["contacted_within_24h"], r["won"], r["lost"], r["conversion"])
        for r in api.get("/api/audience/leads/report").json()
        if r["leads"]
    )
    assert rows == [(1, 0, 0, 0, 0.0), (2, 1, 1, 1, 0.5)]


def test_a_lead_without_follow_up_goes_back_to_the_pool_after_a_warning(
    api: TestClient,
    app_client: TestClient,
    db: Database,
    people: dict[str, int],
    sellers: tuple[Staff, Staff],
    frozen_clock: FrozenClock,
) -> None:
    first, second, *_ = _pool(api, reclaim_days=3)
    wang = sellers[0]
    post(app_client, f"/{first}/claim", headers=wang.headers)
    post(app_client, f"/{second}/claim", headers=wang.headers)
    operator = wang.principal.operator_id
    # when two days and an hour pass, wang follows up the second, and the sweep runs twice
    frozen_clock.advance(timedelta(days=2, hours=1))
    post(app_client, f"/{second}/follow-ups", {"channel": "visit"}, headers=wang.headers)
    sweep_leads.call_local()
    sweep_leads.call_local()
    # then wang is warned once about the first only
    assert notices(db)[-1:] == [("reclaim_warning", operator, first)]
    assert [n for n in notices(db) if n[0] == "reclaim_warning"] == [
        ("reclaim_warning", operator, first)
    ]
    assert leads_by_member(db)[_member_of(db, first)].owner_id == operator
    # when the third day ends
    frozen_clock.advance(timedelta(hours=23))
    sweep_leads.call_local()
    # then the first is back in the pool (wang told), the followed-up one stays his
    assert notices(db)[-1] == ("reclaimed", operator, first)
    pool = api.get("/api/audience/leads", params={"view": "pool"}).json()
    assert first in [i["id"] for i in pool["items"]]
    mine = app_client.get("/api/audience/leads", headers=wang.headers).json()
    assert [i["id"] for i in mine["items"]] == [second]
    assert "audience.leads_reclaimed" in audit_actions(db)


def _member_of(db: Database, lead_id: int) -> int:
    return next(m for m, lead in leads_by_member(db).items() if lead.id == lead_id)


def test_a_payment_of_the_configured_course_wins_the_lead_once(
    pay_env: PayEnv, pay_staff: TestClient
) -> None:
    # given the member is a lead claimed by a salesperson, and payments of `course:` win
    db, api = pay_env.db, pay_staff
    seller = make_staff(db, pay_env.workspace_id, Role.sales)
    rule(api, name="用过小程序", kind="condition", points=5, condition=EVERYONE)
    policy(api, threshold=5, won_references=["course:"])
    score(api)
    (lead,) = leads_by_member(db).values()
    post(api, f"/{lead.id}/claim", headers=seller.headers)
    # when the member pays a deposit of something else, then the course, notified twice
    pay_env.pay_order(pay_env.order(reference="activity:1"))
    assert leads_by_member(db)[pay_env.member_id].status == "new"
    notification = pay_env.pay_order(pay_env.order(amount=19900, reference="course:py-1"))
    assert pay_env.pay.deliver(notification)
    # then the lead is won once, by that order
    won = leads_by_member(db)[pay_env.member_id]
    assert won.status == "won"
    assert won.won_order_id is not None
    assert audit_actions(db).count("audience.lead_won") == 1
    report = [r for r in api.get("/api/audience/leads/report").json() if r["leads"]]
    assert [(r["leads"], r["won"], r["conversion"]) for r in report] == [(1, 1, 1.0)]


def test_new_leads_go_round_robin_and_by_capacity(
    api: TestClient, db: Database, people: dict[str, int], sellers: tuple[Staff, Staff]
) -> None:
    wang, li = (s.principal.operator_id for s in sellers)
    rule(api, name="用过小程序", kind="condition", points=5, condition=EVERYONE)
    # given round-robin over wang and li with a capacity of one open lead each
    policy(api, threshold=5, assignment="round_robin", assignees=[wang, li], capacity=1)
    # when four leads are made
    result = score(api)
    # then wang and li get one each, two stay in the pool, and each was told
    owners = sorted(lead.owner_id or 0 for lead in leads_by_member(db).values())
    assert result["assigned"] == 2
    assert owners == sorted([0, 0, wang, li])
    assert sorted(o for k, o, _ in notices(db) if k == "assigned") == sorted([wang, li])
    # and an assignee who cannot take leads is refused, naming them
    refused = api.put("/api/audience/leads/settings", json={"assignees": [99]})
    assert refused.json()["code"] == "audience.lead_assignee_invalid"


@pytest.mark.postgres_only
def test_concurrent_claims_never_pass_the_daily_cap(
    api: TestClient, db: Database, people: dict[str, int], sellers: tuple[Staff, Staff]
) -> None:
    # given four pool leads and a cap of two a day
    lead_ids = _pool(api, cap=2)
    principal: Principal = sellers[0].principal
    start = threading.Barrier(len(lead_ids))
    outcomes: list[str] = []

    def claim(lead_id: int) -> None:
        start.wait(timeout=30)
        try:
            with db.session_scope() as session:
                service.leads.claim_lead(session, principal, lead_id)
            outcomes.append("ok")
        except Exception as exc:  # the refusals are counted below
            outcomes.append(getattr(exc, "code", repr(exc)))

    # when the salesperson claims all four at the same moment
    threads = [threading.Thread(target=claim, args=(i,)) for i in lead_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # then exactly two were taken, the others refused by the cap
    assert sorted(outcomes) == ["audience.claim_cap_reached"] * 2 + ["ok"] * 2
    assert counts(db)["owned"] == counts(db)["claimed"] == 2


def test_the_cli_scores_lists_and_claims(
    cli: CliRunner, api: TestClient, db: Database, people: dict[str, int],
    sellers: tuple[Staff, Staff],
) -> None:  # fmt: skip
    # given a rule that makes every member a lead
    rule(api, name="用过小程序", kind="condition", points=5, condition=EVERYONE)
    policy(api, threshold=5)
    # when the workspace is scored from the command line
    code, output = run(cli, "leads", "score", "--json")
    assert code == 0, output
    assert json.loads(output) == {"scored": 4, "leads_created": 4, "assigned": 0}
    # then the pool lists them, a salesperson claims one, and a member's score has its reason
    code, output = run(cli, "leads", "list", "--view", "pool", "--json")
    assert code == 0, output
    first = json.loads(output)["items"][0]["id"]
    email = sellers[0].principal.email
    code, output = run(cli, "leads", "claim", str(first), "--as", email, "--json")
    assert code == 0, output
    assert json.loads(output)["owner_id"] == sellers[0].principal.operator_id
    code, output = run(cli, "leads", "list", "--as", email, "--json")
    assert [i["id"] for i in json.loads(output)["items"]] == [first]
    code, output = run(cli, "leads", "score", "--member", "10001", "--json")
    assert json.loads(output)["reasons"][0]["rule"] == "用过小程序"
    # and a claim of a lead another holds fails naming the problem
    code, output = run(cli, "leads", "claim", str(first), "--as", sellers[1].principal.email)
    assert code == 1
    assert "lead_not_yours" in output or "其他销售" in output


def test_a_salesperson_claims_and_follows_up_in_the_console(
    api: TestClient, app_client: TestClient, db: Database, people: dict[str, int],
    sellers: tuple[Staff, Staff],
) -> None:  # fmt: skip
    first, *_ = _pool(api)
    del app_client.headers["Authorization"]
    wang = sellers[0].principal
    assert sign_in(app_client, email=wang.email, password=PASSWORD).status_code == 303
    # when wang opens the pool, claims the first lead and records a call with a next date
    pool = app_client.get("/leads?view=pool")
    assert pool.status_code == 200
    assert "公海" in pool.text
    assert 'class="table-wrap"' in pool.text
    csrf = session_csrf(pool.text)
    claimed = app_client.post(f"/leads/{first}/claim", data={"csrf_token": csrf},
                              follow_redirects=False)  # fmt: skip
    assert claimed.status_code == 303
    done = app_client.post(
        f"/leads/{first}/follow-ups",
        data={"csrf_token": csrf, "channel": "call", "note": "下周再约", "next_date": "2026-11-25"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    # then the lead's page shows its reason, the follow-up and the stage
    page = app_client.get(f"/leads/{first}")
    assert page.status_code == 200
    for text in ("用过小程序", "下周再约", "已联系", "电话"):
        assert text in page.text
    # and the nav shows 线索, while the manager's report is not on the salesperson's page
    assert "销售报表" not in app_client.get("/leads?view=all").text
