"""`siyu import activities` and `siyu report activity`: the community commands call the
service, which audits the import as the acting operator."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner

from siyu.community.models import Activity
from siyu.core.db import Database
from siyu.security.models import AuditEntry
from tests.support.cli import count, run

DEFINITION = {
    "code": "HIST1",
    "title": "词汇打卡第一期",
    "theme": "英语",
    "series": "21 天词汇",
    "start": "2026-10-01",
    "end": "2026-10-21",
    "fee": 0,
    "deposit": 990,
    "checkin_days_required": 14,
    "refund_rule": "full_at_n",
    "group": "词汇一期群",
}


def audited(db: Database) -> list[AuditEntry]:
    with db.session_scope() as session:
        query = select(AuditEntry).where(AuditEntry.action == "community.activities_imported")
        return list(session.scalars(query))


def test_importing_activities_writes_them_all_and_audits_the_import(
    cli: CliRunner, db: Database, tmp_path: Path
) -> None:
    # given an owner and a file of one activity definition
    assert run(cli, "bootstrap")[0] == 0
    good = tmp_path / "activities.json"
    good.write_text(json.dumps([DEFINITION]), encoding="utf-8")
    # when it is imported
    code, output = run(cli, "import", "activities", str(good))
    # then the activity, its theme, series and group are written, and the import is audited
    assert code == 0, output
    assert "1 created" in output
    assert "1 themes, 1 series, 1 groups new" in output
    [entry] = audited(db)
    assert entry.actor.startswith("operator:")
    assert entry.detail == {"created": 1, "updated": 0, "themes": 1, "series": 1, "groups": 1}
    # and its review is printed from the timeline (no events yet: nobody enrolled)
    code, output = run(cli, "report", "activity", "HIST1", "--json")
    assert code == 0, output
    assert json.loads(output)["enrollments"] == 0


def test_an_invalid_activity_file_writes_nothing_and_says_which_items(
    cli: CliRunner, db: Database, tmp_path: Path
) -> None:
    # given a file whose second activity has an unknown refund rule
    assert run(cli, "bootstrap")[0] == 0
    bad = tmp_path / "activities.json"
    broken = {**DEFINITION, "code": "BAD", "refund_rule": "sometimes"}
    bad.write_text(json.dumps([DEFINITION, broken]), encoding="utf-8")
    # when it is imported
    code, output = run(cli, "import", "activities", str(bad))
    # then it is refused with its code and the item, and nothing is written or audited
    assert code == 1
    assert "community.invalid_import" in output
    assert "#1: refund_rule" in output
    assert count(db, Activity) == 0
    assert audited(db) == []
    # and an activity nobody has is refused by its code
    code, output = run(cli, "report", "activity", "NONE")
    assert (code, "community.activity_not_found" in output) == (1, True)
