"""Every route of the application × every role: each declares a permission (or is public on
purpose), and each role without it is refused with 403 `security.forbidden`, audited, and
nothing else changes."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from siyu.api.app import create_app
from siyu.core.config import Settings
from siyu.core.db import Database
from siyu.security.enums import Permission, Role
from siyu.security.models import AuditEntry
from siyu.security.permissions import ROLE_PERMISSIONS, SCOPES
from tests.support.routes import routes, url_for_nothing
from tests.support.security import Staff, row_counts

# Routes anyone may call: each is authenticated otherwise (WeChat's signature, the Mini
# Program session) or is the way in. A new route missing from here and declaring no
# permission makes `test_every_route_declares_a_permission_or_is_public` fail.
PUBLIC = {
    ("GET", "/healthz"): "load balancers",
    ("GET", "/metrics"): "Prometheus (bind it to an internal address)",
    ("GET", "/login"): "the way in",
    ("POST", "/login"): "the way in (signed CSRF pair, lockout)",
    ("GET", "/lang/{lang}"): "a language cookie",
    ("GET", "/wechat/push/{appid}"): "WeChat's URL check, signed with the app's Token",
    ("POST", "/wechat/push/{appid}"): "WeChat's pushes, signed with the app's Token",
    ("POST", "/api/mp/{appid}/session"): "Mini Program login with a wx.login code",
    ("POST", "/api/mp/{appid}/phone"): "Mini Program session",
    ("POST", "/api/mp/{appid}/launch"): "Mini Program session",
    ("GET", "/api/mp/{appid}/me/consents"): "Mini Program session",
    ("POST", "/api/mp/{appid}/me/consents"): "Mini Program session",
    ("GET", "/api/mp/{appid}/me/export"): "Mini Program session",
    ("POST", "/api/mp/{appid}/me/erase"): "Mini Program session",
    ("POST", "/api/mp/{appid}/pay/orders/{out_trade_no}/payment"): "Mini Program session",
    ("POST", "/api/mp/{appid}/pay/demo-order"): "Mini Program session (sandbox only)",
    ("GET", "/api/mp/{appid}/me/coupons"): "Mini Program session",
    ("POST", "/api/mp/{appid}/me/coupons/claim"): "Mini Program session",
    ("GET", "/api/mp/{appid}/coupons/claimable"): "Mini Program session",
    ("GET", "/api/mp/{appid}/mall/items"): "Mini Program session",
    ("POST", "/api/mp/{appid}/me/mall/exchanges"): "Mini Program session",
    ("POST", "/wechat/pay/notify/{mchid}"): "WeChat Pay, signed with the platform key",
    ("GET", "/api/mp/{appid}/activities"): "Mini Program session",
    ("POST", "/api/mp/{appid}/activities/{activity_id}/enrollments"): "Mini Program session",
    ("POST", "/api/mp/{appid}/activities/{activity_id}/checkins"): "Mini Program session",
    ("POST", "/api/mp/{appid}/groups/share-ticket"): "Mini Program session",
    ("GET", "/api/mp/{appid}/articles"): "Mini Program session",
    ("POST", "/api/mp/{appid}/articles/{article_id}/open"): "Mini Program session",
    ("POST", "/api/mp/{appid}/me/signin"): "Mini Program session",
    ("GET", "/api/mp/{appid}/me/signin"): "Mini Program session",
    ("GET", "/api/mp/{appid}/me/points"): "Mini Program session",
    ("GET", "/api/mp/{appid}/me/level"): "Mini Program session",
    ("GET", "/q/{token}"): "the MP → OA hand-off page, its token signed",
    ("GET", "/q/{token}/qr.png"): "the MP → OA hand-off page, its token signed",
    ("GET", "/openapi.json"): "the API's description",
    ("GET", "/docs"): "the API's description",
    ("GET", "/docs/oauth2-redirect"): "the API's description",
    ("GET", "/redoc"): "the API's description",
}


@pytest.fixture(scope="module")
def application(base_settings: Settings) -> FastAPI:
    return create_app(base_settings, Database("sqlite://"))


def test_every_route_declares_a_permission_or_is_public(application: FastAPI) -> None:
    undeclared = {(m, p) for m, p, needed in routes(application) if needed is None}
    assert undeclared == set(PUBLIC)


def test_every_permission_guards_something_and_owner_holds_all(application: FastAPI) -> None:
    used = {p for _m, _p, needed in routes(application) for p in needed or ()}
    assert used == set(Permission) - SCOPES
    assert ROLE_PERMISSIONS[Role.owner] == frozenset(Permission)


def _call(client: TestClient, method: str, path: str, staff: Staff) -> Any:
    kwargs: dict[str, Any] = {"headers": staff.headers, "follow_redirects": False}
    if method in ("POST", "PUT", "PATCH"):
        kwargs["json"] = {}
    return client.request(method, url_for_nothing(path), **kwargs)


def _refusal(response: Any) -> tuple[bool, Any]:
    """Whether this is the stable refusal: JSON for the API, a page for the console."""
    if response.status_code != 403:
        return False, response.text[:200]
    if "json" in response.headers.get("content-type", ""):
        body = response.json()
        return body.get("code") == "security.forbidden", body
    return '<code class="code">security.forbidden</code>' in response.text, response.text[:200]


@pytest.mark.parametrize("role", list(Role))
def test_each_role_is_refused_every_route_it_lacks_the_permission_for(
    role: Role,
    application: FastAPI,
    app_client: TestClient,
    staff: dict[Role, Staff],
    db: Database,
) -> None:
    # given an operator of this role with an API token
    me = staff[role]
    granted = ROLE_PERMISSIONS[role]
    before = row_counts(db, without=("audit_log", "api_tokens"))
    denied = 0
    for method, path, needed in routes(application):
        if needed is None:
            continue
        # when they call the route
        response = _call(app_client, method, path, me)
        refused, body = _refusal(response)
        # then it is refused exactly when their role lacks a permission the route declares
        lacking = [p for p in needed if p not in granted]
        assert refused == bool(lacking), (method, path, response.status_code, body)
        if lacking:
            if path.startswith("/api/"):
                assert body["data"]["permission"] in {p.value for p in lacking}
            denied += 1
    # and every refusal was audited, and nothing else was written
    with db.session_scope() as session:  # (a member outside a sales rep's scope is audited too)
        route_denials = session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "security.denied", AuditEntry.target_type == "route")
        )
    assert route_denials == denied
    assert row_counts(db, without=("audit_log", "api_tokens")) == before
    if role in (Role.owner, Role.admin):
        assert denied == 0
    else:
        assert denied > 0


def test_anonymous_callers_are_sent_to_sign_in(
    application: FastAPI, app_client: TestClient
) -> None:
    for method, path, needed in routes(application):
        if needed is None:
            continue
        response = app_client.request(method, url_for_nothing(path), follow_redirects=False)
        if path.startswith("/api/"):
            assert response.status_code == 401, (method, path)
            assert response.json()["code"] == "auth.required"
        else:
            assert response.status_code == 303, (method, path)
            assert response.headers["location"].startswith("/login")
