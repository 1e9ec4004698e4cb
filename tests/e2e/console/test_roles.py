"""Roles in Chromium: the owner adds a customer-service operator, who chooses a password at the
first sign-in and then sees a paying member's profile without identifiers and without the
refund form the owner sees on the same page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser

from tests.support.browser import (
    ConsoleServer,
    Person,
    SandboxUser,
    change_password,
    nav_links,
    open_person,
    sign_in,
    sign_out,
)

pytestmark = pytest.mark.xdist_group("browser")

CS_EMAIL = "kefu@siyu.test"
CS_FIRST = "先用这个密码-2026"
CS_OWN = "客服自己的-2026-冬"


def test_customer_service_sees_no_identifiers_and_no_refund_form(
    browser_owner: Person, console_server: ConsoleServer, browser: Browser
) -> None:
    page = browser_owner.page
    # given the owner adds a customer-service operator
    browser_owner.go("/operators")
    add = page.locator("form[action='/operators']")
    add.get_by_label("邮箱").fill(CS_EMAIL)
    add.get_by_label("姓名").fill("小林")
    add.locator("input[name=password]").fill(CS_FIRST)
    add.get_by_label("角色").select_option("customer_service")
    add.get_by_role("button").click()
    page.locator("#operators-section").get_by_text(CS_EMAIL).first.wait_for()
    # and a student who enrolled in the demo activity and paid its deposit in the Mini Program
    student = SandboxUser(console_server, seed=777)
    for kind, appid in (("mp_login", student.mp), ("bind_phone", student.mp)):
        student.act(kind, appid)
    student.act("enroll", student.mp)
    # whose profile the owner opens from the activity's orders on 支付
    browser_owner.go("/payments")
    page.locator("input#activity").fill("DEMO-02")
    page.locator("input#activity").press("Enter")
    page.wait_for_load_state("load")
    page.locator("table a[href^='/members/']").first.click()
    page.wait_for_load_state("load")
    member_path = page.url.removeprefix(browser_owner.base)
    # on which the owner sees the member's ids and a refund form
    ids = [v.strip() for v in page.locator("#member-detail .mono.break").all_inner_texts()]
    assert ids, "the owner sees the member's openids and UnionID"
    assert page.locator("form.refund-form").count() >= 1
    browser_owner.clean()

    cs = open_person(browser, console_server.url)
    try:
        # when customer service signs in for the first time, and chooses a password
        sign_in(cs, CS_EMAIL, CS_FIRST)
        assert "/account" in cs.page.url
        change_password(cs, CS_FIRST, CS_OWN)
        # and signs in again with it
        sign_out(cs)
        sign_in(cs, CS_EMAIL, CS_OWN)
        assert "/login" not in cs.page.url
        # and opens the same member
        cs.go(member_path)
        text = cs.page.locator("main").inner_text()
        # then the profile is there, with no openid, UnionID or full phone, and no refund form
        assert re.search(r"会员 \d+", cs.page.locator("main h1").inner_text())
        leaked = [v for v in ids if v in text]
        assert leaked == [], leaked
        assert student.phone not in text, "the full phone number is shown"
        assert cs.page.locator("form.refund-form").count() == 0
        assert cs.page.get_by_role("button", name=re.compile("退款")).count() == 0
        # and the navigation offers no page the role cannot use
        links = [href for _, href in nav_links(cs.page)]
        assert "/operators" not in links, links
        cs.clean()
    finally:
        cs.close()
