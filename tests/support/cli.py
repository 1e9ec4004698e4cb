"""The `siyu` command line invoked in-process, and what it left in the database."""

from __future__ import annotations

from sqlalchemy import func, select
from typer.testing import CliRunner

from siyu.cli.main import app
from siyu.core.db import Database


def run(cli: CliRunner, *args: str) -> tuple[int, str]:
    result = cli.invoke(app, list(args))
    return result.exit_code, result.output


def count(db: Database, model: type) -> int:
    with db.session_scope() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)
