"""Workspaces' public enums: the kinds of apps and of the entities (主体) owning them, and how
WeChat pushes to an app."""

from __future__ import annotations

import enum


class EntityKind(enum.StrEnum):
    enterprise = "enterprise"
    individual_business = "individual_business"


class AppKind(enum.StrEnum):
    oa_service = "oa_service"
    oa_subscription = "oa_subscription"
    mp = "mp"
    h5 = "h5"
    external = "external"


class PushMode(enum.StrEnum):
    """The message encryption mode (消息加解密方式) chosen in WeChat's console (fact sheet §1.2):
    plaintext pushes carry the message bare; compatible ones the message and an Encrypt field;
    secure ones only the Encrypt field, so a plaintext push to a secure app is a forgery."""

    plaintext = "plaintext"
    compatible = "compatible"
    secure = "secure"
