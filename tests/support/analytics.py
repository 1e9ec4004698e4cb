"""A small timeline whose figures are worked out by hand (tests/analytics/): four people over
the first days of November 2026, Beijing time.

- A: opens the MP from channel qr_spring on Mon 11-02 10:00, reads an article (30 s), follows
  the OA at 12:00 (same UnionID), pays on 11-03 and again on 11-10, opens the MP on 11-09;
- B: opens the MP from qr_autumn on 11-02 20:00, views the home page (10 s), pays on 11-03;
- C: opens the MP on 11-03 08:00 and again on 11-16;
- D: follows the OA on 11-04, clicks its menu twice, unfollows on 11-05.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from siyu.core.clock import BEIJING
from siyu.core.db import Database
from siyu.identity import service as identity
from tests.support.names import MP_APPID, OA_APPID, openid

SECRET = "MARKER-zhang-san-13800001234"


def at(day: int, hour: int, minute: int = 0) -> str:
    return datetime(2026, 11, day, hour, minute, tzinfo=BEIJING).isoformat()


def event(
    name: str,
    ts: str,
    who: str,
    *,
    oa: bool = False,
    channel: str | None = None,
    props: dict[str, Any] | None = None,
) -> dict[str, Any]:
    line: dict[str, Any] = {
        "event": name,
        "ts": ts,
        "appid": OA_APPID if oa else MP_APPID,
        "openid": openid(PEOPLE[who], "p" if oa else "o"),
        "props": props or {},
    }
    if who in UNIONS:
        line["unionid"] = openid(PEOPLE[who], "u")
    if channel:
        line["channel"] = channel
    return line


PEOPLE = {"A": 1, "B": 2, "C": 3, "D": 4}
UNIONS = {"A"}


def lines() -> list[dict[str, Any]]:
    return [
        event("mp.launch", at(2, 10), "A", channel="qr_spring"),
        event("mp.page_view", at(2, 10, 5), "A", props={"from": "article", "duration_s": 30}),
        event("oa.subscribe", at(2, 12), "A", oa=True),
        event("pay.paid", at(3, 9), "A", props={"amount_fen": 9900, "receiver": SECRET}),
        event("mp.launch", at(9, 10), "A"),
        event("pay.paid", at(10, 9), "A", props={"amount_fen": 9900}),
        event("mp.launch", at(2, 20), "B", channel="qr_autumn"),
        event("mp.page_view", at(2, 20, 1), "B", props={"from": "home", "duration_s": 10}),
        event("pay.paid", at(3, 10), "B", props={"amount_fen": 500}),
        event("mp.launch", at(3, 8), "C"),
        event("mp.launch", at(16, 8), "C"),
        event("oa.subscribe", at(4, 9), "D", oa=True),
        event("oa.menu_click", at(4, 9, 1), "D", oa=True, props={"button": "about"}),
        event("oa.menu_click", at(4, 9, 2), "D", oa=True, props={"button": "shop"}),
        event("oa.unsubscribe", at(5, 9), "D", oa=True),
    ]


@dataclass(frozen=True)
class Scenario:
    workspace_id: int
    members: dict[str, int]


def load_scenario(db: Database, workspace_id: int) -> Scenario:
    with db.session_scope() as session:
        identity.ingest_events(session, workspace_id, lines())
        members = {
            who: identity.search_members(session, workspace_id, openid=openid(n, "o"))
            or identity.search_members(session, workspace_id, openid=openid(n, "p"))
            for who, n in PEOPLE.items()
        }
    return Scenario(workspace_id, {who: found[0].id for who, found in members.items()})
