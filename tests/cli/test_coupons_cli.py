"""`siyu coupons create|issue|redeem|report`, with and without `--json`."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from siyu.core.clock import FrozenClock
from siyu.core.db import Database
from siyu.identity import service as identity
from siyu.security.schemas import Principal
from siyu.workspaces.schemas import AppRead
from tests.support.cli import run
from tests.support.coupons import make_members, template_body, written


def test_create_issue_redeem_and_report(
    cli: CliRunner,
    db: Database,
    mp_app: AppRead,
    owner: Principal,
    tmp_path: Path,
    frozen_clock: FrozenClock,
) -> None:
    # given a template file and a member
    file = tmp_path / "t.json"
    file.write_text(json.dumps(template_body(stock=1)), encoding="utf-8")
    [member_id] = make_members(db, mp_app, 1)
    with db.session_scope() as session:
        number = identity.numbers_of(session, mp_app.workspace_id, [member_id])[member_id]
    # when the template is created, a coupon issued and redeemed
    code, output = run(cli, "coupons", "create", str(file), "--json")
    assert code == 0, output
    template = json.loads(output)
    code, output = run(cli, "coupons", "issue", str(template["id"]), str(number), "--json")
    assert code == 0, output
    coupon = json.loads(output)["issued"][0]
    args = ["--member", str(number), "--order", "POS-1", "--amount", "15000"]
    code, output = run(cli, "coupons", "redeem", coupon["code"], *args, "--json")
    assert code == 0, output
    assert (json.loads(output)["discount"], json.loads(output)["payable"]) == (2000, 13000)
    # then the same order again answers the same, in words too
    code, output = run(cli, "coupons", "redeem", coupon["code"], *args)
    assert code == 0, output
    assert "¥20.00 off, pay ¥130.00" in output
    code, output = run(cli, "coupons", "report", "--json")
    assert code == 0, output
    assert [(r["issued"], r["redeemed"]) for r in json.loads(output)] == [(1, 1)]
    # and a second issue past the stock exits 1 with its code, writing nothing
    before = written(db)
    code, output = run(cli, "coupons", "issue", str(template["id"]), str(number))
    assert code == 1
    assert "members.limit_reached" in output or "members.out_of_stock" in output
    assert written(db) == before


def test_a_bad_template_file_is_refused(
    cli: CliRunner, db: Database, owner: Principal, tmp_path: Path
) -> None:
    file = tmp_path / "t.json"
    file.write_text(json.dumps(template_body(amount_off=None)), encoding="utf-8")
    code, output = run(cli, "coupons", "create", str(file))
    assert code == 1
    assert "members.invalid_template" in output
    assert written(db).templates == 0
