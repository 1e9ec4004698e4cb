"""The 人群 pages: the builder's count moves with its fields, a segment saved from them lists its
members, a bad JSON definition is refused in Chinese with nothing stored, and tag groups."""

from __future__ import annotations

import pytest

from siyu.core.db import Database
from tests.support.audience import numbers, segment_count, stored
from tests.support.console import Console
from tests.support.jobs import drain_lanes

pytestmark = pytest.mark.usefixtures("oa_app")


def preview(console: Console, **fields: str) -> str:
    answer = console.client.post("/segments/preview", headers=console.htmx(), data=fields)
    assert answer.status_code == 200, answer.text
    return answer.text


def test_the_count_moves_as_the_builder_changes(
    console: Console, db: Database, people: dict[str, int]
) -> None:
    # given four members, two of them vip and one who paid twice this month
    page = console.client.get("/segments").text
    assert "新建人群" in page
    assert "标签组" in page
    # when the operator asks for vip members, then for vip members who paid twice in 30 days
    vip = preview(console, tags="vip", tag_match="any")
    paid_vip = preview(console, tags="vip", event="pay.paid", min_count="2", within_days="30")
    # then the counts follow the fields, and the first numbers are shown
    assert 'data-count="2"' in vip
    assert 'data-count="1"' in paid_vip
    (ann,) = numbers(db, people, "ann")
    assert f"<code>{ann}</code>" in paid_vip
    # and either-or widens it again
    assert 'data-count="2"' in preview(
        console, combine="or", tags="vip", event="pay.paid", min_count="2", within_days="30"
    )


def test_a_segment_saved_from_the_builder_lists_its_members(
    console: Console, db: Database, people: dict[str, int]
) -> None:
    # when the operator saves the vip segment with a rule tag
    saved = console.client.post(
        "/segments",
        headers=console.htmx(),
        data={"name": "VIP", "kind": "dynamic", "tags": "vip", "rule_tag": "人群-VIP"},
    )
    assert saved.status_code == 204
    url = saved.headers["HX-Redirect"]
    drain_lanes()  # its first refresh is a job
    # then its page lists ann and cai by number, and the list shows its count
    page = console.client.get(url).text
    for number in numbers(db, people, "ann", "cai"):
        assert f">{number}</a>" in page
    segment_id = int(url.rsplit("/", 1)[1])
    assert stored(db, segment_id) == {people["ann"], people["cai"]}
    listed = console.client.get("/segments").text
    assert f'href="/segments/{segment_id}"' in listed
    assert "人群-VIP" in listed


def test_bad_json_is_refused_in_chinese_and_nothing_is_stored(
    console: Console, db: Database, people: dict[str, int]
) -> None:
    # when the advanced JSON is not JSON, then names an unknown field
    broken = console.client.post(
        "/segments",
        headers=console.htmx(),
        data={"name": "坏的", "definition_json": '{"op": "and", '},
    )
    unknown = console.client.post(
        "/segments",
        headers=console.htmx(),
        data={
            "name": "坏的",
            "definition_json": '{"op": "and", "conditions": '
            '[{"kind": "joined", "within_days": 0}]}',
        },
    )
    # then both are refused with the audience code, in Chinese, naming where
    assert broken.status_code == 422
    assert "JSON 格式不对" in broken.text
    assert unknown.status_code == 422
    assert "conditions[0].within_days" in unknown.text
    assert "人群条件有误" in unknown.text
    assert segment_count(db) == 0


def test_a_tag_group_is_saved_and_shows_its_counts(
    console: Console, people: dict[str, int]
) -> None:
    saved = console.client.post(
        "/segments/tag-groups", headers=console.htmx(), data={"name": "身份", "tags": "vip，老师"}
    )
    assert saved.status_code == 204
    page = console.client.get("/segments").text
    assert "身份" in page
    assert "vip · 2" in page
    assert "老师 · 1" in page
