"""Mini Program: code2Session, phone numbers, unlimited codes, schemes and links (§3)."""

from __future__ import annotations

import struct
from datetime import timedelta
from typing import Any

import pytest

from tests.support.sandbox import MP, OA, OTHER_MP, SECRET, Sandbox


def session(sb: Sandbox, code: str, appid: str = MP, secret: str = SECRET) -> dict[str, Any]:
    params = {"appid": appid, "secret": secret, "js_code": code, "grant_type": "authorization_code"}
    return sb.client.get("/sns/jscode2session", params=params).json()  # type: ignore[no-any-return]


def login_code(sb: Sandbox, appid: str = MP) -> str:
    return sb.world.issue_code(sb.user(), appid, "login")


def test_code2session_returns_openid_session_key_and_unionid(sandbox: Sandbox) -> None:
    answer = session(sandbox, login_code(sandbox))
    assert answer["openid"] == sandbox.openid(sandbox.user(), MP)
    assert len(answer["openid"]) == 28
    assert answer["unionid"] == sandbox.user().unionid
    assert len(answer["session_key"]) == 24
    assert "unionid" not in session(sandbox, login_code(sandbox, OTHER_MP), appid=OTHER_MP)


def test_a_login_code_is_single_use(sandbox: Sandbox) -> None:
    code = login_code(sandbox)
    assert "openid" in session(sandbox, code)
    assert session(sandbox, code)["errcode"] == 40163


def test_a_login_code_lives_five_minutes(sandbox: Sandbox) -> None:
    code = login_code(sandbox)
    sandbox.clock.advance(timedelta(minutes=5) - timedelta(seconds=1))
    assert "openid" in session(sandbox, code)
    late = login_code(sandbox)
    sandbox.clock.advance(timedelta(minutes=5))
    assert session(sandbox, late)["errcode"] == 40029


def test_code2session_refusals(sandbox: Sandbox) -> None:
    assert session(sandbox, "nonsense")["errcode"] == 40029
    assert session(sandbox, login_code(sandbox, OTHER_MP))["errcode"] == 40029  # another app's code
    assert session(sandbox, login_code(sandbox), secret="f" * 32)["errcode"] == 40001
    assert session(sandbox, login_code(sandbox), secret="bad")["errcode"] == 40125
    assert session(sandbox, "x", appid=OA)["errcode"] == 40013


def test_phone_number_code(sandbox: Sandbox) -> None:
    # given the user tapped getPhoneNumber
    outcome = sandbox.act("phone_code", sandbox.user(), MP)
    code = outcome.data["code"]
    # then the code buys the phone once, with a watermark of the app
    answer = sandbox.post("/wxa/business/getuserphonenumber", MP, {"code": code})
    info = answer["phone_info"]
    assert info["purePhoneNumber"] == sandbox.user().phone
    assert info["countryCode"] == "86"
    assert info["watermark"] == {"timestamp": int(sandbox.world.now().timestamp()), "appid": MP}
    assert sandbox.post("/wxa/business/getuserphonenumber", MP, {"code": code})["errcode"] == 40163
    late = sandbox.act("phone_code", sandbox.user(), MP).data["code"]
    sandbox.clock.advance(timedelta(minutes=5))
    assert sandbox.post("/wxa/business/getuserphonenumber", MP, {"code": late})["errcode"] == 40029
    assert sandbox.post("/wxa/business/getuserphonenumber", OA, {"code": late})["errcode"] == 48001


def wxacode(sb: Sandbox, **body: Any) -> Any:
    return sb.client.post(
        "/wxa/getwxacodeunlimit", params={"access_token": sb.token(MP)}, json=body
    )


def png_width(data: bytes) -> int:
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    return int(struct.unpack(">I", data[16:20])[0])


@pytest.mark.parametrize(
    ("asked", "drawn"), [(None, 430), (280, 280), (1280, 1280), (100, 280), (4000, 1280)]
)
def test_unlimited_code_is_a_png_within_280_to_1280(
    sandbox: Sandbox, asked: int | None, drawn: int
) -> None:
    body: dict[str, Any] = {"scene": "a=1&b=2", "page": "pages/checkin/index"}
    if asked is not None:
        body["width"] = asked
    answer = wxacode(sandbox, **body)
    assert answer.headers["content-type"] == "image/png"
    assert png_width(answer.content) == drawn


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"scene": "s" * 32}, 0),
        ({"scene": "s" * 33}, 40169),
        ({"scene": ""}, 40169),
        ({"scene": "a%20b"}, 40129),
        ({"scene": "中文"}, 40129),
        ({"scene": "x", "page": "/pages/index/index"}, 41030),
        ({"scene": "x", "page": "pages/index/index?a=1"}, 41030),
        ({"scene": "x", "page": "pages/new/index"}, 41030),
        ({"scene": "x", "page": "pages/new/index", "check_path": False}, 0),
        ({"scene": "x", "env_version": "beta"}, 40097),
    ],
)
def test_unlimited_code_rules(sandbox: Sandbox, body: dict[str, Any], code: int) -> None:
    answer = wxacode(sandbox, **body)
    if code == 0:
        assert answer.headers["content-type"] == "image/png"
    else:
        assert answer.json()["errcode"] == code


def test_scheme_lives_at_most_30_days(sandbox: Sandbox) -> None:
    jump = {"path": "pages/checkin/index", "query": "id=7", "env_version": "release"}
    ok = sandbox.post(
        "/wxa/generatescheme", MP, {"jump_wxa": jump, "expire_type": 1, "expire_interval": 30}
    )
    assert ok["openlink"].startswith("weixin://dl/business/?t=")
    too_long = {"jump_wxa": jump, "expire_type": 1, "expire_interval": 31}
    assert sandbox.post("/wxa/generatescheme", MP, too_long)["errcode"] == 85401
    # "permanent" is no longer granted: it lives 30 days
    forever = sandbox.post("/wxa/generatescheme", MP, {"jump_wxa": jump, "is_expire": False})[
        "openlink"
    ]
    expires = sandbox.world.account(MP).links[forever]["expires_at"]
    assert expires == (sandbox.world.now() + timedelta(days=30)).isoformat()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"path": "pages/index/index", "query": "a=1&b=2"}, 0),
        ({"path": "pages/gone/index"}, 40165),
        ({"path": "pages/index/index", "query": "a=<b>"}, 40212),
        ({"path": "pages/index/index", "query": "q" * 1025}, 40212),
        ({"env_version": "beta"}, 40097),
        ({"expire_type": 0, "expire_time": 1}, 85401),
        ({"expire_type": 1, "expire_interval": 0}, 85401),
    ],
)
def test_url_link_rules(sandbox: Sandbox, body: dict[str, Any], code: int) -> None:
    answer = sandbox.post("/wxa/generate_urllink", MP, body)
    assert answer["errcode"] == code
    if code == 0:
        assert answer["url_link"].startswith("https://wxaurl.cn/")


def test_url_link_expire_time_within_30_days(sandbox: Sandbox) -> None:
    now = int(sandbox.world.now().timestamp())
    in_range = {"expire_type": 0, "expire_time": now + 30 * 86400}
    assert sandbox.post("/wxa/generate_urllink", MP, in_range)["errcode"] == 0
    beyond = {"expire_type": 0, "expire_time": now + 30 * 86400 + 1}
    assert sandbox.post("/wxa/generate_urllink", MP, beyond)["errcode"] == 85401
    assert sandbox.post("/wxa/generate_urllink", OA, in_range)["errcode"] == 48001
