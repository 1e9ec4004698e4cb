"""Auto-reply queries: an app's enabled rules in the order they are tried, and their version."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.autoreply.models import AutoReplyRule


def list_rules_of_app(session: Session, app_id: int) -> list[AutoReplyRule]:
    return list(
        session.scalars(
            select(AutoReplyRule)
            .where(AutoReplyRule.app_id == app_id, AutoReplyRule.enabled.is_(True))
            .order_by(AutoReplyRule.priority, AutoReplyRule.id)
        )
    )


def get_rules_version(session: Session, app_id: int) -> tuple[int, datetime | None]:
    """(how many rules, when one last changed): what tells a cached matcher it is stale."""
    row = session.execute(
        select(func.count(AutoReplyRule.id), func.max(AutoReplyRule.updated_at)).where(
            AutoReplyRule.app_id == app_id
        )
    ).one()
    return int(row[0]), row[1]


def list_rules(session: Session, workspace_id: int) -> list[AutoReplyRule]:
    return list(
        session.scalars(
            select(AutoReplyRule)
            .where(AutoReplyRule.workspace_id == workspace_id)
            .order_by(AutoReplyRule.app_id, AutoReplyRule.priority, AutoReplyRule.id)
        )
    )


def get_rule(session: Session, rule_id: int) -> AutoReplyRule | None:
    return session.get(AutoReplyRule, rule_id)


def add_rule(session: Session, row: AutoReplyRule) -> AutoReplyRule:
    session.add(row)
    session.flush()
    return row


def delete_rule(session: Session, row: AutoReplyRule) -> None:
    session.delete(row)
    session.flush()
