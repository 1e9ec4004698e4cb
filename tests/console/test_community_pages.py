"""Console pages of community campaigns: the matrix and the activity editor, an activity's
enrollments and check-in review, the settlement with its confirmation, the review, and
service records on the member's profile — against the sandbox's WeChat Pay."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from siyu.community.models import Activity, Checkin, Series, ServiceRecord, Theme
from siyu.core.db import Database
from siyu.identity import service as identity
from siyu.security.enums import Role
from siyu.security.models import AuditEntry
from siyu.security.schemas import Principal
from tests.support.community import END, START, Campaign, Member, beijing
from tests.support.names import OWNER_EMAIL, OWNER_PASSWORD
from tests.support.pay import SIYU
from tests.support.security import make_staff

HTMX = {"HX-Request": "true"}


@dataclass
class Browser:
    """The owner signed in to the console (session cookie and its CSRF token)."""

    client: TestClient
    csrf: str

    def post(self, path: str, data: dict[str, str], *, htmx: bool = True) -> Any:
        headers = {**HTMX, "X-CSRF-Token": self.csrf} if htmx else {}
        body = data if htmx else {**data, "csrf_token": self.csrf}
        return self.client.post(path, data=body, headers=headers, follow_redirects=False)


def _token(html: str, pattern: str) -> str:
    match = re.search(pattern, html)
    assert match is not None
    return match.group(1)


SignIn = Callable[[], Browser]


@pytest.fixture
def sign_in(campaign: Campaign, owner: Principal) -> SignIn:
    """Sign the owner in now (after moving the frozen clock, a session would have expired)."""
    return lambda: _signed_in(campaign)


@pytest.fixture
def browser(sign_in: SignIn) -> Browser:
    return sign_in()


def _signed_in(campaign: Campaign) -> Browser:
    client = TestClient(campaign.env.client.app, base_url=SIYU)
    login = _token(client.get("/login").text, r'name="csrf_token" value="([^"]+)"')
    signed = client.post(
        "/login",
        data={"email": OWNER_EMAIL, "password": OWNER_PASSWORD, "csrf_token": login, "next": "/"},
        follow_redirects=False,
    )
    assert signed.status_code == 303
    page = client.get("/community")
    assert page.status_code == 200
    return Browser(client, _token(page.text, r'"X-CSRF-Token": "([^"]+)"'))


def _count(db: Database, model: Any) -> int:
    with db.session_scope() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _editor(series_id: int, **fields: str) -> dict[str, str]:
    return {
        "series_id": str(series_id),
        "code": "VOC2",
        "title": "词汇打卡第二期",
        "status": "open",
        "starts_on": "2026-12-01",
        "ends_on": "2026-12-21",
        "capacity": "200",
        "fee": "",
        "deposit": "9.9",
        "checkin_days_required": "14",
        "window_start": "06:00",
        "window_end": "23:00",
        "evidence": "either",
        "refund_rule": "full_at_n",
        "refund_n": "",
        **fields,
    }


def ran(campaign: Campaign, days: dict[int, int]) -> tuple[dict[str, Any], list[Member]]:
    """An activity where member i paid 9.90 and checked in on days[i] of its 3 days."""
    activity = campaign.activity()
    members = [campaign.member(i) for i in range(len(days))]
    for member in members:
        campaign.enrolled(member, activity["id"], channel="poster")
    for offset, day in enumerate((START, "2026-11-22", END)):
        campaign.at(beijing(day))
        for i, member in enumerate(members):
            if days[i] > offset:
                assert campaign.check_in(member, activity["id"]).status_code == 201
    return activity, members


# --- the matrix and the activity editor ----------------------------------------------------


def test_operator_builds_the_matrix_with_the_forms(browser: Browser, campaign: Campaign) -> None:
    db = campaign.env.db
    # given an empty matrix
    assert "还没有主题" in browser.client.get("/community").text
    # when the operator adds a theme, a series and an activity with the deposit in yuan
    theme = browser.post("/community/themes", {"name": "英语"})
    assert theme.status_code == 200
    assert "已添加主题“英语”" in theme.text
    with db.session_scope() as session:
        theme_id = session.scalar(select(Theme.id))
    series = browser.post("/community/series", {"theme_id": str(theme_id), "name": "21 天词汇"})
    assert "已添加系列“21 天词汇”" in series.text
    with db.session_scope() as session:
        series_id = int(session.scalar(select(Series.id)) or 0)
    added = browser.post("/community/activities", _editor(series_id))
    # then the matrix lists it, and the deposit is stored in fen
    assert added.status_code == 200, added.text
    assert "已添加活动 VOC2" in added.text
    assert "押金 ¥9.90" in added.text
    with db.session_scope() as session:
        activity = session.scalars(select(Activity)).one()
        assert (activity.deposit, activity.fee, activity.capacity) == (990, 0, 200)
        assert (activity.window_start, activity.window_end) == (360, 23 * 60)
        assert activity.refund_rule == "full_at_n"
        actions = list(session.scalars(select(AuditEntry.action)))
    assert {"community.theme_created", "community.series_created"} <= set(actions)
    assert "community.activity_created" in actions
    # and an activity refunding by steps takes them as check-ins:percent
    steps = _editor(series_id, code="VOC3", refund_rule="table", refund_table="7:30，14：60 21:100")
    assert browser.post("/community/activities", steps).status_code == 200
    with db.session_scope() as session:
        stepped = session.scalars(select(Activity).where(Activity.code == "VOC3")).one()
        assert stepped.refund_table == [
            {"min_days": 7, "percent": 30},
            {"min_days": 14, "percent": 60},
            {"min_days": 21, "percent": 100},
        ]
    # and without JavaScript, a form answers with a redirect back to the matrix
    plain = browser.post("/community/themes", {"name": "数学"}, htmx=False)
    assert (plain.status_code, plain.headers["location"]) == (303, "/community")


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"deposit": "9.999"}, "deposit", "最多两位小数"),
        ({"deposit": "-1"}, "deposit", "不能为负"),
        ({"ends_on": "2026-11-30"}, "ends_on", "结束日期不能早于开始日期"),
        ({"checkin_days_required": "40"}, "checkin_days_required", "不能多于活动天数"),
        ({"window_end": "05:00"}, "window_end", "结束要晚于开始"),
        ({"code": "空格 code"}, "code", "编号为字母"),
        ({"deposit": "", "refund_rule": "proportional"}, "deposit", "有退款规则时需要押金"),
        ({"capacity": "0"}, "capacity", "正整数"),
        ({"refund_rule": "table", "refund_table": "7:abc"}, "refund_table", "打卡数:百分比"),
        ({"refund_rule": "table"}, "refund_rule", "请选择退款规则"),
    ],
)
def test_a_bad_activity_shows_the_error_by_its_field_and_writes_nothing(
    browser: Browser,
    campaign: Campaign,
    fields: dict[str, str],
    field: str,
    message: str,
) -> None:
    # given a series
    series_id = campaign.theme_series()
    before = _count(campaign.env.db, Activity)
    # when the editor is sent with a bad value
    answer = browser.post("/community/activities", _editor(series_id, **fields))
    # then the field shows its error, the form keeps what was typed, and nothing is written
    assert answer.status_code == 422, answer.text
    assert f'id="err-{field}"' in answer.text
    assert message in answer.text
    assert "request.invalid" in answer.text
    assert 'value="词汇打卡第二期"' in answer.text
    assert _count(campaign.env.db, Activity) == before


def test_a_taken_code_is_refused_with_its_stable_code(
    browser: Browser,
    campaign: Campaign,
) -> None:
    # given an activity VOC1
    activity = campaign.activity()
    # when the editor sends the same code
    answer = browser.post(
        "/community/activities", _editor(activity["series_id"], code=activity["code"])
    )
    # then it is a conflict, translated, with its code; nothing more is written
    assert answer.status_code == 409
    assert "这个活动编号已经用过了" in answer.text
    assert "community.activity_exists" in answer.text
    assert _count(campaign.env.db, Activity) == 1
    # and a theme named twice is refused the same way
    browser.post("/community/themes", {"name": "数学"})
    again = browser.post("/community/themes", {"name": "数学"})
    assert again.status_code == 409
    assert "community.theme_exists" in again.text
    empty = browser.post("/community/themes", {"name": "  "})
    assert empty.status_code == 422
    assert 'id="err-theme_name"' in empty.text


def test_the_operator_opens_a_draft_activity_and_a_bad_window_changes_nothing(
    browser: Browser,
    campaign: Campaign,
) -> None:
    # given a draft activity
    activity = campaign.activity(status="draft")
    url = f"/community/activities/{activity['id']}"
    assert 'action="' + url + '"' in browser.client.get(url).text
    # when the window sent ends before it starts
    bad = browser.post(url, {"status": "open", "window_start": "20:00", "window_end": "08:00"})
    # then it is refused with its code and the activity is unchanged
    assert bad.status_code == 422
    assert "community.invalid_window" in bad.text
    assert (
        campaign.staff.get(f"/api/community{url[len('/community') :]}").json()["status"] == "draft"
    )
    # when the operator opens it with a capacity
    done = browser.post(url, {"status": "open", "capacity": "30", "window_start": "06:00"})
    # then the page reloads and the activity is open for enrollment
    assert (done.status_code, done.headers["HX-Redirect"]) == (204, url)
    changed = campaign.staff.get(f"/api/community/activities/{activity['id']}").json()
    assert (changed["status"], changed["capacity"], changed["window_start"]) == ("open", 30, 360)


# --- an activity: enrollments, check-ins ---------------------------------------------------


def test_activity_page_shows_enrollments_checkins_and_the_daily_chart(
    sign_in: SignIn,
    campaign: Campaign,
) -> None:
    # given two members who paid and checked in 3 and 1 times
    activity, _members = ran(campaign, {0: 3, 1: 1})
    browser = sign_in()
    # when the operator opens the activity
    page = browser.client.get(f"/community/activities/{activity['id']}")
    # then the enrollments show state, paid, check-ins and streak, and the chart has the days
    assert page.status_code == 200
    assert page.text.count("已报名") >= 2
    assert "¥9.90" in page.text
    assert "3 / 3" in page.text
    assert "1 / 3" in page.text
    assert '"11-21"' in page.text
    assert '"11-23"' in page.text
    assert "data-chart=" in page.text
    # and each accepted check-in has a reject button
    assert len(re.findall(r'hx-post="/community/checkins/[0-9]+/reject"', page.text)) == 4


def test_an_activity_with_many_checkins_shows_them_a_page_at_a_time(
    sign_in: SignIn,
    campaign: Campaign,
) -> None:
    # given nine members who checked in on each of the 3 days: 27 check-ins
    activity, _members = ran(campaign, dict.fromkeys(range(9), 3))
    browser = sign_in()
    url = f"/community/activities/{activity['id']}"
    # when the operator opens the activity
    first = browser.client.get(url)
    # then one page of 25 check-ins shows, with a link to the next page and none back
    assert first.status_code == 200
    shown = re.findall(r'<tr id="checkin-([0-9]+)">', first.text)
    assert len(shown) == 25
    following = re.search(r'rel="next" href="([^"]+#activity-checkins)"', first.text)
    assert following is not None
    assert 'rel="prev"' not in first.text.split('id="activity-checkins"', 1)[1]
    # when the operator follows it
    second = browser.client.get(url + following.group(1).replace("&amp;", "&"))
    # then the last 2 show, none seen on the first page, with a link back and none further
    rest = re.findall(r'<tr id="checkin-([0-9]+)">', second.text)
    assert len(rest) == 2
    assert not set(rest) & set(shown)
    assert _count(campaign.env.db, Checkin) == 27
    checkins = second.text.split('id="activity-checkins"', 1)[1]
    assert 'rel="prev"' in checkins
    assert 'rel="next"' not in checkins
    # and a page number that is not one is refused, not served
    assert browser.client.get(url + "?checkins_page=0").status_code == 422


def test_rejecting_a_checkin_stops_it_counting_and_needs_a_reason(
    sign_in: SignIn,
    campaign: Campaign,
) -> None:
    activity, _members = ran(campaign, {0: 2})
    browser = sign_in()
    with campaign.env.db.session_scope() as session:
        checkin_id = int(session.scalar(select(func.min(Checkin.id))) or 0)
    # when the operator rejects without a reason, nothing changes
    bare = browser.post(f"/community/checkins/{checkin_id}/reject", {"reason": " "})
    assert bare.status_code == 422
    assert "community.reject_reason_required" in bare.text
    # when with a reason, the check-in is rejected and the member's count goes down
    done = browser.post(f"/community/checkins/{checkin_id}/reject", {"reason": "图片与打卡无关"})
    assert done.status_code == 200
    assert "已驳回这次打卡" in done.text
    assert "图片与打卡无关" in done.text
    enrollments = campaign.staff.get(f"/api/community/activities/{activity['id']}/enrollments")
    assert enrollments.json()[0]["checkins"] == 1
    # and rejecting it again is refused with its code
    again = browser.post(f"/community/checkins/{checkin_id}/reject", {"reason": "again"})
    assert again.status_code == 409
    assert "community.checkin_already_rejected" in again.text


# --- settlement ----------------------------------------------------------------------------


def test_settlement_compute_then_confirm_refunds_once(
    sign_in: SignIn,
    campaign: Campaign,
) -> None:
    # given members who checked in 3, 1 and 0 of 3 days (proportional refund of 9.90)
    activity, _members = ran(campaign, {0: 3, 1: 1, 2: 0})
    campaign.at(beijing(END, 20))
    browser = sign_in()
    url = f"/community/activities/{activity['id']}/settlement"
    assert "还没有结算" in browser.client.get(url).text
    # before the end, computing is refused with its reason
    early = browser.post(url, {})
    assert early.status_code == 409
    assert "community.activity_not_ended" in early.text
    # when it ended, the operator computes: who gets what, and why; nothing is paid
    campaign.at(beijing("2026-11-24", 1))
    draft = browser.post(url, {})
    assert draft.status_code == 200
    assert "¥13.20" in draft.text
    assert "打卡 1/3 次：按比例退押金" in draft.text  # the 依据 column, in Chinese
    assert 'name="confirm"' in draft.text
    assert "hx-confirm=" in draft.text
    assert campaign.env.counts()["refunds"] == 0
    # a confirmation without the activity's code is refused, and nothing leaves
    wrong = browser.post(f"{url}/confirm", {"confirm": "nope"})
    assert wrong.status_code == 422
    assert "console.settlement_unconfirmed" in wrong.text
    assert campaign.env.counts()["refunds"] == 0
    # when confirmed, the refunds go out through Pay
    confirmed = browser.post(f"{url}/confirm", {"confirm": activity["code"]})
    assert confirmed.status_code == 200, confirmed.text
    assert "2 笔退款" in confirmed.text
    assert campaign.env.drain() == 1
    campaign.env.pay.tick()
    # and when confirmed a second time, it is refused: nothing is refunded twice
    twice = browser.post(f"{url}/confirm", {"confirm": activity["code"]})
    assert twice.status_code == 409
    assert "community.already_settled" in twice.text
    campaign.env.drain()
    campaign.env.pay.tick()
    ledger = campaign.env.ledger()
    assert ledger["refunded_total"] == 1320
    assert len(ledger["refunds"]) == 2
    # then the page shows the refunds' statuses from Pay
    page = browser.client.get(url)
    assert "已退款 2" in page.text
    assert page.text.count("<td>已退款") == 2
    assert "需要处理" not in page.text
    assert "已确认" in page.text
    # and the simulated WeChat shows the money on the sandbox merchant's account
    sandbox = browser.client.get("/simulator")
    assert sandbox.status_code == 200
    assert "退款（2 笔）" in sandbox.text
    assert "¥13.20" in sandbox.text
    assert sandbox.text.count("<td>SUCCESS</td>") == 2


def test_the_operator_ends_an_activity_early_then_computes_its_settlement(
    sign_in: SignIn,
    campaign: Campaign,
) -> None:
    # given a member who checked in on the first two of three days, on the second day
    activity, _members = ran(campaign, {0: 2})
    campaign.at(beijing("2026-11-22", 20))
    browser = sign_in()
    url = f"/community/activities/{activity['id']}"
    # the settlement page offers to end it early, asking first
    page = browser.client.get(f"{url}/settlement").text
    assert "提前结束活动" in page
    assert f'hx-post="{url}/end"' in page
    # when the operator ends it
    ended = browser.post(f"{url}/end", {})
    # then it ended yesterday: the page says so, stops offering it, and computing works today
    assert ended.status_code == 200, ended.text
    assert "活动已于 2026-11-21 结束" in ended.text
    assert f'hx-post="{url}/end"' not in ended.text
    draft = browser.post(f"{url}/settlement", {})
    assert draft.status_code == 200
    assert "¥6.60" in draft.text  # 2 of 3 days of the 9.90 deposit, proportionally
    # and ending it again is refused with its reason
    again = browser.post(f"{url}/end", {})
    assert again.status_code == 409
    assert "community.activity_already_ended" in again.text


# --- the review ----------------------------------------------------------------------------


def test_review_page_shows_rates_channels_money_and_retention(
    sign_in: SignIn,
    campaign: Campaign,
) -> None:
    # given a first activity, then a second one in the same series that one member re-joins
    first, members = ran(campaign, {0: 3, 1: 2})
    campaign.at(beijing("2026-11-24", 9))
    second = campaign.activity(
        first["series_id"], code="VOC2", starts_on="2026-11-25", ends_on="2026-11-27"
    )
    campaign.enrolled(members[0], second["id"], channel="group")
    browser = sign_in()
    # when the operator opens the second one's review
    page = browser.client.get(f"/community/activities/{second['id']}/review")
    # then the cards, the charts and the retention from VOC1 are there
    assert page.status_code == 200, page.text
    assert "来自 VOC1 的续报率" in page.text
    assert "50.0%" in page.text
    assert "¥9.90" in page.text
    assert page.text.count("data-chart=") == 3
    assert "续报" in page.text
    assert "流失" in page.text
    # and the first one's review has no previous activity
    first_page = browser.client.get(f"/community/activities/{first['id']}/review")
    assert "没有上一期活动" in first_page.text
    assert "¥19.80" in first_page.text
    # and the series review sets them side by side, linked from the matrix
    series_url = f"/community/series/{first['series_id']}/review"
    assert series_url in browser.client.get("/community").text
    series = browser.client.get(series_url)
    assert series.status_code == 200, series.text
    chart = json.loads(
        re.search(r"data-chart='([^']+)'", series.text).group(1)  # type: ignore[union-attr]
    )
    assert chart["option"]["xAxis"]["data"] == ["VOC1", "VOC2"]
    assert chart["option"]["series"][0]["data"] == [2, 1]  # enrollments
    assert chart["option"]["series"][2]["data"] == [None, 50.0]  # re-enrollment, %
    assert '50.0% <span class="muted">(1/2)</span>' in series.text
    # an unknown series is a 404
    assert browser.client.get("/community/series/999999/review").status_code == 404


# --- groups --------------------------------------------------------------------------------


def test_the_operator_keeps_a_group_members_posts_and_state(
    browser: Browser, campaign: Campaign
) -> None:
    # given an activity; the operator records its group on the activity's page
    activity = campaign.activity()
    page = f"/community/activities/{activity['id']}"
    assert "登记活动群" in browser.client.get(page).text
    made = browser.post(f"{page}/group", {"name": "词汇一期群"}, htmx=False)
    assert made.status_code == 303, made.text
    url = made.headers["location"]
    group = {"id": int(url.rsplit("/", 1)[1])}
    assert url in browser.client.get("/community").text
    assert "登记活动群" not in browser.client.get(page).text
    with campaign.env.db.session_scope() as session:
        number = identity.get_member(
            session, campaign.env.workspace_id, campaign.env.member_id
        ).number
    # when the operator adds a member by number (twice) and records a post
    for _ in range(2):
        added = browser.post(f"{url}/members", {"number": str(number)})
        assert added.status_code == 204, added.text
    posted = browser.post(f"{url}/posts", {"kind": "notice", "content": "明早 7 点开始打卡"})
    assert posted.status_code == 204, posted.text
    # then the page shows the member by number and the post
    page = browser.client.get(url).text
    assert f'href="/members/{campaign.env.member_id}">{number}</a>' in page
    assert "明早 7 点开始打卡" in page
    assert "1 位成员" in page
    # when it is archived, a post is refused with its reason and nothing is recorded
    assert browser.post(f"{url}/state", {"state": "archived"}).status_code == 204
    late = browser.post(f"{url}/posts", {"content": "还在吗"})
    assert late.status_code == 409
    assert "community.group_closed" in late.text
    # and a number that is no member's, or no number, is refused
    unknown = browser.post(f"{url}/members", {"number": "99999999"})
    assert (unknown.status_code, "identity.member_not_found" in unknown.text) == (404, True)
    assert browser.post(f"{url}/members", {"number": "abc"}).status_code == 422
    assert browser.post(f"{url}/state", {"state": "gone"}).status_code == 422
    posts = campaign.staff.get(f"/api/community/groups/{group['id']}/posts").json()
    assert [p["content"] for p in posts] == ["明早 7 点开始打卡"]


# --- service records -----------------------------------------------------------------------


def test_service_records_on_the_profile(browser: Browser, campaign: Campaign) -> None:
    member_id = campaign.env.member_id
    # given the profile shows an empty service record section with its form
    profile = browser.client.get(f"/members/{member_id}")
    assert "还没有服务记录" in profile.text
    assert f'action="/members/{member_id}/service-records"' in profile.text
    # when an empty note is sent, it is refused and nothing is written
    empty = browser.post(f"/members/{member_id}/service-records", {"kind": "note", "text": "  "})
    assert empty.status_code == 422
    assert "community.invalid_service_record" in empty.text
    assert _count(campaign.env.db, ServiceRecord) == 0
    # when a note is written
    added = browser.post(
        f"/members/{member_id}/service-records", {"kind": "call", "text": "回访：下期想报名"}
    )
    # then it is on the profile with who wrote it and its kind
    assert added.status_code == 200
    assert "回访：下期想报名" in added.text
    assert "电话" in added.text
    assert _count(campaign.env.db, ServiceRecord) == 1


# --- permissions and CSRF ------------------------------------------------------------------


def test_roles_without_the_permission_get_403_and_nothing_changes(
    campaign: Campaign,
    workspace_id: int,
) -> None:
    db = campaign.env.db
    activity, _members = ran(campaign, {0: 1})
    campaign.at(beijing("2026-11-24"))
    analyst = make_staff(db, workspace_id, Role.analyst)
    service = make_staff(db, workspace_id, Role.customer_service, "cs@example.com")
    client = TestClient(campaign.env.client.app, base_url=SIYU)
    aid = activity["id"]
    refused = [
        (analyst, "GET", "/community"),
        (analyst, "GET", f"/community/activities/{aid}"),
        (analyst, "GET", f"/community/activities/{aid}/review"),
        (service, "POST", "/community/themes"),
        (service, "POST", "/community/activities"),
        (service, "POST", f"/community/activities/{aid}/settlement"),
        (service, "POST", f"/community/activities/{aid}/settlement/confirm"),
        (service, "POST", f"/community/activities/{aid}/end"),
        (service, "POST", "/community/groups/1/posts"),
        (service, "POST", "/community/groups/1/state"),
        (service, "POST", "/community/groups/1/members"),
        (analyst, "POST", f"/members/{campaign.env.member_id}/service-records"),
    ]
    before = (_count(db, Theme), _count(db, Activity), _count(db, ServiceRecord))
    for who, method, path in refused:
        data = {"name": "x", "confirm": activity["code"], "text": "x"}
        answer = client.request(method, path, headers=who.headers, data=data)
        assert answer.status_code == 403, (path, answer.status_code)
        assert '<code class="code">security.forbidden</code>' in answer.text
    assert (_count(db, Theme), _count(db, Activity), _count(db, ServiceRecord)) == before
    assert campaign.env.counts()["refunds"] == 0
    # and customer service may read what its role allows
    assert client.get(f"/community/activities/{aid}", headers=service.headers).status_code == 200


def test_a_form_without_the_csrf_token_changes_nothing(
    browser: Browser, campaign: Campaign
) -> None:
    answer = browser.client.post(
        "/community/themes", data={"name": "英语"}, headers=HTMX, follow_redirects=False
    )
    assert answer.status_code == 403
    assert _count(campaign.env.db, Theme) == 0


def test_a_refund_the_merchant_cannot_pay_is_highlighted(
    sign_in: SignIn,
    campaign: Campaign,
) -> None:
    # given a settled activity whose refund WeChat Pay refused for want of balance
    activity, _members = ran(campaign, {0: 3})
    campaign.at(beijing("2026-11-24", 1))
    browser = sign_in()
    url = f"/community/activities/{activity['id']}/settlement"
    browser.post(url, {})
    campaign.env.pay.inject("refund", "not_enough")
    assert browser.post(f"{url}/confirm", {"confirm": activity["code"]}).status_code == 200
    campaign.env.drain()
    # when the operator opens the settlement
    page = browser.client.get(url)
    # then the problem is counted and its row highlighted with WeChat's reason
    assert "1 笔退款需要处理" in page.text
    assert 'class="problem attention"' in page.text
    assert "NOT_ENOUGH" in page.text


def test_a_deposit_nobody_gets_back_is_refused_as_a_fee(
    browser: Browser,
    campaign: Campaign,
) -> None:
    # given a series; when the editor sends a ¥9.90 deposit under the 不退 rule
    series_id = campaign.theme_series()
    answer = browser.post("/community/activities", _editor(series_id, refund_rule="none"))
    # then it is refused at the deposit, saying to make it a fee, and nothing is written
    assert answer.status_code == 422
    assert 'id="err-deposit"' in answer.text
    assert "押金其实就是报名费" in answer.text
    assert "¥9.90" in answer.text
    assert _count(campaign.env.db, Activity) == 0
    # and the API refuses it with the code too
    body = {**campaign.activity_body(series_id), "refund_rule": "none"}
    refused = campaign.staff.post("/api/community/activities", json=body)
    assert refused.status_code == 422
    assert refused.json()["code"] == "community.deposit_not_refundable"
    assert _count(campaign.env.db, Activity) == 0
    # while a fee under 不退 is what it is
    fee = browser.post(
        "/community/activities", _editor(series_id, refund_rule="none", deposit="", fee="9.9")
    )
    assert fee.status_code == 200, fee.text
    assert _count(campaign.env.db, Activity) == 1


# --- the demo: every page's figures are the review's ----------------------------------------


def _figures(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-figure="([a-z_]+)">([^<]+)<', html))


def _chart(html: str, attribute: str = "data-chart") -> dict[str, Any]:
    found = re.search(attribute + r"='([^']+)'", html)
    assert found is not None
    return dict(json.loads(found.group(1)))


def _demo(campaign: Campaign) -> tuple[Any, Any]:
    """The demo of `make run`: three sandbox users who paid DEMO-02's deposit three days ago
    by the sandbox's (simulated) clock, while siyu placed their orders at its own now; then
    `siyu demo community`."""
    from siyu.community import service
    from siyu.wechat.pay.models import PayOrder

    env = campaign.env
    campaign.at(beijing("2026-11-23", 9))
    with env.db.session_scope() as session:
        current = service.create_demo_matrix(session, env.workspace_id)
    assert current is not None
    for index in range(3):
        member = campaign.member(index)
        answer = campaign.enroll(member, current.id, channel="poster")
        assert answer.status_code == 200, answer.text
        env.world.set_time(beijing("2026-11-20", 8 + index))  # the simulated week's day
        campaign.pay(member, answer.json())
        env.world.set_time(None)
    with env.db.session_scope() as session:
        placed_late = session.scalar(
            select(func.count()).select_from(PayOrder).where(PayOrder.paid_at < PayOrder.created_at)
        )
    assert placed_late == 3  # what the simulated week leaves before the demo fixes it
    with env.db.session_scope() as session:
        service.replay_demo_checkins(session, env.workspace_id, current, seed=8)
        service.replay_demo_history(session, env.workspace_id, seed=8)
    with env.db.session_scope() as session:
        past = service.get_activity_by_code(session, env.workspace_id, service.DEMO_PREVIOUS)
        return past, current


def test_the_demo_data_is_in_order_orders_placed_before_paid_checkins_after_enrolling(
    campaign: Campaign,
) -> None:
    from siyu.community.models import Enrollment
    from siyu.wechat.pay.models import PayOrder

    # given the demo, its users paid in the sandbox's simulated past
    _past, current = _demo(campaign)
    with campaign.env.db.session_scope() as session:
        orders = session.scalars(select(PayOrder)).all()
        enrollments = session.scalars(
            select(Enrollment).where(Enrollment.activity_id == current.id)
        ).all()
        checkins = session.scalars(select(Checkin).where(Checkin.activity_id == current.id)).all()
        enrolled_at = {e.member_id: e.enrolled_at for e in enrollments}
        # then every order was placed before it was paid, every enrollment made before it was
        # paid, and every check-in came after its member enrolled
        assert orders
        assert all(o.paid_at and o.created_at <= o.paid_at for o in orders)
        assert all(e.enrolled_at and e.created_at <= e.enrolled_at for e in enrollments)
        assert len(checkins) > 3  # the replayed days since 11-20, and not before
        for c in checkins:
            when = enrolled_at[c.member_id]
            assert when is not None
            assert c.submitted_at >= when, (c.day, when)


def test_every_page_of_the_demo_shows_the_reviews_figures(
    sign_in: SignIn, campaign: Campaign
) -> None:
    from siyu.community import service
    from siyu.community.models import Settlement
    from siyu.core.money import format_yuan

    # given the demo: DEMO-01 settled history, DEMO-02 running (it ends tomorrow)
    past, current = _demo(campaign)
    env = campaign.env
    with env.db.session_scope() as session:
        history = service.activity_review(session, env.workspace_id, past.code)
        running = service.activity_review(session, env.workspace_id, current.code)
        series = service.series_review(session, env.workspace_id, past.series_id)
    assert history.enrollments > 0
    assert history.paid_total > 0
    browser = sign_in()
    # when the operator opens the settled history's page
    page = browser.client.get(f"/community/activities/{past.id}")
    # then it shows the review's enrollments, completions and money, not "nobody enrolled"
    assert page.status_code == 200
    assert _figures(page.text) == {
        "enrollments": str(history.enrollments),
        "completed": str(history.completed),
        "paid_total": f"¥{format_yuan(history.paid_total)}",
        "refunded_total": f"¥{format_yuan(history.refunded_total)}",
    }
    assert "还没有人报名" not in page.text
    # and its settlement page shows the same, with nothing offered to compute
    settle = browser.client.get(f"/community/activities/{past.id}/settlement")
    assert _figures(settle.text) == {
        "enrollments": str(history.enrollments),
        "paid_total": f"¥{format_yuan(history.paid_total)}",
        "refunded_total": f"¥{format_yuan(history.refunded_total)}",
    }
    assert f'action="/community/activities/{past.id}/settlement"' not in settle.text
    # and computing one anyway is refused with its code, and writes nothing
    refused = browser.post(f"/community/activities/{past.id}/settlement", {})
    assert refused.status_code == 409
    assert "已在 siyu 之外结算" in refused.text
    assert _count(env.db, Settlement) == 0
    # when the operator opens the running activity
    page = browser.client.get(f"/community/activities/{current.id}")
    # then its enrollments are the review's, and its chart ends today: no 0 % for tomorrow
    assert _figures(page.text)["enrollments"] == str(running.enrollments) == "3"
    days = _chart(page.text)["option"]["xAxis"]["data"]
    assert days[-1] == "11-23"
    assert len(days) == len(running.checkin_rate_by_day)
    # when the operator opens the series' review
    page = browser.client.get(f"/community/series/{past.series_id}/review")
    chart = _chart(page.text)["option"]
    completion = next(s for s in chart["series"] if s["name"] == "完成率")
    # then 完成率 plots rates (percent, on the percent axis), the table's figures
    assert completion["yAxisIndex"] == 1
    rates = [round(a.completion_rate * 100, 1) for a in series.activities]
    assert completion["data"] == rates
    for rate in rates:
        assert f"{rate:.1f}%" in page.text
