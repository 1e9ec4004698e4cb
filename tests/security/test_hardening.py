"""Hardening: sign-in lockout kept in the database, CSRF on every console form and write,
security headers, disabling an operator ends their sessions and tokens."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from siyu.core.clock import FrozenClock
from siyu.core.db import Database
from siyu.core.errors import Conflict, Forbidden, SiyuError
from siyu.security import service
from siyu.security.enums import Role
from siyu.security.models import LoginFailure
from siyu.security.schemas import Principal
from tests.support.names import OWNER_EMAIL, OWNER_PASSWORD
from tests.support.routes import routes, url_for_nothing
from tests.support.security import Staff, audit_actions, row_counts

TEMPLATES = Path(__file__).parents[2] / "src" / "siyu" / "console" / "templates"


def _login(client: TestClient, password: str) -> int:
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    response = client.post(
        "/login",
        data={"email": OWNER_EMAIL, "password": password, "csrf_token": token.group(1)},
        follow_redirects=False,
    )
    return response.status_code


def test_five_failures_lock_the_account_even_for_the_right_password(
    db: Database, app_client: TestClient, owner: Principal, frozen_clock: FrozenClock
) -> None:
    # given five wrong passwords
    assert [_login(app_client, f"wrong password {i}") for i in range(5)] == [401] * 5
    # when the right one comes next
    locked = _login(app_client, OWNER_PASSWORD)
    # then it is refused too, while the lock lasts, and counted in the database
    assert locked == 429
    with db.session_scope() as session:
        assert (session.scalar(select(func.count()).select_from(LoginFailure)) or 0) >= 5
    # and after the window the right password opens the door and clears the count
    frozen_clock.advance(service.LOGIN_WINDOW + timedelta(seconds=1))
    assert _login(app_client, OWNER_PASSWORD) == 303


def test_the_lock_holds_across_processes(
    db: Database, owner: Principal, frozen_clock: FrozenClock
) -> None:
    # given failures recorded by one process
    for _ in range(service.LOGIN_MAX_PER_EMAIL):
        with db.session_scope() as session:
            service.record_login_failure(session, OWNER_EMAIL, "10.0.0.1")
    # then another process (a new session, nothing in memory) refuses the sign-in
    with pytest.raises(SiyuError) as caught, db.session_scope() as session:
        service.authenticate(session, OWNER_EMAIL, OWNER_PASSWORD, client="10.0.0.2")
    assert caught.value.code == "security.login_locked"
    assert caught.value.status == 429


def test_a_client_address_is_locked_after_many_emails(
    db: Database, owner: Principal, frozen_clock: FrozenClock
) -> None:
    for n in range(service.LOGIN_MAX_PER_CLIENT):
        with db.session_scope() as session:
            service.record_login_failure(session, f"guess{n}@example.com", "10.9.9.9")
    with pytest.raises(SiyuError) as caught, db.session_scope() as session:
        service.authenticate(session, OWNER_EMAIL, OWNER_PASSWORD, client="10.9.9.9")
    assert caught.value.code == "security.login_locked"
    with db.session_scope() as session:  # from elsewhere the owner still signs in
        assert service.authenticate(session, OWNER_EMAIL, OWNER_PASSWORD, client="10.1.1.1")


def test_every_console_form_carries_the_csrf_token() -> None:
    forms = 0
    for template in TEMPLATES.glob("*.html"):
        for form in re.findall(r"<form\b.*?</form>", template.read_text(), flags=re.S):
            if re.search(r'method="post"', form):
                forms += 1
                has_token = 'name="csrf_token"' in form
                assert has_token, (template.name, form[:120])
    assert forms >= 10


def test_every_console_write_refuses_a_session_without_the_csrf_token(
    db: Database, app_client: TestClient, owner: Principal
) -> None:
    # given a signed-in browser
    assert _login(app_client, OWNER_PASSWORD) == 303
    before = row_counts(db, without=("audit_log",))
    application = app_client.app
    # when every console POST arrives without the token
    for method, path, needed in routes(application):  # type: ignore[arg-type]
        if needed is None or method != "POST" or path.startswith("/api/") or path == "/logout":
            continue
        response = app_client.post(
            url_for_nothing(path), headers={"HX-Request": "true"}, follow_redirects=False
        )
        # then it is refused as forged
        assert response.status_code in (403, 422), (path, response.status_code)
        if response.status_code == 403:
            assert "auth.csrf_failed" in response.text, path
    assert row_counts(db, without=("audit_log",)) == before


def test_security_headers_on_pages_and_api(app_client: TestClient) -> None:
    for path in ("/login", "/api/me", "/healthz"):
        headers = app_client.get(path).headers
        assert "default-src 'self'" in headers["content-security-policy"]
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "same-origin"


def test_disabling_an_operator_ends_their_sessions_and_tokens(
    db: Database, app_client: TestClient, staff: dict[Role, Staff]
) -> None:
    target = staff[Role.operator]
    with db.session_scope() as session:
        started = service.start_session(session, target.principal, hours=2)
    assert app_client.get("/api/me", headers=target.headers).status_code == 200
    # when an admin disables them
    response = app_client.patch(
        f"/api/operators/{target.principal.operator_id}",
        json={"disabled": True},
        headers=staff[Role.admin].headers,
    )
    # then their token and session stop working at once, and it is audited
    assert response.status_code == 200
    assert app_client.get("/api/me", headers=target.headers).status_code == 401
    with db.session_scope() as session:
        assert service.principal_for_session(session, started.token) is None
    assert "operator.disabled" in audit_actions(db)


def test_role_rules_an_admin_cannot_make_or_touch_an_owner(
    db: Database, staff: dict[Role, Staff]
) -> None:
    admin, owner = staff[Role.admin].principal, staff[Role.owner].principal
    with pytest.raises(Forbidden), db.session_scope() as session:
        service.change_role(session, admin, admin.operator_id, Role.owner)
    with pytest.raises(Forbidden), db.session_scope() as session:
        service.disable_operator(session, admin, owner.operator_id)
    with pytest.raises(Conflict) as caught, db.session_scope() as session:
        service.disable_operator(session, owner, owner.operator_id)
    assert caught.value.code == "security.disable_self"
    # the last owner keeps the role
    with db.session_scope() as session:
        service.disable_operator(session, owner, staff[Role.operator].principal.operator_id)
    with pytest.raises(Conflict) as last, db.session_scope() as session:
        service.change_role(session, owner, owner.operator_id, Role.admin)
    assert last.value.code == "security.last_owner"


def test_role_change_is_audited_with_before_and_after(
    db: Database, api: TestClient, staff: dict[Role, Staff]
) -> None:
    target = staff[Role.sales].principal.operator_id
    response = api.patch(f"/api/operators/{target}", json={"role": "customer_service"})
    assert response.status_code == 200
    assert response.json()["role"] == "customer_service"
    entries = api.get("/api/audit", params={"action": "operator.role_changed"}).json()
    assert entries[0]["detail"] == {"from": "sales", "to": "customer_service"}
    assert entries[0]["target_id"] == str(target)
