"""Operators: argon2 passwords, sessions, API tokens, the first-run owner."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from siyu.core.clock import FrozenClock
from siyu.core.db import Database
from siyu.core.errors import Conflict, Invalid, Unauthorized
from siyu.security import service
from siyu.security.models import ApiToken, Operator, OperatorSession
from siyu.security.schemas import Principal
from tests.support.names import OWNER_EMAIL, OWNER_PASSWORD


def test_bootstrap_creates_one_owner_with_a_one_time_password(
    db: Database, workspace_id: int
) -> None:
    with db.session_scope() as session:
        first = service.bootstrap_owner(session, workspace_id, "boss@example.com", None)
    with db.session_scope() as session:
        second = service.bootstrap_owner(session, workspace_id, "boss@example.com", None)
    assert first.created
    assert first.password
    assert not second.created
    assert second.password is None
    with db.session_scope() as session:
        principal = service.authenticate(session, "Boss@Example.com", first.password)
        stored = session.scalars(select(Operator.password_hash)).one()
    assert principal.role == "owner"
    assert stored.startswith("$argon2")
    assert first.password not in stored


def test_bootstrap_takes_the_configured_password(db: Database, workspace_id: int) -> None:
    with db.session_scope() as session:
        result = service.bootstrap_owner(session, workspace_id, "a@b.cn", "from-settings-123")
    assert result.created
    assert result.password is None
    with db.session_scope() as session:
        assert service.authenticate(session, "a@b.cn", "from-settings-123").email == "a@b.cn"


@pytest.mark.parametrize(
    ("email", "password"), [(OWNER_EMAIL, "wrong password"), ("nobody@example.com", OWNER_PASSWORD)]
)
def test_wrong_credentials_get_one_generic_error(
    db: Database, owner: Principal, email: str, password: str
) -> None:
    with pytest.raises(Unauthorized) as caught, db.session_scope() as session:
        service.authenticate(session, email, password)
    assert caught.value.code == "security.bad_credentials"


def test_weak_password_and_duplicate_email_are_refused(db: Database, owner: Principal) -> None:
    with pytest.raises(Invalid), db.session_scope() as session:
        service.create_operator(session, owner.workspace_id, "new@example.com", "short")
    with pytest.raises(Conflict), db.session_scope() as session:
        service.create_operator(session, owner.workspace_id, OWNER_EMAIL, "long enough pw")


def test_session_expires_and_ends(
    db: Database, owner: Principal, frozen_clock: FrozenClock
) -> None:
    with db.session_scope() as session:
        started = service.start_session(session, owner, hours=2)
    with db.session_scope() as session:
        assert service.principal_for_session(session, started.token) is not None
        stored = session.scalars(select(OperatorSession.token_hash)).one()
    assert started.token not in stored
    frozen_clock.advance(timedelta(hours=2, seconds=1))
    with db.session_scope() as session:
        assert service.principal_for_session(session, started.token) is None
    frozen_clock.advance(timedelta(hours=-3))
    with db.session_scope() as session:
        service.end_session(session, started.token)
    with db.session_scope() as session:
        assert service.principal_for_session(session, started.token) is None


def test_disabled_operator_loses_sessions_and_tokens(db: Database, owner: Principal) -> None:
    with db.session_scope() as session:
        started = service.start_session(session, owner, hours=2)
        token = service.create_api_token(session, owner.operator_id, "script").token
    with db.session_scope() as session:
        operator = session.get(Operator, owner.operator_id)
        assert operator is not None
        operator.disabled_at = operator.created_at
    with db.session_scope() as session:
        assert service.principal_for_session(session, started.token) is None
        assert service.principal_for_token(session, token) is None
        with pytest.raises(Unauthorized):
            service.authenticate(session, OWNER_EMAIL, OWNER_PASSWORD)


def test_api_token_is_stored_hashed_and_revocable(db: Database, owner: Principal) -> None:
    with db.session_scope() as session:
        token = service.create_api_token(session, owner.operator_id, "crm").token
    with db.session_scope() as session:
        row = session.scalars(select(ApiToken)).one()
        assert token not in row.token_hash
        assert service.principal_for_token(session, token) is not None
        row.revoked_at = row.created_at
    with db.session_scope() as session:
        assert service.principal_for_token(session, token) is None
