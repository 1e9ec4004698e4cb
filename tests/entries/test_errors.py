"""Entries' refusals are listed once (entries/errors.py) with Chinese an operator can act on;
raise sites call the listed codes, and the console says in Chinese what is wrong."""

from __future__ import annotations

import json
import re
from pathlib import Path

from siyu.core.db import Database
from siyu.core.errors import ErrorCode, all_error_codes
from siyu.entries import errors
from siyu.sandbox.world import SandboxWorld
from siyu.workspaces.schemas import AppRead
from tests.support.console import Console
from tests.support.names import OA_APPID

SRC = Path(__file__).resolve().parents[2] / "src" / "siyu"
AREA = [
    *sorted((SRC / "entries").rglob("*.py")),
    SRC / "console" / "entries.py",
    SRC / "console" / "menus.py",
    SRC / "cli" / "entries.py",
]
CHINESE = re.compile(r"[\u4e00-\u9fff]")
LITERAL_CODE = re.compile(
    r"\b(?:SiyuError|NotFound|Conflict|Invalid|Forbidden|Unauthorized)\(\s*f?[\"']"
)


def test_every_entries_code_is_listed_with_chinese_text() -> None:
    listed = [c for c in all_error_codes() if c.code.startswith("entries.")]
    assert len(listed) == 31  # with the conditional menus (#19)
    assert all(CHINESE.search(c.zh) for c in listed)
    # only what a Mini Program or a WeChat user meets is marked API-only
    assert sorted(c.code for c in listed if c.api_only) == [
        "entries.article_not_found",
        "entries.article_oa_not_linked",
        "entries.handoff_not_found",
    ]


def test_raise_sites_call_the_listed_codes_and_every_code_is_raised() -> None:
    sources = {path: path.read_text(encoding="utf-8") for path in AREA}
    # no refusal is made from a literal code
    literal = [
        f"{path.relative_to(SRC)}:{text.count(chr(10), 0, m.start()) + 1}"
        for path, text in sources.items()
        for m in LITERAL_CODE.finditer(text)
    ]
    assert literal == []
    # and no listed code is dead (the limits are raised through their table)
    used = "\n".join(t for p, t in sources.items() if p.name != "errors.py")
    names = [n for n, v in vars(errors).items() if isinstance(v, ErrorCode)]
    limits = {id(code) for code in errors.ASSOCIATION_LIMITS.values()}
    dead = [
        n
        for n in names
        if f"errors.{n}" not in used
        and not (id(getattr(errors, n)) in limits and "ASSOCIATION_LIMITS" in used)
    ]
    assert dead == []


def test_the_console_says_in_chinese_what_is_wrong_and_changes_nothing(
    console: Console,
    oa_app: AppRead,
    world: SandboxWorld,
    db: Database,
) -> None:
    client, csrf = console.client, console.csrf
    made = client.post(
        "/channels",
        data={"csrf_token": csrf, "name": "旧海报", "slug": "old"},
        follow_redirects=False,
    )
    channel = made.headers["location"]
    client.post(f"{channel}/archive", data={"csrf_token": csrf}, follow_redirects=False)
    menu = {"csrf_token": csrf, "appid": OA_APPID, "action": "save"}
    too_long = {"button": [{"type": "click", "name": "这个名字太长了啊", "key": "k"}]}
    # when the operator reuses a scene, asks a code of the archived channel, saves a menu
    # with a name too long and previews one that is not JSON
    answers = [
        client.post("/channels", data={"csrf_token": csrf, "name": "新", "slug": "old"}),
        client.post(
            f"{channel}/codes", data={"csrf_token": csrf, "appid": OA_APPID, "kind": "oa_qr_temp"}
        ),
        client.post("/menus", data={**menu, "menu": json.dumps(too_long, ensure_ascii=False)}),
        client.post("/menus", data={"csrf_token": csrf, "appid": OA_APPID, "menu": "{x"}),
    ]
    # then each is refused in Chinese, naming what to fix
    assert [a.status_code for a in answers] == [409, 409, 422, 422]
    assert "场景值 old 已被另一个渠道使用" in answers[0].text
    assert "渠道“旧海报”已归档" in answers[1].text
    assert (
        "菜单第 1 个按钮（button[1]）不符合微信的规则：名称（name）为 24 字节，应为 1–16 字节。"
        in answers[2].text
    )
    assert "菜单不是有效的 JSON（第 1 行第 2 列附近）。" in answers[3].text
    assert all("操作未完成" not in a.text for a in answers)  # no English fallback
    # and nothing was made
    assert client.get(channel).text.count("/api/entries/codes/") == 0
    assert "这个名字太长了啊" not in client.get("/menus").text
