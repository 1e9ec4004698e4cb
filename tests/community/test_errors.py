"""Community's refusals come from its catalogue: each code listed once, with Chinese text."""

from __future__ import annotations

import re
from pathlib import Path

from siyu.community import errors
from siyu.core.errors import all_error_codes

SRC = Path(__file__).resolve().parents[2] / "src" / "siyu"
RAISED_BY_HAND = re.compile(
    r"\b(SiyuError|NotFound|Conflict|Invalid|Forbidden|Unauthorized)\(\s*[\"']"
)


def test_no_raise_site_of_community_names_its_code_by_hand() -> None:
    # given every module of community and its console pages
    files = [
        *sorted((SRC / "community").rglob("*.py")),
        *sorted((SRC / "console").glob("community*.py")),
    ]
    # when their refusals are read
    by_hand = [
        f"{path.relative_to(SRC)}:{text[: m.start()].count(chr(10)) + 1}"
        for path in files
        for text in [path.read_text(encoding="utf-8")]
        for m in RAISED_BY_HAND.finditer(text)
    ]
    # then none passes a code as a string: each is raised by calling its listed code
    assert by_hand == []


def test_every_community_code_has_its_status_and_chinese_text() -> None:
    listed = [c for c in all_error_codes() if c.code.startswith("community.")]
    # then the catalogue holds them all, each with Chinese an operator can read
    assert len(listed) == 41  # 39, deposit_not_refundable and settled_elsewhere (issue #17)
    assert {c.code for c in listed} >= {errors.ALREADY_SETTLED.code, errors.NO_SETTLEMENT.code}
    for code in listed:
        assert re.search(r"[\u4e00-\u9fff]", code.zh), code.code
        assert code.status in (403, 404, 409, 413, 422), code.code
    # and the refusal of a read of a settlement not computed is the same code, as a 404
    refusal = errors.settlement_not_found("VOC1 has no settlement yet")
    assert (refusal.code, refusal.status) == ("community.no_settlement", 404)
