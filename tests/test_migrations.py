"""Migrations have one head and produce exactly the models' schema on both backends."""

from __future__ import annotations

from alembic.script import ScriptDirectory

from siyu.core.config import Settings
from siyu.migrations import alembic_config, check, upgrade


def test_single_head() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1


def test_upgrade_is_idempotent_and_matches_models(settings: Settings) -> None:
    # the fixture database is already at head; upgrading again changes nothing
    upgrade(settings.database_url)
    check(settings.database_url)
