"""A segment's CSV export (audited, masked by role), the command line, and a notice to a
segment through reach's broadcast."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from siyu.core.db import Database
from siyu.security.enums import Role
from tests.support.audience import numbers, segment_count
from tests.support.cli import run
from tests.support.security import Staff

PHONE_BOUND: dict[str, Any] = {"op": "and", "conditions": [{"kind": "phone_bound"}]}
PAYERS: dict[str, Any] = {"op": "and", "conditions": [{"kind": "event", "event": "pay.paid"}]}


def _csv(response: Any) -> list[list[str]]:
    assert response.status_code == 200, response.text
    return list(csv.reader(io.StringIO(response.text.lstrip("\ufeff"))))


def test_the_csv_export_masks_the_phone_by_role_and_is_audited(
    api: TestClient, app_client: TestClient, db: Database, people: dict[str, int],
    staff: dict[Role, Staff],
) -> None:  # fmt: skip
    # given a static segment of the members with a phone (ann: 13900001111)
    created = api.post(
        "/api/audience/segments",
        json={"name": "有手机", "kind": "static", "definition": PHONE_BOUND},
    ).json()
    url = f"/api/audience/segments/{created['id']}/members.csv"
    # when the owner and an operator (no full-phone permission) export it
    owner_rows = _csv(api.get(url))
    operator_rows = _csv(app_client.get(url, headers=staff[Role.operator].headers))
    # then both see ann by number; only the owner sees her whole phone
    assert owner_rows[0][:3] == ["学号", "姓名", "手机号"]
    [ann] = numbers(db, people, "ann")
    assert [r[0] for r in owner_rows[1:]] == [str(ann)] == [r[0] for r in operator_rows[1:]]
    assert owner_rows[1][2] == "'+8613900001111"  # a formula's sign is quoted
    assert "13900001111" not in operator_rows[1][2]
    assert "****" in operator_rows[1][2]
    # and each export is in the audit log
    log = api.get("/api/audit", params={"action": "export.segment_members"}).json()
    assert len(log) == 2
    # and customer service (no segments) may not export
    refused = app_client.get(url, headers=staff[Role.customer_service].headers)
    assert refused.status_code == 403


def test_the_cli_previews_creates_and_lists(
    cli: CliRunner, db: Database, people: dict[str, int], tmp_path: Path
) -> None:
    # given a definition in a file
    file = tmp_path / "payers.json"
    file.write_text(json.dumps(PAYERS), encoding="utf-8")
    # when it is previewed as JSON
    code, output = run(cli, "segments", "preview", str(file), "--json")
    # then the count and the member numbers are printed
    assert code == 0, output
    assert json.loads(output) == {"count": 2, "members": numbers(db, people, "ann", "bob")}
    # when it is stored and listed
    code, output = run(cli, "segments", "create", "付费用户", str(file), "--static")
    assert code == 0, output
    code, output = run(cli, "segments", "list", "--json")
    assert code == 0, output
    [listed] = json.loads(output)
    assert (listed["name"], listed["kind"], listed["member_count"]) == ("付费用户", "static", 2)


def test_the_cli_names_the_problem_of_a_wrong_file(
    cli: CliRunner, db: Database, people: dict[str, int], tmp_path: Path
) -> None:
    file = tmp_path / "wrong.json"
    wrong = {"op": "and", "conditions": [{"kind": "joined", "within_days": 5000}]}
    file.write_text(json.dumps(wrong), encoding="utf-8")
    code, output = run(cli, "segments", "create", "错的", str(file))
    assert code == 1
    assert "conditions[0].within_days: must be 1..3650" in output
    assert segment_count(db) == 0


def test_a_segment_is_the_audience_of_a_mass_broadcast(
    api: TestClient, db: Database, people: dict[str, int], templates: None
) -> None:
    # given a static segment of payers
    segment_id = api.post(
        "/api/audience/segments", json={"name": "付费", "kind": "static", "definition": PAYERS}
    ).json()["id"]
    # when a notice goes to it
    response = api.post(
        f"/api/audience/segments/{segment_id}/notify",
        json={"name": "开课提醒", "template_key": "checkin", "data": {"course": "阅读"}},
    )
    # then reach has a broadcast to its two members
    assert response.status_code == 201, response.text
    assert response.json()["total"] == 2
    assert api.get("/api/audit", params={"action": "audience.segment_notified"}).json()
