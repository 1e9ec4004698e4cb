"""Consents: granted through an entry, withdrawn, asked for by other domains; a member manages
theirs from the Mini Program."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from siyu.core.db import Database
from siyu.identity import service as identity
from siyu.identity.enums import ConsentPurpose
from siyu.security.schemas import Principal
from siyu.workspaces.schemas import AppRead
from tests.support.names import MP_APPID
from tests.support.people import MP_TOKEN, Person, make_person


@pytest.fixture
def person(
    db: Database, workspace_id: int, mp_app: AppRead, oa_app: AppRead, owner: Principal
) -> Person:
    return make_person(db, workspace_id, mp_app, oa_app, owner)


def test_consent_is_granted_withdrawn_and_asked_for(
    db: Database, person: Person, workspace_id: int
) -> None:
    with db.session_scope() as session:
        assert identity.has_consent(session, person.member_id, ConsentPurpose.marketing)
        assert not identity.has_consent(session, person.member_id, "subscription")
        # a grant recorded on the member merged away counts for the person
        identity.grant_consent(
            session,
            workspace_id,
            person.merged_id,
            ConsentPurpose.subscription,
            entry="oa:menu",
            actor="test",
        )
    with db.session_scope() as session:
        assert identity.has_consent(session, person.member_id, ConsentPurpose.subscription)
        withdrawn = identity.withdraw_consent(
            session, workspace_id, person.member_id, ConsentPurpose.subscription, via="console"
        )
    assert withdrawn == 1
    with db.session_scope() as session:
        assert not identity.has_consent(session, person.member_id, ConsentPurpose.subscription)
        assert not identity.has_consent(session, 999_999, ConsentPurpose.marketing)
        history = identity.list_consents(session, workspace_id, person.member_id)
    assert [(c.purpose, c.withdrawn_via) for c in history] == [
        ("marketing", None),
        ("subscription", "console"),
    ]


def test_a_member_manages_consent_from_the_mini_program(
    db: Database, person: Person, app_client: TestClient
) -> None:
    headers = {"Authorization": f"Bearer {MP_TOKEN}"}
    withdrawn = app_client.post(
        f"/api/mp/{MP_APPID}/me/consents",
        json={"purpose": "marketing", "granted": False},
        headers=headers,
    )
    assert withdrawn.status_code == 200
    assert withdrawn.json()[0]["withdrawn_via"] == f"mp:{MP_APPID}"
    granted = app_client.post(
        f"/api/mp/{MP_APPID}/me/consents",
        json={"purpose": "subscription", "granted": True},
        headers=headers,
    )
    assert granted.json()[-1]["entry"] == f"mp:{MP_APPID}"
    with db.session_scope() as session:
        assert not identity.has_consent(session, person.member_id, ConsentPurpose.marketing)
        assert identity.has_consent(session, person.member_id, ConsentPurpose.subscription)


def test_bad_consent_requests_change_nothing(
    db: Database, person: Person, app_client: TestClient
) -> None:
    for body, headers in (
        ({"purpose": "spam", "granted": True}, {"Authorization": f"Bearer {MP_TOKEN}"}),
        ({"purpose": "marketing", "granted": False}, {"Authorization": "Bearer forged"}),
        ({"purpose": "marketing", "granted": False}, {}),
    ):
        response = app_client.post(f"/api/mp/{MP_APPID}/me/consents", json=body, headers=headers)
        assert response.status_code in (401, 422)
    with db.session_scope() as session:
        assert identity.has_consent(session, person.member_id, ConsentPurpose.marketing)


def test_consent_of_another_workspace_member_is_not_found(
    db: Database, person: Person, owner: Principal
) -> None:
    from siyu.workspaces import service as workspaces

    with db.session_scope() as session:
        other = workspaces.create_workspace(session, "别家").id
    with pytest.raises(Exception, match="not found"), db.session_scope() as session:
        identity.grant_consent(
            session, other, person.member_id, ConsentPurpose.marketing, entry="x", actor="y"
        )
    with db.session_scope() as session:
        assert len(identity.member_family(session, owner.workspace_id, person.member_id)) == 2
