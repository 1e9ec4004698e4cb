"""Console pages of 会员权益: coupon templates (made in yuan and Beijing dates, shown with their
report), the points mall's items and the fulfilment of gifts, marked shipped once."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from siyu.core.db import Database
from siyu.security.schemas import Principal
from tests.support.console import Console
from tests.support.console import session_csrf as _session_csrf
from tests.support.console import sign_in as _sign_in
from tests.support.coupons import MpMember, mall_written, written
from tests.support.names import MP_APPID

pytestmark = pytest.mark.usefixtures("mp_app", "frozen_clock")
Shopper = Callable[[int], MpMember]


@pytest.fixture
def ui(app_client: TestClient, owner: Principal) -> Console:
    assert _sign_in(app_client).status_code == 303
    return Console(app_client, _session_csrf(app_client.get("/").text))


def test_a_template_made_in_the_console_shows_with_its_report(
    ui: Console, db: Database, shopper: Shopper
) -> None:
    # when the operator makes a 满50减5 template valid through 2026-12-31 (Beijing)
    made = ui.client.post(
        "/benefits/coupons",
        data={
            "csrf_token": ui.csrf,
            "name": "双十二满减",
            "kind": "amount_off",
            "threshold": "50",
            "amount_off": "5.5",
            "valid_from": "2026-11-20",
            "valid_until": "2026-12-31",
            "stock": "10",
            "per_member_limit": "1",
            "mp_claimable": "true",
        },
        follow_redirects=False,
    )
    assert made.status_code == 303, made.text
    # and a member claims one
    [template] = ui.client.get("/api/coupons/templates").json()
    claimed = ui.client.post(
        f"/api/mp/{MP_APPID}/me/coupons/claim",
        json={"template_id": template["id"]},
        headers=shopper(1).headers,
    )
    assert claimed.status_code == 201, claimed.text
    # then the template is stored in fen, to the end of the Beijing day
    assert (template["threshold"], template["amount_off"]) == (5000, 550)
    assert template["valid_until"].startswith("2026-12-31T16:00:00")
    # and the page shows it with one issued
    page = ui.client.get("/benefits/coupons")
    assert page.status_code == 200
    assert "双十二满减" in page.text
    assert "满 ¥50.00 减 ¥5.50" in page.text
    assert "data-bar-chart" in page.text


def test_an_inconsistent_template_is_refused_in_the_operators_words(
    ui: Console, db: Database
) -> None:
    refused = ui.client.post(
        "/benefits/coupons",
        headers=ui.htmx(),
        data={"name": "缺金额", "kind": "amount_off", "valid_days": "7", "stock": "5"},
    )
    assert refused.status_code == 422
    assert "优惠券模板填写有误" in refused.text
    assert written(db).templates == 0


def test_a_gift_item_is_exchanged_and_shipped_from_the_mall_page(
    ui: Console,
    db: Database,
    shopper: Shopper,
    grant_points: Callable[[int, int], None],
) -> None:
    made = ui.client.post(
        "/benefits/mall/items",
        data={"csrf_token": ui.csrf, "name": "保温杯", "kind": "gift", "points_price": "500",
              "stock": "3"},
        follow_redirects=False,
    )  # fmt: skip
    assert made.status_code == 303, made.text
    [item] = ui.client.get("/api/mall/items").json()
    alice = shopper(1)
    grant_points(alice.member_id, 500)
    address = {"recipient": "李雷", "phone": "13900139000", "address": "北京市海淀区中关村 1 号"}
    exchanged = ui.client.post(
        f"/api/mp/{MP_APPID}/me/mall/exchanges",
        json={"item_id": item["id"], "request_key": "console-0001", "address": address},
        headers=alice.headers,
    )
    assert exchanged.status_code == 201, exchanged.text
    page = ui.client.get("/benefits/mall")
    assert "保温杯" in page.text
    assert "中关村" in page.text
    fulfilment_id = exchanged.json()["fulfilment_id"]
    shipped = ui.client.post(
        f"/benefits/mall/fulfilments/{fulfilment_id}/ship",
        data={"csrf_token": ui.csrf, "tracking": "SF100"},
        follow_redirects=False,
    )
    assert shipped.status_code == 303
    assert "已发货" in ui.client.get("/benefits/mall").text
    assert mall_written(db).fulfilments == 1
