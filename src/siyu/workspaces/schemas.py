"""What the workspaces domain accepts and returns."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from siyu.workspaces.enums import AppKind, EntityKind, PushMode

# WeChat appids are "wx" + 16 hex characters (e.g. wx4f4bc4dec97d474b); H5 and external apps
# are ours to name. The EncodingAESKey is 43 characters of [a-zA-Z0-9] (fact sheet §1.3).
WECHAT_APPID = re.compile(r"^wx[0-9a-fA-F]{16}$")
OWN_APPID = re.compile(r"^[A-Za-z0-9_-]{2,64}$")
AES_KEY = re.compile(r"^[A-Za-z0-9]{43}$")
WECHAT_KINDS = frozenset({AppKind.oa_service, AppKind.oa_subscription, AppKind.mp})
ENCRYPTED_MODES = frozenset({PushMode.compatible, PushMode.secure})


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
    # WeChat's console's message encryption mode; when left out, secure if an EncodingAESKey
    # is given (what WeChat recommends), else plaintext.
    push_mode: PushMode | None = None

    @field_validator("push_mode")
    @classmethod
    def _mode_has_key(cls, value: PushMode | None, info: ValidationInfo) -> PushMode | None:
        # Compatible and secure pushes are sealed with the EncodingAESKey (fact sheet §1.2).
        if value in ENCRYPTED_MODES and not info.data.get("aes_key"):
            raise ValueError(f"push mode {value} needs an EncodingAESKey")
        return value

    @property
    def resolved_push_mode(self) -> PushMode:
        if self.push_mode is not None:
            return self.push_mode
        return PushMode.secure if self.aes_key else PushMode.plaintext

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
    push_mode: PushMode
    created_at: datetime


class AppCredentials(BaseModel):
    """Decrypted credentials, for the WeChat border only; never rendered."""

    appid: str
    kind: AppKind
    secret: str | None
    token: str | None
    aes_key: str | None
    previous_aes_key: str | None
    push_mode: PushMode


class WorkspaceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    created_at: datetime


class PushModeUpdate(BaseModel):
    """A new push mode, when the operator changes it in WeChat's console."""

    push_mode: PushMode
