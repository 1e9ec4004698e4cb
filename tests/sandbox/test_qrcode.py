"""Parametric QR codes: temporary and permanent, scene ranges, lifetimes, the 100 000 cap (§2.3)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.support.sandbox import OA, Sandbox


def qr(action: str, *, expire: int | None = None, **scene: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"action_name": action, "action_info": {"scene": scene}}
    if expire is not None:
        body["expire_seconds"] = expire
    return body


def create(sb: Sandbox, body: dict[str, Any]) -> dict[str, Any]:
    return sb.post("/cgi-bin/qrcode/create", OA, body)  # type: ignore[no-any-return]


def test_temporary_code_defaults_to_60_seconds(sandbox: Sandbox) -> None:
    answer = create(sandbox, qr("QR_SCENE", scene_id=123))
    assert answer["expire_seconds"] == 60
    assert answer["url"].startswith("http://weixin.qq.com/q/")
    stored = sandbox.world.account(OA).qrcodes[answer["ticket"]]
    assert stored.expires_at == sandbox.world.now() + timedelta(seconds=60)


def test_temporary_code_lives_at_most_30_days(sandbox: Sandbox) -> None:
    assert (
        create(sandbox, qr("QR_STR_SCENE", expire=2_592_000, scene_str="a"))["expire_seconds"]
        == 2_592_000
    )
    assert (
        create(sandbox, qr("QR_STR_SCENE", expire=2_592_001, scene_str="a"))["expire_seconds"]
        == 2_592_000
    )


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (qr("QR_SCENE", scene_id=1), 0),
        (qr("QR_SCENE", scene_id=2**32 - 1), 0),
        (qr("QR_SCENE", scene_id=0), 40053),
        (qr("QR_SCENE", scene_id=2**32), 40053),
        (qr("QR_SCENE", scene_id="7"), 40053),
        (qr("QR_LIMIT_SCENE", scene_id=100_000), 0),
        (qr("QR_LIMIT_SCENE", scene_id=100_001), 40053),
        (qr("QR_LIMIT_STR_SCENE", scene_str="s" * 64), 0),
        (qr("QR_LIMIT_STR_SCENE", scene_str="s" * 65), 40053),
        (qr("QR_STR_SCENE", scene_str=""), 40053),
        (qr("QR_FOREVER", scene_id=1), 40052),
        ({"action_name": "QR_SCENE"}, 40053),
    ],
)
def test_scene_rules(sandbox: Sandbox, body: dict[str, Any], code: int) -> None:
    assert create(sandbox, body).get("errcode", 0) == code


def test_permanent_codes_are_capped_at_100000(sandbox: Sandbox) -> None:
    # given an account with 99 999 permanent codes and one more made
    account = sandbox.world.account(OA)
    account.permanent_qr = 99_999
    first = create(sandbox, qr("QR_LIMIT_STR_SCENE", scene_str="poster"))
    assert "expire_seconds" not in first
    # then a new scene is refused, while an existing scene gets its ticket back
    assert create(sandbox, qr("QR_LIMIT_STR_SCENE", scene_str="store"))["errcode"] == 45029
    assert (
        create(sandbox, qr("QR_LIMIT_STR_SCENE", scene_str="poster"))["ticket"] == first["ticket"]
    )
    assert create(sandbox, qr("QR_SCENE", scene_id=5))["expire_seconds"] == 60  # temporary: no cap
