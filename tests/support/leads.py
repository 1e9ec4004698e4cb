"""Sales leads in tests: the rules and policy of the examples, what the lead tables hold."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from siyu.audience.models import Lead, LeadClaimDay, LeadFollowUp, LeadNotice, LeadScore
from siyu.core.db import Database


def post(client: TestClient, path: str, body: Any = None, **kwargs: Any) -> Any:
    response = client.post(f"/api/audience/leads{path}", json=body, **kwargs)
    assert response.status_code in (200, 201), response.text
    return response.json()


def rule(client: TestClient, **body: Any) -> dict[str, Any]:
    return dict(post(client, "/rules", body))


def policy(client: TestClient, **body: Any) -> dict[str, Any]:
    response = client.put("/api/audience/leads/settings", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def score(client: TestClient) -> dict[str, Any]:
    return dict(post(client, "/score"))


def leads_by_member(db: Database) -> dict[int, Lead]:
    with db.session_scope() as session:
        rows = session.scalars(select(Lead)).all()
        session.expunge_all()
        return {row.member_id: row for row in rows}


def scores(db: Database) -> dict[int, int]:
    with db.session_scope() as session:
        return {
            int(m): int(s)
            for m, s in session.execute(select(LeadScore.member_id, LeadScore.score)).all()
        }


def notices(db: Database) -> list[tuple[str, int, int]]:
    """(kind, operator, lead) of every notice, in order."""
    with db.session_scope() as session:
        rows = session.execute(
            select(LeadNotice.kind, LeadNotice.operator_id, LeadNotice.lead_id).order_by(
                LeadNotice.id
            )
        )
        return [(str(k), int(o), int(lead)) for k, o, lead in rows]


def counts(db: Database) -> dict[str, int]:
    with db.session_scope() as session:
        return {
            model.__tablename__: int(session.scalar(select(func.count()).select_from(model)) or 0)
            for model in (Lead, LeadFollowUp, LeadNotice)
        } | {
            "claimed": int(session.scalar(select(func.sum(LeadClaimDay.claimed))) or 0),
            "owned": int(
                session.scalar(
                    select(func.count()).select_from(Lead).where(Lead.owner_id.is_not(None))
                )
                or 0
            ),
        }
