"""The numbers a request may name, bounded once: ids, offsets and counts fit a 64-bit column.

SQLite and PostgreSQL keep ids in signed 64-bit integers; a larger number in a path, a query
or a body would reach the driver and fail there (an `OverflowError`, a 500). Every route and
console page types such numbers with these, so that they are refused at the boundary (422
`request.invalid`, naming the field) and the OpenAPI document shows the bounds.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

MAX_ROW_ID = 2**63 - 1  # the largest BIGINT (PostgreSQL) and INTEGER (SQLite)
MAX_NUMBER = 2**31 - 1  # the largest INTEGER of PostgreSQL

Id = Annotated[int, Field(ge=1, le=MAX_ROW_ID)]
"""A row's id or number (ids start at 1 on both backends)."""

Number = Annotated[int, Field(ge=1, le=MAX_NUMBER)]
"""A counter kept in a 32-bit column: a member's number (学号), a menu's version."""

Offset = Annotated[int, Field(ge=0, le=MAX_ROW_ID)]
"""How many rows a page skips."""

Count = Annotated[int, Field(ge=0, le=MAX_ROW_ID)]
"""A non-negative quantity stored in an integer column."""
