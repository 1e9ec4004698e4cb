"""The console: orders and refunds on the member's page, the payments page, the refund form."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from siyu.security.models import AuditEntry
from siyu.security.schemas import Principal
from siyu.wechat.pay.models import PayRefund
from tests.support.console import session_csrf as _session_csrf
from tests.support.console import sign_in as _sign_in
from tests.support.pay import PayEnv


@pytest.fixture
def browser(pay_env: PayEnv, owner: Principal) -> tuple[TestClient, str]:
    assert _sign_in(pay_env.client).status_code == 303
    return pay_env.client, _session_csrf(pay_env.client.get("/").text)


def test_staff_refund_part_of_a_payment_from_the_member_page(
    pay_env: PayEnv, browser: tuple[TestClient, str]
) -> None:
    client, csrf = browser
    # given a member who paid 9.90
    order = pay_env.order(990)
    pay_env.pay_order(order)
    page = client.get(f"/members/{pay_env.member_id}")
    assert order.out_trade_no in page.text
    assert "¥9.90" in page.text
    # when staff refund 3.50 with a reason through the form
    answer = client.post(
        f"/payments/orders/{order.id}/refund",
        data={
            "csrf_token": csrf,
            "amount": "3.5",
            "reason": "提前退出",
            "confirm": "1",
            "seen": "0",
        },
        headers={"HX-Request": "true"},
    )
    assert answer.status_code == 200
    assert "¥3.50" in answer.text
    pay_env.drain()
    pay_env.pay.tick()
    # then the page shows it refunded, and the merchant's ledger has exactly that refund
    page = client.get(f"/members/{pay_env.member_id}")
    assert "提前退出" in page.text
    assert pay_env.ledger()["refunded_total"] == 350
    assert "¥3.50" in client.get("/payments").text


def test_a_console_refund_is_audited_and_sent_as_an_api_refund_is(
    pay_env: PayEnv, browser: tuple[TestClient, str], owner: Principal
) -> None:
    client, csrf = browser
    # given a member who paid 9.90
    order = pay_env.order(990)
    pay_env.pay_order(order)
    # when staff refund 3.50 through the console's form
    answer = client.post(
        f"/payments/orders/{order.id}/refund",
        data={
            "csrf_token": csrf,
            "amount": "3.50",
            "reason": "提前退出",
            "confirm": "1",
            "seen": "0",
        },
        headers={"HX-Request": "true"},
    )
    assert answer.status_code == 200
    # then one audit entry says who asked for how much, as the staff API's does
    with pay_env.db.session_scope() as session:
        [refund] = session.scalars(select(PayRefund)).all()
        [entry] = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "pay.refund_requested")
        ).all()
        assert (entry.actor, entry.target_type, entry.target_id) == (
            f"operator:{owner.operator_id}",
            "order",
            str(order.id),
        )
        assert entry.detail == {"refund_id": refund.id, "amount_fen": 350}
        assert (refund.operator_id, refund.requested_by) == (
            owner.operator_id,
            f"operator:{owner.operator_id}",
        )
    # and the job sending it to WeChat Pay was queued once the transaction committed
    assert pay_env.drain() == 1


@pytest.mark.parametrize(
    ("amount", "reason", "code"),
    [
        ("", "原因", "pay.invalid_amount"),
        ("1.234", "原因", "pay.invalid_amount"),
        ("-1", "原因", "pay.invalid_amount"),
        ("abc", "原因", "pay.invalid_amount"),
        ("1", "", "pay.refund_reason_required"),
        ("10", "原因", "pay.refund_exceeds_paid"),
    ],
)
def test_a_bad_refund_form_is_refused_and_changes_nothing(
    pay_env: PayEnv, browser: tuple[TestClient, str], amount: str, reason: str, code: str
) -> None:
    client, csrf = browser
    order = pay_env.order(990)
    pay_env.pay_order(order)
    before = pay_env.counts()
    answer = client.post(
        f"/payments/orders/{order.id}/refund",
        data={"csrf_token": csrf, "amount": amount, "reason": reason},
    )
    assert 400 <= answer.status_code < 500
    assert code in answer.text
    assert pay_env.counts() == before
    assert pay_env.drain() == 0


def test_the_refund_form_needs_the_csrf_token(
    pay_env: PayEnv, browser: tuple[TestClient, str]
) -> None:
    client, _csrf = browser
    order = pay_env.order(990)
    pay_env.pay_order(order)
    before = pay_env.counts()
    answer = client.post(
        f"/payments/orders/{order.id}/refund", data={"amount": "1", "reason": "原因"}
    )
    assert answer.status_code == 403
    assert pay_env.counts() == before


def test_the_payments_page_lists_refused_notifications(
    pay_env: PayEnv, browser: tuple[TestClient, str]
) -> None:
    client, _csrf = browser
    pay_env.client.post("/wechat/pay/notify/1900000109", content=b"{}")
    page = client.get("/payments")
    assert page.status_code == 200
    assert re.search(r"pay\.(bad_signature|unknown_serial)", page.text)


def test_orders_of_one_activity_with_what_was_taken(
    pay_env: PayEnv, browser: tuple[TestClient, str]
) -> None:
    client, _csrf = browser
    # given a paid order for activity 21d, an unpaid one for it, and one for another activity
    pay_env.pay_order(pay_env.order(990, reference="activity:21d:1"))
    pay_env.order(500, reference="activity:21d:2")
    pay_env.pay_order(pay_env.order(1200, reference="activity:7d:1"))
    # when staff filter the payments page by the activity's code
    page = client.get("/payments", params={"activity": "21d"})
    # then only its orders are listed, with the money taken
    assert page.status_code == 200
    assert page.text.count('<tr><td class="nowrap muted">') == 2
    assert "¥9.90" in page.text
    assert "¥12.00" not in page.text
    assert "已收 ¥9.90" in page.text
    # and the API answers the same
    api = client.get("/api/pay/orders", params={"activity": "21d"})
    assert sorted(o["amount"] for o in api.json()) == [500, 990]
