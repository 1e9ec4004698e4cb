"""Every page of the navigation, as the owner sees it in Chromium: it renders, in Chinese, with
no JavaScript error and no failed request; and at a phone's width the navigation folds behind
a button and no page scrolls sideways."""

from __future__ import annotations

import pytest

from tests.support.browser import (
    CJK,
    DESKTOP,
    PHONE,
    Person,
    chrome_text,
    english_sentences,
    nav_links,
    page_scrolls_sideways,
)

pytestmark = pytest.mark.xdist_group("browser")

# The navigation of an owner with the sandbox on, in its order (base.html).
NAVIGATION = [
    ("概览", "/"),
    ("会员", "/members"),
    ("待审合并", "/review"),
    ("导入", "/imports"),
    ("支付", "/payments"),
    ("渠道", "/channels"),
    ("菜单", "/menus"),
    ("活动", "/community"),
    ("触达", "/reach"),
    ("自动回复", "/autoreplies"),
    ("应用", "/apps"),
    ("操作员", "/operators"),
    ("API 令牌", "/tokens"),
    ("审计日志", "/audit"),
    ("搁置的任务", "/set-aside"),
    ("模拟微信", "/simulator"),
]


def test_the_owner_sees_the_whole_navigation_in_chinese(browser_owner: Person) -> None:
    # given the owner, signed in
    # when they look at the overview
    browser_owner.go("/")
    # then the navigation lists every area, by its Chinese name
    links = list(nav_links(browser_owner.page))
    missing = [item for item in NAVIGATION if item not in links]
    assert missing == [], links
    assert browser_owner.page.locator("html").get_attribute("lang") == "zh-CN"
    # and on a wide screen it is open, with no button to fold it
    assert browser_owner.page.locator("nav.nav").is_visible()
    assert not browser_owner.page.get_by_role("button", name="导航").is_visible()
    browser_owner.clean()


@pytest.mark.parametrize(("name", "path"), NAVIGATION, ids=[p for _, p in NAVIGATION])
def test_every_page_renders_in_chinese_without_errors(
    browser_owner: Person, name: str, path: str
) -> None:
    # given the owner on the overview
    browser_owner.go("/")
    # when they follow the navigation's link
    browser_owner.page.locator("nav.nav").get_by_role("link", name=name, exact=True).click()
    browser_owner.page.wait_for_load_state("networkidle")
    # then the page is that area's, marked current, with a Chinese heading
    assert browser_owner.page.url.removeprefix(browser_owner.base) == path
    current = browser_owner.page.locator("nav.nav a[aria-current=page]")
    assert current.inner_text().strip() == name
    heading = browser_owner.page.locator("main h1").first.inner_text()
    assert CJK.search(heading), heading
    # and its chrome (headings, labels, buttons, hints) has no English sentence
    text = chrome_text(browser_owner.page)
    assert english_sentences(text) == [], text
    # and no script failed, no request failed or was refused
    browser_owner.clean()
    # and every chart the page draws was drawn (ECharts puts a canvas in its box)
    charts = browser_owner.page.locator("[data-chart], [data-bar-chart]")
    for i in range(charts.count()):
        assert charts.nth(i).locator("canvas").count() == 1, f"chart {i} of {path} not drawn"


@pytest.mark.parametrize(("name", "path"), NAVIGATION, ids=[p for _, p in NAVIGATION])
def test_at_a_phones_width_every_page_fits_and_the_menu_opens_with_a_button(
    browser_owner: Person, name: str, path: str
) -> None:
    # given the owner on a phone (390 px wide)
    browser_owner.page.set_viewport_size(PHONE)
    try:
        # when they open the page
        browser_owner.go(path)
        browser_owner.page.wait_for_load_state("networkidle")
        # then the page does not scroll sideways (wide tables scroll inside their panel)
        assert not page_scrolls_sideways(browser_owner.page), path
        # and the navigation is folded: its links are hidden behind the menu button
        nav = browser_owner.page.locator("nav.nav")
        link = nav.get_by_role("link", name=name, exact=True)
        assert not link.is_visible()
        toggle = browser_owner.page.get_by_role("button", name="导航")
        assert toggle.get_attribute("aria-expanded") == "false"
        # when they tap the menu button
        toggle.click()
        # then the navigation opens, says so, and its links work
        assert toggle.get_attribute("aria-expanded") == "true"
        assert link.is_visible()
        assert not page_scrolls_sideways(browser_owner.page), path
        link.click()
        browser_owner.page.wait_for_load_state("load")
        assert browser_owner.page.url.removeprefix(browser_owner.base) == path
        browser_owner.clean()
    finally:
        browser_owner.page.set_viewport_size(DESKTOP)


def test_a_required_field_left_empty_is_explained_in_chinese(browser_owner: Person) -> None:
    page = browser_owner.page
    # given the owner on 渠道, the new channel's name left empty
    browser_owner.go("/channels")
    form = page.locator("form", has=page.get_by_role("button", name="创建", exact=True))
    name = form.get_by_label("名称")
    # when they press 创建
    form.get_by_role("button", name="创建", exact=True).click()
    # then the browser keeps the form and its bubble says, in Chinese, to fill the field
    assert page.url.removeprefix(browser_owner.base) == "/channels"
    message = name.evaluate("input => input.validationMessage")
    assert message == "请填写此字段。", message
    browser_owner.clean()
