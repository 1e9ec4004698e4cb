"""The names the suite's fixtures give things: its PostgreSQL, the test workspace's two apps,
the owner's credentials, and well-formed WeChat-style ids."""

from __future__ import annotations

import os

PG_ADMIN = os.environ.get("SIYU_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
OWNER_EMAIL = "owner@example.com"
OWNER_PASSWORD = "correct horse battery"
MP_APPID = "wx0123456789abcdef"
OA_APPID = "wxaaaaaaaaaaaaaaaa"
SUB_APPID = "wxcccccccccccccccc"  # a subscription account (audience's tag broadcasts)


def openid(n: int, prefix: str = "o") -> str:
    """A well-formed 28-character WeChat-style id."""
    return f"{prefix}{n:0>27}"[:28]


REDIS_URL = os.environ.get("SIYU_TEST_REDIS", "redis://127.0.0.1:6379/0")
