"""Members in Chromium: a student who follows the OA and shares their phone in the Mini Program
is found by phone and by 学号, tagged, and reached by a mass message to the tag (which the
sandbox user receives); a template notice registered on 通知模板 and sent to a tag reaches each
tagged follower once; the member list exports as a CSV that Excel opens (a BOM, 学号)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.support.browser import ConsoleServer, Person, SandboxUser
from tests.support.processes import wait_until

pytestmark = pytest.mark.xdist_group("browser")


@pytest.fixture(scope="module")
def student(console_server: ConsoleServer) -> SandboxUser:
    """A new student: follows the OA, logs in to the Mini Program, shares their phone."""
    user = SandboxUser(console_server, seed=4242)
    user.act("follow", user.oa)
    user.act("mp_login", user.mp)
    user.act("bind_phone", user.mp)
    return user


def _search(browser_owner: Person, query: str) -> list[str]:
    """Type into the member search as a person does (the results follow the typing); the 学号
    of the results."""
    page = browser_owner.page
    browser_owner.go("/members")
    page.get_by_label("搜索会员").fill(query)
    page.wait_for_url(f"**/members?q={quote(query)}*")  # the live search answered
    page.wait_for_load_state("networkidle")
    return [n.strip() for n in page.locator("#results a.member-number").all_inner_texts()]


def test_a_member_is_found_by_phone_and_by_number(
    browser_owner: Person, student: SandboxUser
) -> None:
    # given a student who shared their phone in the Mini Program
    # when the owner searches for the phone number
    found = _search(browser_owner, student.phone)
    # then exactly one member comes up, whose profile shows the phone's last digits
    assert len(found) == 1, found
    [number] = found
    browser_owner.page.locator("#results a.member-number").click()
    browser_owner.page.wait_for_load_state("load")
    assert browser_owner.page.locator("main h1").inner_text().startswith(f"会员 {number}")
    identities = browser_owner.page.locator("#member-detail").inner_text()
    assert student.phone[-4:] in identities
    # when they search for the 学号
    # then the same member, alone, comes up
    assert _search(browser_owner, number) == [number]
    # and a number nobody has finds nobody
    assert _search(browser_owner, "99999999") == []
    browser_owner.clean()


def test_a_mass_message_to_a_tag_reaches_the_tagged_follower(
    browser_owner: Person, student: SandboxUser
) -> None:
    page = browser_owner.page
    # given the student, tagged 晨读营 on their profile
    [number] = _search(browser_owner, student.phone)
    page.locator("#results a.member-number").click()
    page.wait_for_load_state("load")
    page.get_by_label("标签", exact=True).fill("晨读营")
    page.get_by_role("button", name="添加标签").click()
    page.locator("#member-detail .chip", has_text="晨读营").wait_for()
    before = len(student.inbox())
    # when the owner sends an OA mass message to the tag
    browser_owner.go("/reach")
    mass = page.locator("form[action='/reach/mass']")
    mass.get_by_label("名称").fill("晨读营开营通知")
    mass.get_by_label("会员标签").fill("晨读营")
    mass.locator("textarea[name=mass_text]").fill("晨读营明早 7 点开营，记得打卡。")
    mass.get_by_role("button", name="群发").click()
    page.wait_for_load_state("networkidle")
    # then the student receives it in WeChat
    # (a broadcast sent now starts at once, not at the next minute tick of reach.run_broadcasts:
    # the deadline is shorter than a tick)
    wait_until(lambda: len(student.inbox()) > before, 20, f"the mass message reaches {number}")
    texts = [str(item) for item in student.inbox()[before:]]
    assert any("晨读营明早 7 点开营" in t for t in texts), texts
    browser_owner.clean()


def test_the_member_list_exports_as_a_csv_excel_opens(
    browser_owner: Person, student: SandboxUser
) -> None:
    page = browser_owner.page
    # given the owner on the member list
    browser_owner.go("/members")
    # when they export all members
    with page.expect_download() as started:
        page.locator("#members-export").click()
    download = started.value
    body = download.path().read_bytes()
    # then the download completes, as a UTF-8 CSV with a BOM (Excel reads Chinese then)
    assert download.failure() is None
    assert download.suggested_filename.endswith(".csv")
    assert body.startswith(b"\xef\xbb\xbf"), body[:20]
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    # and its columns say 学号, with the student among the rows
    assert rows[0][0] == "学号", rows[0]
    [number] = _search(browser_owner, student.phone)
    assert number in [r[0] for r in rows[1:]]
    browser_owner.clean()


def _tag_by_phone(browser_owner: Person, phone: str, tag: str) -> None:
    """On the profile of the member found by their phone, add `tag`."""
    page = browser_owner.page
    assert len(_search(browser_owner, phone)) == 1
    page.locator("#results a.member-number").click()
    page.wait_for_load_state("load")
    page.get_by_label("标签", exact=True).fill(tag)
    page.get_by_role("button", name="添加标签").click()
    page.locator("#member-detail .chip", has_text=tag).wait_for()


def test_a_template_notice_to_a_tag_reaches_each_tagged_follower_once(
    browser_owner: Person, console_server: ConsoleServer
) -> None:
    page = browser_owner.page
    # given three students who follow the OA and shared their phones, two of them tagged 早课班
    students = [SandboxUser(console_server, seed=5150 + i) for i in range(3)]
    for s in students:
        s.act("follow", s.oa)
        s.act("mp_login", s.mp)
        s.act("bind_phone", s.mp)
    for s in students[:2]:
        _tag_by_phone(browser_owner, s.phone, "早课班")
    # and a template the OA took from WeChat's library (in WeChat's console: the sandbox)
    admin = f"{console_server.url}/sandbox/sandbox-admin"
    added = httpx.post(
        f"{admin}/accounts/{students[0].oa}/templates",
        json={"title": "开课提醒", "keys": ["thing1", "time2"]},
        timeout=10,
    )
    assert added.status_code == 200, added.text
    template_id = added.json()["template_id"]
    # when the owner registers it on 通知模板: its WeChat id and which value fills each field
    browser_owner.go("/reach/templates")
    form = page.locator("form[action='/reach/templates']")
    form.get_by_label("通知名").fill("class_start")
    form.locator("select[name=kind]").select_option(label="服务号模板消息")
    form.locator("select[name=appid]").select_option(label="示例服务号（服务号）")
    form.get_by_label("标题", exact=True).fill("开课提醒")
    form.get_by_label("微信模板 ID").fill(template_id)
    form.get_by_label("字段对应（每行 微信字段=数据名）").fill("thing1=course\ntime2=starts_at")
    form.get_by_role("button", name="登记").click()
    page.wait_for_load_state("load")
    page.locator("table code", has_text="class_start").wait_for()
    # and sends it to the tag from 触达, filling its values (urgent: quiet hours hold no one)
    browser_owner.go("/reach")
    notice = page.locator("form[action='/reach/broadcasts']")
    notice.get_by_label("名称", exact=True).fill("早课班开课提醒")
    notice.locator("select[name=template_key]").select_option("class_start")
    notice.get_by_label("会员标签").fill("早课班")
    notice.locator("select[name=urgency]").select_option("urgent")
    values = "course=晨读营早课\nstarts_at=2026-12-08 07:00"
    notice.get_by_label("内容（每行 名称=值）").fill(values)
    notice.get_by_role("button", name="创建并发送").click()
    # then the broadcast is listed, to the tag's two members
    listed = page.locator("table tr", has_text="早课班开课提醒")
    listed.wait_for()
    assert "tag: 早课班" in listed.inner_text()

    def templates_of(s: SandboxUser) -> list[dict[str, Any]]:
        return [m for m in s.inbox() if m["msgtype"] == "template"]

    # and in WeChat each tagged follower receives it once, with the values filled in, at once
    # (a broadcast sent now does not wait for the minute tick)
    wait_until(lambda: all(templates_of(s) for s in students[:2]), 20, "the notice reaches 早课班")
    for s in students[:2]:
        [got] = [m for m in templates_of(s) if m["content"]["template_id"] == template_id]
        assert "晨读营早课" in json.dumps(got["content"]["data"], ensure_ascii=False), got
    # and the untagged follower receives nothing
    assert templates_of(students[2]) == []
    browser_owner.clean()
