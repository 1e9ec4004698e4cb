"""我的账号 and 操作员 as a person uses them: a one-time password replaced at the first sign-in,
one's own password changed (sessions elsewhere end), and an admin resetting another's."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from siyu.core.db import Database
from siyu.security import service as security
from siyu.security.enums import Role
from siyu.security.models import Operator
from siyu.security.schemas import Principal
from tests.support.console import session_csrf, sign_in
from tests.support.names import OWNER_EMAIL, OWNER_PASSWORD
from tests.support.security import PASSWORD, Staff, audit_actions

NEW_PASSWORD = "my own passphrase 42"
NEWCOMER = "newcomer@example.com"


def _stored(db: Database, email: str) -> tuple[str, bool]:
    with db.session_scope() as session:
        row = session.scalars(select(Operator).where(Operator.email == email)).one()
        return row.password_hash, row.password_one_time


def _change(client: TestClient, current: str, new: str, confirm: str, next_url: str = "") -> Any:
    csrf = session_csrf(client.get("/account").text)
    return client.post(
        "/account/password",
        data={
            "csrf_token": csrf,
            "current": current,
            "new": new,
            "confirm": confirm,
            "next": next_url,
        },
        follow_redirects=False,
    )


def test_a_one_time_password_must_be_replaced_before_any_other_page(
    app_client: TestClient, db: Database, owner: Principal
) -> None:
    # given an operator the owner added with a first password
    with db.session_scope() as session:
        added = security.add_operator(
            session, owner, NEWCOMER, PASSWORD, name="新人", role=Role.operator
        )
        token = security.create_api_token(session, added.id, "script").token
    # when they sign in, they land on 我的账号, told to set their own
    signed_in = sign_in(app_client, "/members", email=NEWCOMER, password=PASSWORD)
    assert signed_in.headers["location"] == "/account?next=%2Fmembers"
    page = app_client.get(signed_in.headers["location"])
    assert "一次性密码" in page.text
    # and every other page sends them back there; the API refuses their session
    members = app_client.get("/members", follow_redirects=False)
    assert members.status_code == 303
    assert members.headers["location"].startswith("/account?next=")
    refused = app_client.get("/api/members")
    assert refused.status_code == 403
    assert refused.json()["code"] == "security.password_change_required"
    # while an API token of theirs is not held back
    by_token = app_client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert by_token.status_code == 200
    # a mismatched confirmation is refused in Chinese and changes nothing
    before = _stored(db, NEWCOMER)
    mismatch = _change(app_client, PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "x", "/members")
    assert mismatch.status_code == 422
    assert "两次输入的新密码不一致" in mismatch.text
    assert _stored(db, NEWCOMER) == before
    # when they set their own, they go on to the page they asked for, which now opens
    done = _change(app_client, PASSWORD, NEW_PASSWORD, NEW_PASSWORD, "/members")
    assert done.status_code == 303
    assert done.headers["location"] == "/members"
    assert app_client.get("/members", follow_redirects=False).status_code == 200
    assert _stored(db, NEWCOMER)[1] is False


def test_changing_ones_password_ends_the_other_sessions_only(
    app_client: TestClient, db: Database, owner: Principal
) -> None:
    # given the owner signed in on two browsers
    assert sign_in(app_client).status_code == 303
    elsewhere = app_client.cookies.get("siyu_session")
    app_client.cookies.clear()
    assert sign_in(app_client).status_code == 303
    here = app_client.cookies.get("siyu_session")
    assert elsewhere is not None
    assert here not in (None, elsewhere)
    # when a wrong current password is sent: an error code, nothing changed
    before = _stored(db, OWNER_EMAIL)
    wrong = _change(app_client, "not the password", NEW_PASSWORD, NEW_PASSWORD)
    assert wrong.status_code == 422
    assert "当前密码不正确" in wrong.text
    assert "security.wrong_password" in wrong.text
    assert _stored(db, OWNER_EMAIL) == before
    # when the right one is sent (twice, as a double click does)
    first = _change(app_client, OWNER_PASSWORD, NEW_PASSWORD, NEW_PASSWORD)
    again = _change(app_client, OWNER_PASSWORD, NEW_PASSWORD, NEW_PASSWORD)
    # then both land on the page saying it changed; the change happened once
    assert first.headers["location"] == again.headers["location"] == "/account?changed=1"
    assert "密码已修改" in app_client.get(first.headers["location"]).text
    assert audit_actions(db).count("operator.password_changed") == 1
    # this browser stays signed in; the other one is signed out
    assert app_client.get("/", follow_redirects=False).status_code == 200
    app_client.cookies.clear()
    app_client.cookies.set("siyu_session", elsewhere)
    assert app_client.get("/", follow_redirects=False).headers["location"].startswith("/login")


def _admin_console(app_client: TestClient, staff: dict[Role, Staff], role: Role) -> str:
    email = staff[role].principal.email
    assert sign_in(app_client, email=email, password=PASSWORD).status_code == 303
    return session_csrf(app_client.get("/account").text)


def test_an_admin_resets_a_password_shown_once(
    app_client: TestClient, db: Database, owner: Principal, staff: dict[Role, Staff]
) -> None:
    target = staff[Role.sales].principal
    csrf = _admin_console(app_client, staff, Role.admin)
    page = app_client.get("/operators").text
    # an admin is offered no form on the owner's row (each would be refused)
    owner_row = page.split(f'id="operator-{owner.operator_id}"')[1].split("</tr>")[0]
    assert "<form" not in owner_row
    assert f"/operators/{target.operator_id}/reset-password" in page
    # when they reset the sales operator's password
    answer = app_client.post(
        f"/operators/{target.operator_id}/reset-password", data={"csrf_token": csrf}
    )
    assert answer.status_code == 200
    shown = re.search(r'class="code one-time-password">([^<]+)<', answer.text)
    assert shown is not None
    # then the one-time password signs them in, and asks for their own
    with db.session_scope() as session:
        assert security.authenticate(session, target.email, shown.group(1)).password_change_required
    assert audit_actions(db)[-1] == "operator.password_reset"
    # and the page shown afterwards does not hold it any more
    assert shown.group(1) not in app_client.get("/operators").text


def test_a_reset_by_a_non_admin_is_403_and_changes_nothing(
    app_client: TestClient, db: Database, owner: Principal, staff: dict[Role, Staff]
) -> None:
    target = staff[Role.sales].principal
    csrf = _admin_console(app_client, staff, Role.operator)
    before = _stored(db, target.email)
    answer = app_client.post(
        f"/operators/{target.operator_id}/reset-password", data={"csrf_token": csrf}
    )
    assert answer.status_code == 403
    assert "你的角色没有权限" in answer.text
    assert _stored(db, target.email) == before
    assert "operator.password_reset" not in audit_actions(db)
