"""Alembic environment: migrates the database named by the caller or by `SIYU_DATABASE_URL`."""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy.types import TypeDecorator

import siyu.analytics.models
import siyu.audience.models
import siyu.autoreply.models
import siyu.community.models
import siyu.entries.models
import siyu.identity.models
import siyu.members.models
import siyu.reach.models
import siyu.security.models
import siyu.wechat.models
import siyu.wechat.pay.models
import siyu.workspaces.models  # noqa: F401 - register every table on Base.metadata
from siyu.core.config import get_settings
from siyu.core.db import Base, create_engine

config = context.config
url = config.attributes.get("database_url") or get_settings().database_url


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    # Our TypeDecorators (encrypted text, UTC datetimes) are stored as their plain impl.
    if type_ == "type" and isinstance(obj, TypeDecorator):
        impl = obj.impl_instance
        return f"sa.{impl!r}"
    return False


def run() -> None:
    engine = create_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_item=render_item,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run()
