"""Request-scoped plumbing shared by every router: the database, client address, request id."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from siyu.core.config import Settings
from siyu.core.db import Database


def database(request: Request) -> Database:
    db: Database = request.app.state.database
    return db


def settings(request: Request) -> Settings:
    value: Settings = request.app.state.settings
    return value


DatabaseDep = Annotated[Database, Depends(database)]
SettingsDep = Annotated[Settings, Depends(settings)]
