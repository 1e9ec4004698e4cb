"""Passwords after sign-up: the rules, changing one's own, one-time passwords and resets, in the
service and through the API."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from siyu.core.db import Database
from siyu.core.errors import SiyuError
from siyu.security import service
from siyu.security.enums import Role
from siyu.security.models import Operator, OperatorSession
from siyu.security.schemas import Principal
from tests.support.names import OWNER_EMAIL, OWNER_PASSWORD
from tests.support.security import PASSWORD, Staff, audit_actions, row_counts

NEW_PASSWORD = "a brand new passphrase"


def _hash_of(db: Database, email: str) -> tuple[str, bool]:
    with db.session_scope() as session:
        row = session.scalars(select(Operator).where(Operator.email == email)).one()
        return row.password_hash, row.password_one_time


def _open_sessions(db: Database, operator_id: int) -> list[int]:
    with db.session_scope() as session:
        return list(
            session.scalars(
                select(OperatorSession.id).where(
                    OperatorSession.operator_id == operator_id, OperatorSession.ended_at.is_(None)
                )
            )
        )


@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("short", "security.weak_password"),
        ("x" * 1025, "security.password_too_long"),
        ("OWNER@example.com!!", "security.password_is_email"),
        ("my owner password", "security.password_is_email"),
    ],
)
def test_password_rules_refuse_and_keep_the_password(
    db: Database, owner: Principal, password: str, code: str
) -> None:
    # given the owner; when they choose a password that breaks a rule
    before = _hash_of(db, OWNER_EMAIL)
    with pytest.raises(SiyuError) as caught, db.session_scope() as session:
        service.change_password(session, owner, OWNER_PASSWORD, password)
    # then the code names the rule, its text is Chinese, and the password stays
    assert caught.value.code == code
    assert caught.value.status == 422
    assert before == _hash_of(db, OWNER_EMAIL)


def test_change_password_ends_other_sessions_and_keeps_this_one(
    db: Database, owner: Principal
) -> None:
    # given the owner signed in on two browsers
    with db.session_scope() as session:
        here = service.start_session(session, owner, hours=2)
        elsewhere = service.start_session(session, owner, hours=2)
    # when they change their password from the first
    with db.session_scope() as session:
        service.change_password(
            session, owner, OWNER_PASSWORD, NEW_PASSWORD, session_token=here.token
        )
    # then the first still works, the second ended, and only the new password signs in
    with db.session_scope() as session:
        assert service.principal_for_session(session, here.token) is not None
        assert service.principal_for_session(session, elsewhere.token) is None
        assert service.authenticate(session, OWNER_EMAIL, NEW_PASSWORD).email == OWNER_EMAIL
    with pytest.raises(SiyuError) as caught, db.session_scope() as session:
        service.authenticate(session, OWNER_EMAIL, OWNER_PASSWORD)
    assert caught.value.code == "security.bad_credentials"
    assert audit_actions(db) == ["operator.password_changed"]


def test_wrong_current_password_changes_nothing(db: Database, owner: Principal) -> None:
    # given the owner with a session
    with db.session_scope() as session:
        here = service.start_session(session, owner, hours=2)
    before = _hash_of(db, OWNER_EMAIL)
    # when the current password given is wrong
    with pytest.raises(SiyuError) as caught, db.session_scope() as session:
        service.change_password(session, owner, "not my password", NEW_PASSWORD)
    # then it is refused, nothing changed, no session ended, nothing audited
    assert caught.value.code == "security.wrong_password"
    assert before == _hash_of(db, OWNER_EMAIL)
    assert len(_open_sessions(db, owner.operator_id)) == 1
    assert audit_actions(db) == []
    with db.session_scope() as session:
        assert service.principal_for_session(session, here.token) is not None


def test_a_double_submit_is_harmless(db: Database, owner: Principal) -> None:
    # given a password change sent, then sent again (a double click)
    with db.session_scope() as session:
        service.change_password(session, owner, OWNER_PASSWORD, NEW_PASSWORD)
    first = _hash_of(db, OWNER_EMAIL)
    with db.session_scope() as session:
        again = service.change_password(session, owner, OWNER_PASSWORD, NEW_PASSWORD)
    # then the second answers as the first did and changes nothing
    assert again.email == OWNER_EMAIL
    assert _hash_of(db, OWNER_EMAIL) == first
    assert audit_actions(db) == ["operator.password_changed"]


def test_new_operators_get_a_one_time_password_until_they_change_it(
    db: Database, owner: Principal
) -> None:
    # given an operator added by the owner
    with db.session_scope() as session:
        service.add_operator(session, owner, "new@example.com", PASSWORD, name="", role=Role.sales)
    with db.session_scope() as session:
        signed_in = service.authenticate(session, "new@example.com", PASSWORD)
    # then their sign-in says they must change it
    assert signed_in.password_change_required
    # when they change it, then it no longer does
    with db.session_scope() as session:
        service.change_password(session, signed_in, PASSWORD, NEW_PASSWORD)
    with db.session_scope() as session:
        assert not service.authenticate(
            session, "new@example.com", NEW_PASSWORD
        ).password_change_required


def test_generated_owner_password_is_one_time(db: Database, workspace_id: int) -> None:
    with db.session_scope() as session:
        made = service.bootstrap_owner(session, workspace_id, "boss@example.com", None)
        configured = service.bootstrap_owner(session, workspace_id, "x@example.com", "unused-pw")
    assert made.password is not None
    assert not configured.created
    with db.session_scope() as session:
        owner = service.authenticate(session, "boss@example.com", made.password)
    assert owner.password_change_required


def test_admin_resets_a_password_to_a_one_time_one(
    db: Database, owner: Principal, staff: dict[Role, Staff]
) -> None:
    admin, target = staff[Role.admin].principal, staff[Role.operator].principal
    with db.session_scope() as session:
        target_session = service.start_session(session, target, hours=2)
    # when an admin resets the operator's password
    with db.session_scope() as session:
        reset = service.reset_password(session, admin, target.operator_id)
    # then the operator's sessions ended, the old password fails, the one-time one works once
    # and asks for their own; the reset is audited (the password is not)
    with db.session_scope() as session:
        assert service.principal_for_session(session, target_session.token) is None
        assert service.authenticate(
            session, target.email, reset.one_time_password
        ).password_change_required
    with pytest.raises(SiyuError), db.session_scope() as session:
        service.authenticate(session, target.email, PASSWORD)
    assert audit_actions(db)[-1] == "operator.password_reset"
    # and their API token still works (a forgotten password is no leak)
    with db.session_scope() as session:
        assert service.principal_for_token(session, staff[Role.operator].token) is not None


@pytest.mark.parametrize(
    ("actor", "target", "code"),
    [
        (Role.admin, Role.owner, "security.forbidden"),  # only an owner resets an owner
        (Role.admin, Role.admin, "security.reset_self"),  # one's own: change it instead
    ],
)
def test_refused_resets_change_nothing(
    db: Database,
    owner: Principal,
    staff: dict[Role, Staff],
    actor: Role,
    target: Role,
    code: str,
) -> None:
    acting = staff[actor].principal
    victim = owner if target == Role.owner else acting
    before = _hash_of(db, victim.email)
    audited = audit_actions(db)
    with pytest.raises(SiyuError) as caught, db.session_scope() as session:
        service.reset_password(session, acting, victim.operator_id)
    assert caught.value.code == code
    assert _hash_of(db, victim.email) == before
    assert audit_actions(db) == audited


def test_api_reset_by_a_non_admin_is_403_and_changes_nothing(
    app_client: TestClient, db: Database, staff: dict[Role, Staff]
) -> None:
    target = staff[Role.sales].principal
    before, counts = _hash_of(db, target.email), row_counts(db, without=("audit_log",))
    answer = app_client.post(
        f"/api/operators/{target.operator_id}/reset-password",
        headers=staff[Role.operator].headers,
    )
    assert answer.status_code == 403
    assert answer.json()["code"] == "security.forbidden"
    assert _hash_of(db, target.email) == before
    assert row_counts(db, without=("audit_log",)) == counts


def test_api_change_and_reset(
    app_client: TestClient, db: Database, staff: dict[Role, Staff]
) -> None:
    # an operator changes their own password through the API with their token
    me = staff[Role.operator]
    wrong = app_client.post(
        "/api/me/password",
        json={"current_password": "nope", "new_password": NEW_PASSWORD},
        headers=me.headers,
    )
    assert wrong.status_code == 422
    assert wrong.json()["code"] == "security.wrong_password"
    changed = app_client.post(
        "/api/me/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=me.headers,
    )
    assert changed.status_code == 200, changed.text
    # an admin resets it: the answer holds the one-time password, once
    reset = app_client.post(
        f"/api/operators/{me.principal.operator_id}/reset-password",
        headers=staff[Role.admin].headers,
    )
    assert reset.status_code == 200, reset.text
    one_time = reset.json()["one_time_password"]
    with db.session_scope() as session:
        assert service.authenticate(session, me.principal.email, one_time).password_change_required
