"""The owner's daily tasks in Chromium, checked on WeChat's side (the sandbox) where WeChat is
involved: a channel and its QR code, a menu edited button by button and published after an
inline error, an auto-reply added and tried in the tester."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.browser import ConsoleServer, Person

pytestmark = pytest.mark.xdist_group("browser")


def _sandbox_account(server: ConsoleServer, name: str) -> dict[str, Any]:
    """What WeChat (the sandbox) holds for the demo account called `name`."""
    accounts = httpx.get(f"{server.url}/sandbox/sandbox-admin/accounts", timeout=10).json()
    [account] = [a for a in accounts if a["name"] == name]
    return dict(account)


def test_a_new_channel_shows_its_qr_code(
    browser_owner: Person, console_server: ConsoleServer
) -> None:
    page = browser_owner.page
    # given the owner on 渠道码
    browser_owner.go("/channels")
    form = page.locator("form", has=page.get_by_role("button", name="创建", exact=True))
    # when they name a channel for the library's poster and create it (the OA's temporary code)
    form.get_by_label("名称").fill("图书馆海报")
    form.get_by_label("分组").fill("线下")
    form.get_by_role("button", name="创建", exact=True).click()
    page.wait_for_load_state("networkidle")
    # then they are on the channel's page, which shows its QR code, drawn
    assert page.locator("main h1").inner_text().startswith("图书馆海报")
    image = page.get_by_role("img", name="「图书馆海报」的二维码")
    assert image.count() == 1
    drawn = image.evaluate("img => img.complete && img.naturalWidth >= 400")
    assert drawn, image.get_attribute("src")
    # and the code is WeChat's: the sandbox issued a ticket for the channel's scene
    [slug] = page.locator("main h1 code").all_inner_texts()
    account = _sandbox_account(console_server, "示例服务号")
    scenes = [q["scene"] for q in account["qrcodes"]]
    assert slug.strip() in scenes, (slug, scenes)
    browser_owner.clean()


def test_a_menu_is_edited_fixed_after_an_inline_error_and_published(
    browser_owner: Person, console_server: ConsoleServer
) -> None:
    page = browser_owner.page
    browser_owner.watch.expected_statuses.add(422)  # the refused save
    # given the owner in the menu editor
    browser_owner.go("/menus")
    first = page.locator("details[data-slot]").first
    fields = first.locator(".menu-button-fields").first
    # when they fill the first button as a click without its key, and save
    fields.get_by_label("名称").fill("今日打卡")
    fields.get_by_label("类型").select_option("click")
    page.locator("form.menu-tree").get_by_role("button", name="保存为新版本").click()
    page.wait_for_load_state("load")
    # then the page stays the editor, the error sits beside the key of that button
    assert page.locator("main h1").inner_text() == "自定义菜单"
    first = page.locator("details[data-slot]").first
    assert first.get_attribute("open") is not None
    key = first.locator("input[name$='.key']").first
    assert key.get_attribute("aria-invalid") == "true"
    error = page.locator(f"#{key.get_attribute('aria-describedby')}")
    assert "key" in error.inner_text()
    # and what they typed is kept
    fields = first.locator(".menu-button-fields").first
    assert fields.get_by_label("名称").input_value() == "今日打卡"
    assert fields.get_by_label("类型").input_value() == "click"
    # and no version was saved
    assert page.get_by_role("button", name="发布", exact=True).count() == 0
    # when they add the key and save again
    key.fill("CHECKIN_TODAY")
    page.locator("form.menu-tree").get_by_role("button", name="保存为新版本").click()
    page.wait_for_load_state("load")
    # then version 1 is saved, and publishing it puts it live on WeChat
    assert "已保存为版本 1" in page.locator(".notice.success").inner_text()
    page.get_by_role("button", name="发布", exact=True).first.click()
    page.wait_for_load_state("load")
    assert "版本 1 已发布到微信" in page.locator(".notice.success").inner_text()
    menu = _sandbox_account(console_server, "示例服务号")["menu"]
    assert menu == [{"type": "click", "name": "今日打卡", "key": "CHECKIN_TODAY"}]
    browser_owner.watch.expected_statuses.clear()
    browser_owner.clean()


def test_an_auto_reply_is_added_and_answers_in_the_tester(browser_owner: Person) -> None:
    page = browser_owner.page
    # given the owner on 自动回复, with no rule for 课表
    browser_owner.go("/autoreplies")
    tester = page.locator("form[action='/autoreplies/test']")
    tester.get_by_label("用户消息").fill("课表")
    tester.get_by_role("button", name="测试").click()
    page.locator("#tester-result").get_by_text("没有规则命中").wait_for()
    # when they add a keyword rule for 课表 with its reply
    rule = page.locator("form[action='/autoreplies']")
    rule.get_by_label("关键词（每行一个）").fill("课表\n上课时间")
    rule.get_by_label("回复文字", exact=True).fill("本周课表：周一至周五 7:00 晨读")
    rule.get_by_role("button", name="添加").click()
    page.wait_for_load_state("networkidle")
    # then the rule is listed
    rules = page.locator("table").filter(has_text="本周课表")
    assert rules.count() == 1
    # and the tester finds it for a member's message, with its reply
    tester = page.locator("form[action='/autoreplies/test']")
    tester.get_by_label("用户消息").fill("课表")
    tester.get_by_role("button", name="测试").click()
    result = page.locator("#tester-result")
    result.get_by_text("命中规则").wait_for()
    assert "本周课表：周一至周五 7:00 晨读" in result.inner_text()
    browser_owner.clean()
