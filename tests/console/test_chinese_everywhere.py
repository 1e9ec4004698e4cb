"""Chinese everywhere an operator reads: every console text and every refusal's text, every raise
site's slots, and the places English used to reach operators (the settlement's 依据, menu
errors, import rejections, form validation, the reach chart's labels)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel, field_validator

import siyu
from siyu.community.enums import RefundRule
from siyu.community.service import refund_for
from siyu.console.forms import ConsoleForm, FormInvalid, parse_form
from siyu.console.i18n import EN, ZH, Translator
from siyu.console.reach import outcome_label
from siyu.core.db import Database
from siyu.core.errors import ErrorCode, SiyuError, all_error_codes
from siyu.entries import service as entries
from siyu.identity.service import parse_events
from siyu.workspaces.schemas import AppRead
from tests.support.names import MP_APPID, OA_APPID, openid

CJK = re.compile(r"[\u4e00-\u9fff]")
# Three English words in a row: a sentence, not a name (UnionID, JSON, API, ¥{amount}).
ENGLISH = re.compile(r"[A-Za-z]{2,}(?:[\s,'’-]+[A-Za-z]+){2,}")
SRC = Path(siyu.__file__).parent


def english_only(text: str) -> bool:
    return not CJK.search(text) and ENGLISH.search(text) is not None


def test_every_console_text_has_chinese() -> None:
    # given the console's catalogs; then no Chinese entry is an English sentence
    assert len(ZH) > 500
    assert [key for key, text in ZH.items() if english_only(text)] == []
    # and every entry exists in both languages
    assert set(ZH) == set(EN)


def test_every_refusal_an_operator_meets_reads_chinese() -> None:
    problems = []
    for entry in all_error_codes():
        if entry.api_only:
            continue
        shown = Translator("zh-CN").refusal(entry("the API's words", **_filled(entry)))
        if not CJK.search(shown) or "the API's words" in shown:
            problems.append(f"{entry.code}: {shown}")
    assert problems == []


def _filled(entry: ErrorCode) -> dict[str, str]:
    return dict.fromkeys(entry.slots(), "某值")


def _literal(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(str(v.value) if isinstance(v, ast.Constant) else "{}" for v in node.values)
    return None


def _slot_values() -> Iterator[tuple[str, str, str]]:
    """(where, code, text) of each literal a raise site puts in a slot of a code's Chinese."""
    by_name = {e.code.rpartition(".")[2]: e for e in all_error_codes()}
    for path in sorted(SRC.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            entry = by_name.get(node.func.attr.lower())
            if entry is None or entry.api_only or not node.func.attr.isupper():
                continue
            for keyword in node.keywords:
                text = _literal(keyword.value) if keyword.arg in entry.slots() else None
                if text is not None:
                    yield f"{path.relative_to(SRC)}:{node.lineno}", entry.code, text


def test_no_raise_site_fills_a_chinese_text_with_english() -> None:
    found = list(_slot_values())
    assert found  # the walk sees the raise sites
    assert [f"{where} {code}: {text}" for where, code, text in found if english_only(text)] == []


def test_the_settlement_basis_is_chinese_for_every_rule() -> None:
    class Rule(BaseModel):
        deposit: int = 2000
        checkin_days_required: int = 20
        refund_rule: RefundRule
        refund_n: int | None = None
        refund_table: list[dict[str, int]] = [{"min_days": 10, "percent": 50}]

    for rule in RefundRule:
        for checkins in (0, 10, 25):
            _fen, basis = refund_for(Rule(refund_rule=rule), checkins, 2000)  # type: ignore[arg-type]
            assert CJK.search(basis), (rule, basis)
            assert not ENGLISH.search(basis), (rule, basis)


def test_a_menu_error_reads_chinese(db: Database, workspace_id: int, oa_app: AppRead) -> None:
    # given a menu whose second button opens a Mini Program not linked to the account
    body = {
        "button": [
            {"type": "click", "name": "打卡", "key": "checkin"},
            {"type": "miniprogram", "name": "小程序", "url": "https://a.cn", "appid": "wx9999"},
        ]
    }
    with pytest.raises(SiyuError) as caught, db.session_scope() as session:
        entries.preview_menu(session, workspace_id, OA_APPID, body)
    shown = Translator("zh-CN").refusal(caught.value)
    assert "第 2 个按钮" in shown
    assert "未关联" in shown
    assert not ENGLISH.search(shown.replace("wx9999", ""))


def test_import_rejections_read_chinese(db: Database, workspace_id: int, mp_app: AppRead) -> None:
    lines = [
        (1, {"event": "mp.login", "ts": "2026-11-20T10:00:00+08:00", "appid": MP_APPID}),
        (2, {"event": "no.such", "ts": "2026-11-20T10:00:00+08:00", "appid": MP_APPID}),
        (3, {"event": "mp.login", "ts": "yesterday", "appid": MP_APPID, "openid": openid(1)}),
        (4, {"event": "mp.login", "ts": "2026-11-20T10:00:00+08:00", "appid": "wxnobody"}),
    ]
    with db.session_scope() as session:
        _parsed, refused = parse_events(session, workspace_id, lines)
    assert [r.line for r in refused] == [1, 2, 3, 4]
    for line in refused:
        assert CJK.search(line.zh), line
        assert not english_only(line.zh), line
        assert line.reason  # the API keeps its own words


def test_a_form_problem_from_a_schema_rule_reads_chinese() -> None:
    class Rule(ConsoleForm):
        keywords: str = ""

        @field_validator("keywords")
        @classmethod
        def _some(cls, value: str) -> str:
            raise ValueError("a keyword rule needs at least one keyword")

    with pytest.raises(FormInvalid) as caught:
        parse_form({"keywords": "x"}, Rule, Translator("zh-CN"))
    assert "a keyword rule" not in caught.value.errors["keywords"]
    assert CJK.search(caught.value.errors["keywords"])


def test_the_reach_chart_labels_read_chinese() -> None:
    tr = Translator("zh-CN")
    assert outcome_label(tr, "sent") == "已发送"
    assert outcome_label(tr, "held: quiet_hours") == "暂缓：免打扰时段"
    assert outcome_label(Translator("en"), "held: quiet_hours") == "Held: Quiet hours"


def test_the_console_pages_read_chinese(app_client: TestClient, console: object) -> None:
    """Every page of the navigation, signed in as the owner: its visible text has Chinese and
    no English sentence outside code, identifiers and the language switch."""
    nav = re.findall(r'<a[^>]+href="(/[a-z/]*)"', app_client.get("/").text)
    pages = sorted({p for p in nav if not p.startswith(("/lang", "/static", "/sandbox"))})
    assert len(pages) > 8
    for page in pages:
        html = app_client.get(page).text
        text = re.sub(r"<(script|style|code|pre|textarea)\b.*?</\1>", " ", html, flags=re.S)
        text = re.sub(r"<[^>]+>", "\n", text)
        lines = [t.strip() for t in text.splitlines() if t.strip() and t.strip() != "English"]
        assert any(CJK.search(t) for t in lines), page
        assert [t for t in lines if english_only(t)] == [], page
