"""Members in Chromium: a student who follows the OA and shares their phone in the Mini Program
is found by phone and by 学号, tagged, and reached by a mass message to the tag (which the
sandbox user receives); the member list exports as a CSV that Excel opens (a BOM, 学号)."""

from __future__ import annotations

import csv
import io
from urllib.parse import quote

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
