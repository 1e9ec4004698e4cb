"""What the workspaces domain accepts and returns."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from siyu.workspaces.enums import AppKind, EntityKind

# WeChat appids are "wx" + 16 hex characters (e.g. wx4f4bc4dec97d474b); H5 and external apps
# are ours to name. The EncodingAESKey is 43 characters of [a-zA-Z0-9] (fact sheet §1.3).
WECHAT_APPID = re.compile(r"^wx[0-9a-fA-F]{16}$")
OWN_APPID = re.compile(r"^[A-Za-z0-9_-]{2,64}$")
AES_KEY = re.compile(r"^[A-Za-z0-9]{43}$")
WECHAT_KINDS = frozenset({AppKind.oa_service, AppKind.oa_subscription, AppKind.mp})


class AppCreate(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    kind: AppKind
    appid: str = Field(min_length=2, max_length=64)
    name: str = Field(min_length=1, max_length=100)
    entity: str | None = Field(default=None, min_length=1, max_length=200)
    entity_kind: EntityKind = EntityKind.enterprise
    secret: str | None = Field(default=None, min_length=1, max_length=128)
    token: str | None = Field(default=None, min_length=1, max_length=128)
    aes_key: str | None = None

    @model_validator(mode="after")
    def _check_formats(self) -> Self:
        pattern = WECHAT_APPID if self.kind in WECHAT_KINDS else OWN_APPID
        if not pattern.match(self.appid):
            expected = (
                "wx followed by 16 hex characters"
                if self.kind in WECHAT_KINDS
                else "2–64 letters, digits, _ or -"
            )
            raise ValueError(f"appid {self.appid!r} is not a valid {self.kind} appid ({expected})")
        if self.aes_key is not None and not AES_KEY.match(self.aes_key):
            raise ValueError("EncodingAESKey must be 43 characters of letters and digits")
        return self


class AppRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    workspace_id: int
    kind: AppKind
    appid: str
    name: str
    entity_id: int | None
    has_secret: bool
    has_token: bool
    has_aes_key: bool
    created_at: datetime


class AppCredentials(BaseModel):
    """Decrypted credentials, for the WeChat border only; never rendered."""

    appid: str
    kind: AppKind
    secret: str | None
    token: str | None
    aes_key: str | None
    previous_aes_key: str | None


class WorkspaceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    created_at: datetime
