"""Segments: each condition kind, nesting, errors naming their path, cycles, the refresh's
difference with entered/left on the timeline (twice = once), rule tags, tag groups."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from siyu.audience.tasks import refresh_segments
from siyu.core.clock import FrozenClock
from siyu.core.db import Database
from tests.support.audience import (
    numbers,
    segment_count,
    segment_events,
    stored,
    tagged,
    who,
)
from tests.support.jobs import drain_lanes
from tests.support.names import MP_APPID, OA_APPID


def _and(*conditions: dict[str, Any]) -> dict[str, Any]:
    return {"op": "and", "conditions": list(conditions)}


def _preview(api: TestClient, definition: dict[str, Any]) -> dict[str, Any]:
    response = api.post("/api/audience/segments/preview", json={"definition": definition})
    assert response.status_code == 200, response.text
    return dict(response.json())


CASES: list[tuple[str, dict[str, Any], tuple[str, ...]]] = [
    ("number", {"kind": "number", "min": 10002, "max": 10003}, ("bob", "cai")),
    ("joined", {"kind": "joined", "within_days": 300}, ("ann", "bob", "cai", "dan")),
    ("joined-before", {"kind": "joined", "until": "2026-01-01"}, ()),
    ("app_used", {"kind": "app_used", "appids": [MP_APPID]}, ("ann", "bob", "cai", "dan")),
    ("phone", {"kind": "phone_bound"}, ("ann",)),
    ("no-phone", {"kind": "phone_bound", "value": False}, ("bob", "cai", "dan")),
    ("consent", {"kind": "consent", "purpose": "marketing"}, ("ann",)),
    ("tags-any", {"kind": "tags", "match": "any", "tags": ["vip", "老师"]}, ("ann", "cai")),
    ("tags-all", {"kind": "tags", "match": "all", "tags": ["vip", "老师"]}, ("cai",)),
    ("tags-none", {"kind": "tags", "match": "none", "tags": ["vip"]}, ("bob", "dan")),
    (
        "paid-twice-90d",
        {"kind": "event", "event": "pay.paid", "min_count": 2, "within_days": 90},
        ("ann",),
    ),
    ("paid-ever", {"kind": "event", "event": "pay.paid"}, ("ann", "bob")),
    (
        "paid-at-most-once",
        {"kind": "event", "event": "pay.paid", "min_count": 0, "max_count": 1},
        ("bob", "cai", "dan"),
    ),
    (
        "amount",
        {
            "kind": "event",
            "event": "pay.paid",
            "where": [{"prop": "amount_fen", "op": ">=", "value": 10000}],
        },
        ("ann",),
    ),
    (
        "text-prop",
        {
            "kind": "event",
            "event": "pay.paid",
            "where": [{"prop": "item", "op": "in", "value": ["贴纸", "书"]}],
        },
        ("bob",),
    ),
    (
        "between",
        {"kind": "event", "event": "pay.paid", "since": "2026-08-01", "until": "2026-08-31"},
        ("bob",),
    ),
    (
        "viewed-not-paid-after",
        {
            "kind": "sequence",
            "first": {"event": "mp.page_view", "where": [{"prop": "page", "value": "/course"}]},
            "then_not": {"event": "pay.paid"},
            "within_days": 30,
        },
        ("bob",),
    ),
    ("follows", {"kind": "follows", "appid": OA_APPID}, ()),
    ("window", {"kind": "reachable", "via": "cs_window"}, ()),
    ("community", {"kind": "community", "status": "completed"}, ()),
]


@pytest.mark.parametrize(("label", "condition", "expected"), CASES, ids=[c[0] for c in CASES])
def test_each_condition_kind_selects_its_members(
    api: TestClient,
    db: Database,
    people: dict[str, int],
    label: str,
    condition: dict[str, Any],
    expected: tuple[str, ...],
) -> None:
    # given four members with different histories (tests/support/audience.py)
    # when a definition of one condition is previewed
    found = _preview(api, _and(condition))
    # then it counts exactly the members it describes, and lists their numbers
    assert found == {"count": len(expected), "members": numbers(db, people, *expected)}, label


def test_groups_nest_with_and_or_not(api: TestClient, db: Database, people: dict[str, int]) -> None:
    # given (vip AND NOT paid twice) OR (paid 5 yuan ever)
    definition = {
        "op": "or",
        "conditions": [
            _and(
                {"kind": "tags", "tags": ["vip"]},
                {
                    "op": "not",
                    "conditions": [{"kind": "event", "event": "pay.paid", "min_count": 2}],
                },
            ),
            {
                "kind": "event",
                "event": "pay.paid",
                "where": [{"prop": "amount_fen", "op": "=", "value": 500}],
            },
        ],
    }
    # then cai (vip, never paid) and bob (the 5 yuan) are in it, ann (paid twice) is not
    assert _preview(api, definition) == {"count": 2, "members": numbers(db, people, "bob", "cai")}


@pytest.mark.parametrize(
    ("definition", "problem"),
    [
        (
            _and(
                {"kind": "tags", "tags": ["vip"]},
                {"kind": "phone_bound"},
                {"kind": "event", "event": "pay.paid", "within_days": 0},
            ),
            "conditions[2].within_days: must be 1..3650",
        ),
        (
            _and({"op": "or", "conditions": [{"kind": "event", "event": "pay.teleported"}]}),
            "conditions[0].conditions[0].event: unknown event 'pay.teleported'",
        ),
        (_and({"kind": "shoe_size"}), "conditions[0].kind: unknown condition kind"),
        (_and({"kind": "phone_bound", "colour": "red"}), "conditions[0].colour: unknown field"),
        (
            _and({"kind": "app_used", "appids": ["wxnothere"]}),
            "conditions[0].appids[0]: unknown app",
        ),
        (
            _and({"kind": "community", "activity_id": 999}),
            "conditions[0].activity_id: unknown in this workspace",
        ),
        ({"op": "xor", "conditions": [{"kind": "phone_bound"}]}, "op: must be one of and, or, not"),
        ({"op": "and", "conditions": []}, "conditions: must be a list of at least one condition"),
    ],
)
def test_a_wrong_definition_is_refused_naming_its_path_and_nothing_is_stored(
    api: TestClient, db: Database, people: dict[str, int], definition: Any, problem: str
) -> None:
    # when a segment with a wrong condition is previewed and created
    for path, body in (
        ("/api/audience/segments/preview", {"definition": definition}),
        ("/api/audience/segments", {"name": "错的", "definition": definition}),
    ):
        response = api.post(path, json=body)
        # then it is refused with the path of the problem
        assert response.status_code == 422, response.text
        assert response.json()["code"] == "audience.invalid_definition"
        assert problem in response.json()["message"]
    # and nothing was stored
    assert segment_count(db) == 0


def test_segments_referring_to_each_other_are_refused(
    api: TestClient, db: Database, people: dict[str, int]
) -> None:
    # given A (vip) and B (in A, with a phone)
    a = api.post(
        "/api/audience/segments",
        json={"name": "A", "definition": _and({"kind": "tags", "tags": ["vip"]})},
    ).json()
    b = api.post(
        "/api/audience/segments",
        json={
            "name": "B",
            "definition": _and({"kind": "segment", "segment_id": a["id"]}, {"kind": "phone_bound"}),
        },
    ).json()
    assert _preview(api, _and({"kind": "segment", "segment_id": b["id"]}))["count"] == 1
    # when A is changed to refer to B, or to itself
    for target in (b["id"], a["id"]):
        response = api.patch(
            f"/api/audience/segments/{a['id']}",
            json={"definition": _and({"kind": "segment", "segment_id": target})},
        )
        # then it is refused, naming where, and A is unchanged
        assert response.status_code == 422, response.text
        assert response.json()["code"] == "audience.segment_cycle"
        assert "segment_id" in response.json()["message"]
    assert api.get(f"/api/audience/segments/{a['id']}").json()["definition"] == a["definition"]
    # and A cannot be deleted while B refers to it
    assert api.delete(f"/api/audience/segments/{a['id']}").json()["code"] == (
        "audience.segment_in_use"
    )


def test_a_refresh_writes_the_difference_and_the_timeline_twice_is_once(
    api: TestClient, db: Database, people: dict[str, int], frozen_clock: FrozenClock
) -> None:
    # given a dynamic segment of vip members, filled by its job
    created = api.post(
        "/api/audience/segments",
        json={"name": "VIP", "definition": _and({"kind": "tags", "tags": ["vip"]})},
    )
    assert created.status_code == 201, created.text
    segment_id = created.json()["id"]
    drain_lanes()
    assert stored(db, segment_id) == {people["ann"], people["cai"]}
    first = segment_events(db)
    assert sorted((n, m) for n, m, _ in first) == sorted(
        [("segment.entered", people["ann"]), ("segment.entered", people["cai"])]
    )
    # when ann loses the tag, dan gets it, and the segment is refreshed (twice)
    frozen_clock.advance(timedelta(minutes=5))
    api.delete(f"/api/members/{people['ann']}/tags/vip")
    api.post(f"/api/members/{people['dan']}/tags", json={"tag": "vip"})
    result = api.post(f"/api/audience/segments/{segment_id}/refresh").json()
    again = api.post(f"/api/audience/segments/{segment_id}/refresh").json()
    # then ann left and dan entered, at that time, once
    assert (result["entered"], result["left"], result["count"]) == (1, 1, 2)
    assert (again["entered"], again["left"], again["count"]) == (0, 0, 2)
    assert stored(db, segment_id) == {people["cai"], people["dan"]}
    later = segment_events(db)[len(first) :]
    assert sorted((n, m) for n, m, _ in later) == sorted(
        [("segment.left", people["ann"]), ("segment.entered", people["dan"])]
    )
    assert {ts for _, _, ts in later} == {frozen_clock.now()}
    # and the member list pages them by number
    page = api.get(f"/api/audience/segments/{segment_id}/members", params={"limit": 1}).json()
    assert (page["total"], page["more"], len(page["items"])) == (2, True, 1)


def test_events_mark_dynamic_segments_stale_and_the_periodic_job_refreshes_them(
    api: TestClient, db: Database, people: dict[str, int]
) -> None:
    # given a segment of payers, refreshed
    segment_id = api.post(
        "/api/audience/segments",
        json={"name": "付费", "definition": _and({"kind": "event", "event": "pay.paid"})},
    ).json()["id"]
    drain_lanes()
    assert stored(db, segment_id) == {people["ann"], people["bob"]}
    # when dan pays (an event through the API) and the minute's job runs
    paid = api.post(
        "/api/events",
        json=[
            {
                "event": "pay.paid",
                "ts": "2026-11-20T01:00:00+00:00",
                "appid": MP_APPID,
                "openid": who("dan"),
                "props": {"amount_fen": 100},
            }
        ],
    )
    assert paid.status_code == 200, paid.text
    refresh_segments.call_local()
    # then dan is in the segment
    assert stored(db, segment_id) == {people["ann"], people["bob"], people["dan"]}


def test_a_rule_tag_follows_the_segment_with_the_reason_audited(
    api: TestClient, db: Database, people: dict[str, int]
) -> None:
    # given a static segment of payers with the rule tag 付费用户
    created = api.post(
        "/api/audience/segments",
        json={
            "name": "付费",
            "kind": "static",
            "rule_tag": "付费用户",
            "definition": _and({"kind": "event", "event": "pay.paid"}),
        },
    )
    assert created.status_code == 201, created.text
    # then the payers carry the tag at once
    assert tagged(db, "付费用户") == {people["ann"], people["bob"]}
    # when the definition narrows to large payments and the snapshot is taken again
    segment_id = created.json()["id"]
    narrowed = _and(
        {
            "kind": "event",
            "event": "pay.paid",
            "where": [{"prop": "amount_fen", "op": ">", "value": 1000}],
        }
    )
    api.patch(f"/api/audience/segments/{segment_id}", json={"definition": narrowed})
    api.post(f"/api/audience/segments/{segment_id}/refresh")
    # then bob lost the tag, and the audit log says why
    assert tagged(db, "付费用户") == {people["ann"]}
    log = api.get("/api/audit", params={"action": "audience.rule_tag_synced"}).json()
    assert [(e["detail"]["added"], e["detail"]["removed"]) for e in log] == [(0, 1), (2, 0)]
    assert all(e["detail"]["reason"] == f"entered or left segment {segment_id}" for e in log)
    # and a tag already in use cannot be another segment's rule tag
    taken = api.post(
        "/api/audience/segments",
        json={"name": "又一个", "rule_tag": "vip", "definition": narrowed},
    )
    assert taken.json()["code"] == "audience.rule_tag_taken"
    assert segment_count(db) == 1


def test_tag_groups_show_their_tags_with_counts(api: TestClient, people: dict[str, int]) -> None:
    created = api.post("/api/audience/tag-groups", json={"name": "身份", "tags": ["vip", "老师"]})
    assert created.status_code == 201, created.text
    assert created.json()["counts"] == {"vip": 2, "老师": 1}
    again = api.post("/api/audience/tag-groups", json={"name": "身份", "tags": []})
    assert again.json()["code"] == "audience.tag_group_exists"
    assert [g["name"] for g in api.get("/api/audience/tag-groups").json()] == ["身份"]
