"""The API tokens page as a person uses it: a token created from the form is shown once and
works, a refused name is said beside its field and creates nothing, a revoked token stops at
once, and nobody sees or revokes a colleague's token unless they manage operators."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from siyu.core.db import Database
from siyu.security.enums import Role
from siyu.security.models import ApiToken
from siyu.security.service import TOKEN_PREFIX
from tests.support.console import Console
from tests.support.security import audit_actions, make_staff


def token_count(db: Database) -> int:
    with db.session_scope() as session:
        return session.scalar(select(func.count()).select_from(ApiToken)) or 0


def shown_token(html: str) -> str:
    match = re.search(r'value="(' + re.escape(TOKEN_PREFIX) + r'[^"]+)"[^>]*id="new-token"', html)
    assert match is not None, html
    return match.group(1)


def test_the_page_renders_in_chinese(console: Console) -> None:
    page = console.client.get("/tokens")
    assert page.status_code == 200
    assert "API 令牌" in page.text
    assert "新建令牌" in page.text
    assert "还没有令牌。" in page.text


def test_a_token_made_from_the_form_is_shown_once_and_works(
    console: Console, app_client: TestClient, db: Database
) -> None:
    # when the owner creates a token for the CRM sync (a plain form post, no JavaScript)
    made = console.client.post("/tokens", data={"name": "CRM 同步", "csrf_token": console.csrf})
    # then the answer shows the secret, and it signs API calls in
    assert made.status_code == 200
    assert "请现在复制保存" in made.text
    token = shown_token(made.text)
    me = TestClient(app_client.app).get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    # and the list shows its name and first characters, never the secret again
    page = console.client.get("/tokens")
    assert "CRM 同步" in page.text
    assert token[:12] in page.text
    assert token not in page.text
    assert "token.created" in audit_actions(db)


def test_a_refused_name_is_said_beside_its_field_keeps_what_was_typed_and_creates_nothing(
    console: Console, db: Database
) -> None:
    before = token_count(db)
    long_name = "报表" * 51
    for name, said in (("   ", "请填写"), (long_name, "最多 100 个字符")):
        # when the form is sent with a blank or too long name (htmx, as the page sends it)
        refused = console.client.post("/tokens", headers=console.htmx(), data={"name": name})
        # then the name's field says why, with the code above the form
        assert refused.status_code == 422
        field_error = re.search(r'<p class="field-error" id="err-name">([^<]+)</p>', refused.text)
        assert field_error is not None
        assert said in field_error.group(1)
        assert "security.invalid_token_name" in refused.text
        assert TOKEN_PREFIX not in refused.text
    # and what was typed is still in the field; nothing was created
    assert f'value="{long_name}"' in refused.text
    assert token_count(db) == before


def test_a_revoked_token_stops_at_once_and_revoking_again_changes_nothing(
    console: Console, app_client: TestClient, db: Database
) -> None:
    made = console.client.post("/tokens", data={"name": "临时脚本", "csrf_token": console.csrf})
    token = shown_token(made.text)
    with db.session_scope() as session:
        token_id = session.scalars(select(ApiToken.id).where(ApiToken.name == "临时脚本")).one()
    # when the owner revokes it (htmx, as the page's button does)
    revoked = console.client.post(f"/tokens/{token_id}/revoke", headers=console.htmx())
    # then the list says so, and the token no longer signs in
    assert revoked.status_code == 200
    assert "已吊销令牌“临时脚本”。" in revoked.text
    bearer = {"Authorization": f"Bearer {token}"}
    assert TestClient(app_client.app).get("/api/me", headers=bearer).status_code == 401
    # and a second revocation is no second event
    again = console.client.post(f"/tokens/{token_id}/revoke", headers=console.htmx())
    assert again.status_code == 200
    assert audit_actions(db).count("token.revoked") == 1


def test_an_operator_neither_sees_nor_revokes_a_colleagues_token(
    console: Console, app_client: TestClient, db: Database, workspace_id: int
) -> None:
    # given the owner's token and an operator and a customer-service colleague
    console.client.post("/tokens", data={"name": "老板的脚本", "csrf_token": console.csrf})
    with db.session_scope() as session:
        owners = session.scalars(select(ApiToken.id).where(ApiToken.name == "老板的脚本")).one()
    operator = make_staff(db, workspace_id, Role.operator)
    service = make_staff(db, workspace_id, Role.customer_service)
    client = TestClient(app_client.app)
    for staff in (operator, service):
        # when they open the page: only their own token is listed
        page = client.get("/tokens", headers=staff.headers)
        assert page.status_code == 200
        assert "我的令牌" in page.text
        assert "老板的脚本" not in page.text
        # when they post a crafted revocation of the owner's token: refused as unknown
        refused = client.post(f"/tokens/{owners}/revoke", headers=staff.headers)
        assert refused.status_code == 404
        assert '<code class="code">security.token_not_found</code>' in refused.text
    with db.session_scope() as session:
        assert session.get(ApiToken, owners).revoked_at is None  # type: ignore[union-attr]
    # and the owner, who manages operators, sees every token with its holder
    page = console.client.get("/tokens")
    assert "工作区的全部令牌" in page.text
    assert operator.principal.email in page.text


def test_the_api_lists_and_revokes_tokens(
    app_client: TestClient, db: Database, workspace_id: int
) -> None:
    staff = make_staff(db, workspace_id, Role.analyst)
    client = TestClient(app_client.app)
    listed = client.get("/api/tokens", headers=staff.headers)
    assert listed.status_code == 200
    [mine] = listed.json()
    assert mine["name"] == "tests"
    assert "token" not in mine
    assert client.delete(f"/api/tokens/{mine['id']}", headers=staff.headers).status_code == 200
    assert client.get("/api/tokens", headers=staff.headers).status_code == 401
