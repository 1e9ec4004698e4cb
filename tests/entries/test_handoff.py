"""The MP → OA hand-off's page and rules: a forged page is a 404, and a rule needs a Mini
Program and a channel with an OA code (the whole flow is in tests/e2e/test_handoff.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from siyu.autoreply.models import AutoReplyRule
from siyu.core.config import Settings, install_settings
from siyu.core.db import Database
from tests.support.entries import channel, handoff_rule
from tests.support.names import MP_APPID, OA_APPID

PUBLIC = "https://siyu.example.com"
pytestmark = pytest.mark.usefixtures("oa_app", "mp_app")


@pytest.fixture
def settings(settings: Settings) -> Iterator[Settings]:
    """WeChat users open the hand-off page at siyu's public URL."""
    public = settings.model_copy(update={"public_url": PUBLIC})
    install_settings(public)
    yield public
    install_settings(settings)


def rule_count(db: Database) -> int:
    with db.session_scope() as session:
        return session.scalar(select(func.count()).select_from(AutoReplyRule)) or 0


def test_a_forged_or_unknown_hand_off_page_is_a_404(manager: TestClient) -> None:
    made = channel(manager, "handoff")
    code_id = made["code"]["id"]
    for path in (f"/q/{code_id}-{'0' * 24}", f"/q/{code_id + 1}-abc", f"/q/{code_id}-00/qr.png"):
        answer = manager.get(path, headers={"Accept": "application/json"})
        assert (answer.status_code, answer.json()["code"]) == (404, "entries.handoff_not_found")


def test_a_hand_off_needs_a_mini_program_and_a_channel_with_an_oa_code(
    manager: TestClient, db: Database
) -> None:
    # given a channel whose only code is a Mini Program code
    mp_only = manager.post(
        "/api/entries/channels",
        json={"name": "海报", "slug": "poster", "code": {"appid": MP_APPID, "kind": "mp_code"}},
    )
    assert mp_only.status_code == 201, mp_only.text
    with_oa = channel(manager, "handoff")
    # when rules hand off to it, or answer on the OA itself
    no_code = handoff_rule(manager, mp_only.json()["channel"]["id"])
    on_oa = handoff_rule(manager, with_oa["channel"]["id"], appid=OA_APPID)
    missing = handoff_rule(manager, 999_999)
    # then each is refused with its reason, and no rule is written
    assert (no_code.status_code, no_code.json()["code"]) == (
        409,
        "entries.handoff_without_oa_code",
    )
    assert (on_oa.status_code, on_oa.json()["code"]) == (422, "autoreply.invalid_reply")
    assert (missing.status_code, missing.json()["code"]) == (404, "entries.channel_not_found")
    assert rule_count(db) == 0
