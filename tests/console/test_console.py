"""The operator console: sign-in, both languages, search, profile, review, imports, apps."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from siyu.console.i18n import EN, ZH
from siyu.core.config import Settings
from siyu.core.db import Database
from siyu.identity import service as identity
from siyu.identity.enums import ConflictStatus, MemberStatus
from siyu.security.schemas import Principal
from siyu.workspaces import service as workspaces
from siyu.workspaces.schemas import AppRead
from tests.support.console import HTMX, Console
from tests.support.console import event as _event
from tests.support.console import ingest as _ingest
from tests.support.console import login_token as _login_token
from tests.support.console import sign_in as _sign_in
from tests.support.console import ts as _ts
from tests.support.names import MP_APPID, OWNER_EMAIL, OWNER_PASSWORD, openid

TEMPLATES = Path(__file__).parents[2] / "src" / "siyu" / "console" / "templates"
PHONE = "13800138000"


def _member_of(db: Database, workspace_id: int, n: int) -> Any:
    with db.session_scope() as session:
        [member] = identity.search_members(session, workspace_id, openid=openid(n))
    return member


def _open_conflict(db: Database, workspace_id: int) -> int:
    """Two members, then an openid of the first arriving with the UnionID of the second."""
    _ingest(db, workspace_id, _event(1, unionid=openid(1, "u")))
    _ingest(db, workspace_id, _event(2, unionid=openid(2, "u")))
    _ingest(db, workspace_id, _event(1, unionid=openid(2, "u")))
    with db.session_scope() as session:
        [conflict] = identity.list_conflicts(session, workspace_id, ConflictStatus.open)
    return conflict.id


# --- signing in --------------------------------------------------------------------------


def test_login_issues_a_new_session_cookie(app_client: TestClient, owner: Principal) -> None:
    # given a browser carrying a session cookie planted by someone else
    app_client.cookies.set("siyu_session", "planted-by-an-attacker", domain="testserver.local")
    # when the owner signs in
    response = _sign_in(app_client, "/members")
    # then a new, HttpOnly, SameSite=Lax session cookie replaces it and the page opens
    assert response.status_code == 303
    assert response.headers["location"] == "/members"
    cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith("siyu_session=")
    )
    assert "planted-by-an-attacker" not in cookie
    assert "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower()
    assert "Path=/" in cookie
    assert app_client.cookies.get("siyu_session") not in (None, "planted-by-an-attacker")
    assert app_client.get("/members").status_code == 200


def test_wrong_password_answers_401_without_a_cookie(
    app_client: TestClient, owner: Principal
) -> None:
    # given the login form
    token = _login_token(app_client)
    # when the password is wrong
    response = app_client.post(
        "/login", data={"email": OWNER_EMAIL, "password": "nope-nope-nope", "csrf_token": token}
    )
    # then the form comes back with a Chinese message and the code, and no session
    assert response.status_code == 401
    assert "邮箱或密码不正确" in response.text
    assert "security.bad_credentials" in response.text
    assert not any(c.startswith("siyu_session=") for c in response.headers.get_list("set-cookie"))


@pytest.mark.parametrize("with_cookie", [False, True])
def test_login_without_the_csrf_pair_is_refused(
    app_client: TestClient, owner: Principal, with_cookie: bool
) -> None:
    # given a login POST that lacks the double-submit field (with or without the cookie)
    if with_cookie:
        _login_token(app_client)
    # when it is sent with good credentials
    response = app_client.post(
        "/login", data={"email": OWNER_EMAIL, "password": OWNER_PASSWORD}, follow_redirects=False
    )
    # then it is refused and no session starts
    assert response.status_code == 403
    assert "auth.csrf_failed" in response.text
    assert not any(c.startswith("siyu_session=") for c in response.headers.get_list("set-cookie"))


def test_login_field_must_match_a_signed_cookie(app_client: TestClient, owner: Principal) -> None:
    # given a forged pair: the same unsigned value in cookie and field
    app_client.cookies.set("siyu_login_csrf", "forged.value", path="/login")
    # when it is used to sign in
    response = app_client.post(
        "/login",
        data={"email": OWNER_EMAIL, "password": OWNER_PASSWORD, "csrf_token": "forged.value"},
        follow_redirects=False,
    )
    # then it is refused
    assert response.status_code == 403


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example",
        "//evil.example/x",
        "/\\evil.example",
        "http:/evil.example",
        "javascript:alert(1)",
    ],
)
def test_login_never_redirects_off_site(
    app_client: TestClient, owner: Principal, target: str
) -> None:
    # given a login link whose next points elsewhere
    # when the owner signs in through it
    response = _sign_in(app_client, target)
    # then the console opens at home instead
    assert response.status_code == 303
    assert response.headers["location"] == "/"


def test_language_switch_never_redirects_off_site(app_client: TestClient) -> None:
    response = app_client.get(
        "/lang/en", params={"next": "https://evil.example"}, follow_redirects=False
    )
    assert response.headers["location"] == "/"


def test_logout_ends_the_session(console: Console) -> None:
    # when the operator signs out with the form's CSRF token
    response = console.client.post(
        "/logout", data={"csrf_token": console.csrf}, follow_redirects=False
    )
    # then the session is over
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    assert console.client.get("/", follow_redirects=False).status_code == 303


def test_an_anonymous_page_view_goes_to_login(app_client: TestClient) -> None:
    response = app_client.get("/members?q=10001", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fmembers%3Fq%3D10001"


def test_an_anonymous_htmx_call_is_sent_to_login(app_client: TestClient) -> None:
    response = app_client.get("/imports/runs", headers=HTMX, follow_redirects=False)
    assert response.status_code == 401
    assert response.headers["HX-Redirect"].startswith("/login?next=")


# --- pages and languages -----------------------------------------------------------------

PAGES = ["/", "/members", "/review", "/imports", "/apps"]


def test_pages_render_in_chinese_then_in_english(console: Console, mp_app: AppRead) -> None:
    # given a signed-in operator, in the default language
    for path in PAGES:
        page = console.client.get(path)
        assert page.status_code == 200, path
        assert "概览" in page.text
        assert 'lang="zh-CN"' in page.text
    # when they switch to English
    switched = console.client.get("/lang/en", params={"next": "/members"}, follow_redirects=False)
    assert switched.headers["location"] == "/members"
    # then every page speaks English
    for path in PAGES:
        page = console.client.get(path)
        assert page.status_code == 200, path
        assert "Overview" in page.text
        assert "概览" not in page.text
    assert "Register an app" in console.client.get("/apps").text


def test_overview_shows_figures_and_chart_data(
    console: Console, db: Database, workspace_id: int, mp_app: AppRead
) -> None:
    # given two members with three events today
    _ingest(db, workspace_id, _event(1, minutes_ago=0), _event(2), _event(2, "mp.page_view"))
    # when the overview opens
    page = console.client.get("/")
    # then the cards count them and the chart carries 30 days of both series
    assert page.status_code == 200
    match = re.search(r"data-chart='([^']+)'", page.text)
    assert match is not None
    chart = json.loads(match.group(1).replace("&#34;", '"'))
    assert len(chart["days"]) == 30
    assert sum(chart["members"]) == 2
    assert sum(chart["events"]) == 3
    assert chart["labels"]["members"] == "新增会员"
    assert '<script src="/static/vendor/echarts.min.js"' in page.text
    assert "<script>" not in page.text


def test_static_assets_are_served(app_client: TestClient) -> None:
    for path in ("/static/console.css", "/static/console.js"):
        assert app_client.get(path).status_code == 200


# --- members -----------------------------------------------------------------------------


def test_search_finds_a_member_by_number_and_by_phone(
    console: Console, db: Database, workspace_id: int, mp_app: AppRead
) -> None:
    # given a member with a phone, and another member
    _ingest(db, workspace_id, _event(1, phone=PHONE), _event(2))
    member = _member_of(db, workspace_id, 1)
    # when the operator types the member number (live results)
    live = console.client.get("/members", params={"q": str(member.number)}, headers=HTMX)
    # then the partial lists that member, with the phone masked
    assert live.status_code == 200
    assert f'href="/members/{member.id}"' in live.text
    assert "138****8000" in live.text
    assert PHONE not in live.text
    assert "<html" not in live.text
    # when they press Enter on the number or on the phone
    for query in (str(member.number), PHONE, f"+86{PHONE}"):
        response = console.client.get("/members", params={"q": query}, follow_redirects=False)
        # then they land on the profile
        assert response.status_code == 303, query
        assert response.headers["location"] == f"/members/{member.id}"


def test_search_without_a_match_says_so(console: Console, mp_app: AppRead) -> None:
    page = console.client.get("/members", params={"q": "99999"})
    assert page.status_code == 200
    assert "没有与“99999”匹配的会员" in page.text


def test_profile_shows_identities_and_the_timeline(
    console: Console, db: Database, workspace_id: int, mp_app: AppRead
) -> None:
    # given a member with UnionID, phone and two events
    _ingest(
        db,
        workspace_id,
        _event(1, unionid=openid(1, "u"), phone=PHONE),
        _event(1, "mp.page_view", props={"page": "pages/index/index"}, channel="poster"),
    )
    member = _member_of(db, workspace_id, 1)
    # when the owner opens the profile
    page = console.client.get(f"/members/{member.id}")
    # then identities (the full phone, for an owner) and the events are there, newest first
    assert page.status_code == 200
    text = page.text
    assert str(member.number) in text
    assert openid(1) in text
    assert openid(1, "u") in text
    assert "打卡小程序" in text
    assert f"+86{PHONE}" in text
    assert "登录小程序" in text
    assert "浏览页面" in text
    assert "pages/index/index" in text
    assert text.index("mp.page_view") < text.index("mp.login")


def test_timeline_loads_more_with_the_cursor(
    console: Console, db: Database, workspace_id: int, mp_app: AppRead
) -> None:
    # given a member with 55 events
    _ingest(db, workspace_id, *[_event(1, "mp.page_view", minutes_ago=i) for i in range(55)])
    member = _member_of(db, workspace_id, 1)
    # when the profile opens, 50 show with a "load more" button
    page = console.client.get(f"/members/{member.id}").text
    assert page.count('<code class="muted">mp.page_view</code>') == 50
    match = re.search(r'hx-get="(/members/\d+/timeline\?cursor=[^"]+)"', page)
    assert match is not None
    assert "加载更多" in page
    # when the button is pressed
    more = console.client.get(match.group(1).replace("&amp;", "&"), headers=HTMX)
    # then the last 5 come, and no further button
    assert more.status_code == 200
    assert more.text.count("mp.page_view</code>") == 5
    assert "加载更多" not in more.text


def test_unknown_member_is_a_404_page(console: Console) -> None:
    page = console.client.get("/members/987654")
    assert page.status_code == 404
    assert "找不到这位会员" in page.text
    assert "identity.member_not_found" in page.text


def test_malformed_member_id_is_refused_not_a_500(console: Console) -> None:
    page = console.client.get("/members/not-a-number")
    assert page.status_code == 422
    assert "request.invalid" in page.text


# --- CSRF on writes ----------------------------------------------------------------------


def test_a_write_without_the_csrf_token_changes_nothing(
    console: Console, db: Database, workspace_id: int, mp_app: AppRead
) -> None:
    # given an open conflict
    conflict_id = _open_conflict(db, workspace_id)
    # when htmx calls arrive without X-CSRF-Token
    dismissed = console.client.post(f"/review/{conflict_id}/dismiss", headers=HTMX)
    added = console.client.post(
        "/apps", headers=HTMX, data={"kind": "h5", "appid": "shop-h5", "name": "商城"}
    )
    uploaded = console.client.post(
        "/imports",
        headers=HTMX,
        files={"file": ("e.jsonl", b'{"event": "mp.login"}\n', "application/x-ndjson")},
    )
    # then each is refused with the reason, and nothing changed
    for response in (dismissed, added, uploaded):
        assert response.status_code == 403
        assert "auth.csrf_failed" in response.text
        assert "刷新页面" in response.text
    with db.session_scope() as session:
        assert len(identity.list_conflicts(session, workspace_id, ConflictStatus.open)) == 1
        assert [a.appid for a in workspaces.list_apps(session, workspace_id)] == [MP_APPID]
        assert identity.list_imports(session, workspace_id) == []


def test_a_wrong_csrf_token_is_refused(console: Console) -> None:
    response = console.client.post(
        "/apps",
        headers={**HTMX, "X-CSRF-Token": "guess"},
        data={"kind": "h5", "appid": "shop-h5", "name": "商城"},
    )
    assert response.status_code == 403


# --- review and merges -------------------------------------------------------------------


def test_review_merge_then_a_second_click_changes_nothing(
    console: Console, db: Database, workspace_id: int, mp_app: AppRead
) -> None:
    # given an open conflict shown side by side
    conflict_id = _open_conflict(db, workspace_id)
    keep, drop = _member_of(db, workspace_id, 1), _member_of(db, workspace_id, 2)
    page = console.client.get("/review")
    assert str(keep.number) in page.text
    assert str(drop.number) in page.text
    form = {"survivor": str(keep.id), "merged": str(drop.id)}
    # when the operator merges, keeping the first
    merged = console.client.post(f"/review/{conflict_id}/merge", data=form, headers=console.htmx())
    # then the card says so and the database agrees
    assert merged.status_code == 200
    assert f"已合并：会员 {drop.number} 并入会员 {keep.number}" in merged.text
    with db.session_scope() as session:
        assert identity.get_member(session, workspace_id, drop.id).status == MemberStatus.merged
        assert identity.list_conflicts(session, workspace_id, ConflictStatus.open) == []
        merges_before = identity.list_merges(session, workspace_id, keep.id)
    # when the button is clicked again
    again = console.client.post(f"/review/{conflict_id}/merge", data=form, headers=console.htmx())
    # then a clear 409 message lands beside the card, and nothing changed
    assert again.status_code == 409
    assert "已经处理过了" in again.text
    assert "identity.conflict_closed" in again.text
    assert again.headers["HX-Retarget"] == f"#conflict-{conflict_id}-msg"
    with db.session_scope() as session:
        assert identity.list_merges(session, workspace_id, keep.id) == merges_before


def test_review_dismiss_keeps_both_members(
    console: Console, db: Database, workspace_id: int, mp_app: AppRead
) -> None:
    conflict_id = _open_conflict(db, workspace_id)
    response = console.client.post(f"/review/{conflict_id}/dismiss", headers=console.htmx())
    assert response.status_code == 200
    assert "已忽略" in response.text
    with db.session_scope() as session:
        [conflict] = identity.list_conflicts(session, workspace_id, None)
        assert conflict.status == ConflictStatus.dismissed
    assert "没有待审的合并" in console.client.get("/review").text


def test_review_without_javascript_redirects_back(
    console: Console, db: Database, workspace_id: int, mp_app: AppRead
) -> None:
    conflict_id = _open_conflict(db, workspace_id)
    response = console.client.post(
        f"/review/{conflict_id}/dismiss", data={"csrf_token": console.csrf}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/review"


def test_undo_a_merge_from_the_profile(
    console: Console, db: Database, workspace_id: int, mp_app: AppRead
) -> None:
    # given two members merged from the review list
    conflict_id = _open_conflict(db, workspace_id)
    keep, drop = _member_of(db, workspace_id, 1), _member_of(db, workspace_id, 2)
    console.client.post(
        f"/review/{conflict_id}/merge",
        headers=console.htmx(),
        data={"survivor": str(keep.id), "merged": str(drop.id)},
    )
    profile = console.client.get(f"/members/{keep.id}").text
    match = re.search(r'hx-post="(/members/\d+/merges/(\d+)/undo)"', profile)
    assert match is not None
    merged_page = console.client.get(f"/members/{drop.id}").text
    assert "已合并" in merged_page
    assert f'href="/members/{keep.id}"' in merged_page
    # when the operator undoes it
    undone = console.client.post(match.group(1), headers=console.htmx())
    # then the member stands alone again
    assert undone.status_code == 200
    assert "已撤销合并" in undone.text
    with db.session_scope() as session:
        assert identity.get_member(session, workspace_id, drop.id).status == MemberStatus.active
    # when the stale button is pressed again, the refusal shows in the merge's row
    again = console.client.post(match.group(1), headers=console.htmx())
    assert again.status_code == 409
    assert "已经撤销过了" in again.text
    assert again.headers["HX-Retarget"] == f"#merge-{match.group(2)}-msg"


# --- imports -----------------------------------------------------------------------------


def test_import_upload_runs_and_shows_counts_and_rejected_lines(
    console: Console,
    db: Database,
    workspace_id: int,
    mp_app: AppRead,
    settings: Settings,
) -> None:
    # given a file with two good lines and one bad one
    lines = [
        json.dumps(_event(1)),
        json.dumps(_event(2, phone=PHONE)),
        json.dumps({"event": "nope.bad", "ts": _ts(), "appid": MP_APPID, "openid": openid(3)}),
    ]
    body = ("\n".join(lines) + "\n").encode()
    # when it is uploaded
    response = console.client.post(
        "/imports",
        headers=console.htmx(),
        files={"file": ("历史事件.jsonl", body, "application/x-ndjson")},
    )
    # then the run is queued, the file is on disk, and the list polls
    assert response.status_code == 200
    assert "历史事件.jsonl" in response.text
    assert "排队中" in response.text
    assert 'hx-trigger="every 1s"' in response.text
    with db.session_scope() as session:
        [run] = identity.list_imports(session, workspace_id)
    assert run.size_bytes == len(body)
    [stored] = (settings.data_dir / "imports").glob("*.jsonl")
    assert stored.read_bytes() == body
    # when the job runs
    identity.run_import(db, run.id)
    # then the page shows it done, with counts and the rejected line
    page = console.client.get("/imports")
    assert "已完成" in page.text
    assert "100%" in page.text
    assert "成功 2" in page.text
    assert "拒绝 1" in page.text
    assert "新会员 2" in page.text
    assert "events.invalid" in page.text
    assert '<td class="nowrap">3</td>' in page.text
    assert 'hx-trigger="every 1s"' not in page.text


def test_upload_without_javascript_uses_the_form_token(
    console: Console, db: Database, workspace_id: int, mp_app: AppRead
) -> None:
    response = console.client.post(
        "/imports",
        data={"csrf_token": console.csrf},
        files={"file": ("a.jsonl", b"{}\n", "application/x-ndjson")},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/imports"
    with db.session_scope() as session:
        assert len(identity.list_imports(session, workspace_id)) == 1


@pytest.mark.parametrize(
    ("name", "body", "code"),
    [
        ("events.csv", b"a,b\n", "console.upload_type"),
        ("events.jsonl", b"", "console.upload_empty"),
    ],
)
def test_bad_uploads_are_refused_and_leave_nothing(
    console: Console,
    db: Database,
    workspace_id: int,
    settings: Settings,
    name: str,
    body: bytes,
    code: str,
) -> None:
    response = console.client.post(
        "/imports", headers=console.htmx(), files={"file": (name, body, "text/plain")}
    )
    assert response.status_code == 422
    assert code in response.text
    assert response.headers["HX-Retarget"] == "#upload-msg"
    assert not list((settings.data_dir / "imports").glob("*"))
    with db.session_scope() as session:
        assert identity.list_imports(session, workspace_id) == []


def test_upload_without_a_file_is_refused(console: Console) -> None:
    response = console.client.post(
        "/imports", headers=console.htmx(), files={"other": ("x.txt", b"x", "text/plain")}
    )
    assert response.status_code == 422
    response = console.client.post("/imports", headers=console.htmx(), data={"a": "b"})
    assert response.status_code == 422


# --- apps --------------------------------------------------------------------------------


def test_add_an_app_from_the_form(console: Console, db: Database, workspace_id: int) -> None:
    # when a valid app is registered
    response = console.client.post(
        "/apps",
        headers=console.htmx(),
        data={
            "kind": "oa_service",
            "appid": "wx1111111111111111",
            "name": "品牌服务号",
            "entity": "示例科技有限公司",
            "entity_kind": "enterprise",
            "secret": "s" * 32,
            "token": "",
            "aes_key": "",
        },
    )
    # then it is listed, with its secret stored but not shown
    assert response.status_code == 200
    assert "已登记应用" in response.text
    assert "wx1111111111111111" in response.text
    assert "s" * 32 not in response.text
    with db.session_scope() as session:
        [app] = workspaces.list_apps(session, workspace_id)
        assert app.has_secret
        assert not app.has_token


def test_app_form_errors_show_by_the_field_without_echoing_secrets(
    console: Console, db: Database, workspace_id: int
) -> None:
    secret = "very-secret-value-123"
    response = console.client.post(
        "/apps",
        headers=console.htmx(),
        data={
            "kind": "mp",
            "appid": "not-an-appid",
            "name": "小程序",
            "secret": secret,
            "aes_key": "short",
        },
    )
    assert response.status_code == 422
    assert 'id="err-appid"' in response.text
    assert 'id="err-aes_key"' in response.text
    assert "43 位" in response.text
    assert secret not in response.text
    assert "not-an-appid" in response.text
    with db.session_scope() as session:
        assert workspaces.list_apps(session, workspace_id) == []


def test_app_registered_twice_is_a_clear_conflict(console: Console, mp_app: AppRead) -> None:
    response = console.client.post(
        "/apps", headers=console.htmx(), data={"kind": "mp", "appid": MP_APPID, "name": "again"}
    )
    assert response.status_code == 409
    assert "已经登记过了" in response.text
    assert "workspaces.app_exists" in response.text


# --- catalogs ----------------------------------------------------------------------------


def test_catalogs_cover_the_same_keys() -> None:
    assert set(ZH) == set(EN)


def test_every_template_key_is_translated() -> None:
    keys = set()
    for template in TEMPLATES.glob("*.html"):
        keys |= set(re.findall(r"""\bt\(\s*["']([a-z_.]+)["']\s*[,)]""", template.read_text()))
    assert keys, "no keys found"
    assert sorted(keys - set(ZH)) == []


def test_history_restore_gets_the_whole_page_and_nothing_is_cached(console: Console) -> None:
    restore = {**HTMX, "HX-History-Restore-Request": "true"}
    page = console.client.get("/members", params={"q": "10001"}, headers=restore)
    assert "<html" in page.text
    assert page.headers["Cache-Control"] == "no-store"
    assert "HX-Request" in page.headers["Vary"]


def test_errors_speak_english_after_the_switch(console: Console) -> None:
    console.client.get("/lang/en")
    page = console.client.get("/members/987654")
    assert page.status_code == 404
    assert "Member not found." in page.text
    assert "找不到" not in page.text
