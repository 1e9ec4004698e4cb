"""Money and permissions in the console: a refund from a member's profile asks to confirm its
amount first, and no page offers a role a form it would be refused (403) for."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from siyu.security.enums import Permission, Role
from siyu.security.permissions import allows
from tests.support.console import session_csrf, sign_in
from tests.support.pay import PayEnv
from tests.support.routes import routes
from tests.support.security import PASSWORD, Staff

FORM_TAG = re.compile(r"<form\b[^>]*>", re.IGNORECASE)
# Forms every signed-in operator may post (their own session and account).
ANYONE = {"/logout", "/account/password"}


def _signed_in(client: TestClient, staff: Staff) -> str:
    client.cookies.clear()
    assert sign_in(client, email=staff.principal.email, password=PASSWORD).status_code == 303
    return session_csrf(client.get("/account").text)


def test_a_refund_asks_to_confirm_its_amount_and_a_second_click_refunds_nothing(
    pay_env: PayEnv, staff: dict[Role, Staff]
) -> None:
    client = pay_env.client
    csrf = _signed_in(client, staff[Role.admin])
    order = pay_env.order(990)
    pay_env.pay_order(order)
    before = pay_env.counts()
    # when the refund form is sent
    asked = client.post(
        f"/payments/orders/{order.id}/refund",
        data={"csrf_token": csrf, "amount": "3.5", "reason": "提前退出"},
        headers={"HX-Request": "true"},
    )
    # then the page asks to confirm ¥3.50 and nothing was refunded nor queued
    assert asked.status_code == 200
    assert "确认退款 ¥3.50" in asked.text
    assert pay_env.counts() == before
    assert pay_env.drain() == 0
    seen = re.search(r'name="seen" value="(\d+)"', asked.text)
    assert seen is not None
    confirmed = {
        "csrf_token": csrf,
        "amount": "3.50",
        "reason": "提前退出",
        "confirm": "1",
        "seen": seen.group(1),
    }
    # when it is confirmed, twice (a double click)
    first = client.post(
        f"/payments/orders/{order.id}/refund", data=confirmed, headers={"HX-Request": "true"}
    )
    second = client.post(
        f"/payments/orders/{order.id}/refund", data=confirmed, headers={"HX-Request": "true"}
    )
    # then one refund of 3.50 is made; the second click is refused in Chinese
    assert first.status_code == 200
    assert second.status_code == 409
    assert "没有再次退款" in second.text
    assert pay_env.counts()["refunds"] == before["refunds"] + 1
    assert pay_env.drain() == 1


def test_a_refund_over_the_paid_amount_is_refused_before_the_confirmation(
    pay_env: PayEnv, staff: dict[Role, Staff]
) -> None:
    client = pay_env.client
    csrf = _signed_in(client, staff[Role.admin])
    order = pay_env.order(990)
    pay_env.pay_order(order)
    before = pay_env.counts()
    answer = client.post(
        f"/payments/orders/{order.id}/refund",
        data={"csrf_token": csrf, "amount": "10", "reason": "原因"},
    )
    assert 400 <= answer.status_code < 500
    assert "pay.refund_exceeds_paid" in answer.text
    assert "确认退款" not in answer.text
    assert pay_env.counts() == before


def _posted_actions(html: str) -> list[str]:
    """Where each form of the page posts (htmx's `hx-post`, else a `method="post"` action);
    a search form (GET) changes nothing and is no concern here."""
    found = []
    for tag in FORM_TAG.findall(html):
        hx = re.search(r'\bhx-post="([^"]+)"', tag)
        action = re.search(r'\baction="([^"]+)"', tag)
        if hx:
            found.append(hx.group(1))
        elif action and re.search(r'\bmethod="post"', tag, re.IGNORECASE):
            found.append(action.group(1))
    return found


def _console_pages(client: TestClient, member_id: int) -> list[str]:
    skipped = ("/api", "/wechat", "/sandbox", "/static", "/healthz", "/login", "/lang")
    pages = [
        path
        for method, path, _needs in routes(client.app)  # type: ignore[arg-type]
        if method == "GET" and "{" not in path and not path.startswith(skipped)
    ]
    return [*pages, f"/members/{member_id}"]


def _permissions_of(client: TestClient, action: str) -> tuple[Permission, ...] | None:
    path = action.split("?", maxsplit=1)[0]
    for method, pattern, needs in routes(client.app):  # type: ignore[arg-type]
        regex = "^" + re.sub(r"\{[^}]+\}", "[^/]+", pattern) + "$"
        if method == "POST" and re.match(regex, path):
            return needs
    return None


@pytest.mark.parametrize("role", list(Role))
def test_no_page_offers_a_role_a_form_it_would_be_refused(
    pay_env: PayEnv, staff: dict[Role, Staff], role: Role
) -> None:
    # given a member who paid, and an operator of this role signed in
    client = pay_env.client
    order = pay_env.order(990)
    pay_env.pay_order(order)
    _signed_in(client, staff[role])
    offered: dict[str, str] = {}
    for page in _console_pages(client, pay_env.member_id):
        answer = client.get(page, follow_redirects=False)
        if answer.status_code != 200:
            continue  # a page the role may not open shows no form
        for action in _posted_actions(answer.text):
            offered.setdefault(action, page)
    # then every form on every page is one the role may submit
    refused = {}
    for action, page in offered.items():
        if action.split("?")[0] in ANYONE:
            continue
        needs = _permissions_of(client, action)
        assert needs is not None, f"{page} posts to {action}, which is no route"
        if not all(allows(role, p) for p in needs):
            refused[action] = page
    assert refused == {}
    # and in particular customer service sees no 退款 form on the member's profile
    if role == Role.customer_service:
        profile = client.get(f"/members/{pay_env.member_id}").text
        assert f"/payments/orders/{order.id}/refund" not in profile
