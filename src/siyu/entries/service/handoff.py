"""The MP → OA hand-off: a public page of siyu showing a channel's OA QR code, its address
signed, so that a follow through it is attributed to the channel by the code's scene."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from hashlib import sha256

from sqlalchemy.orm import Session

from siyu.core import clock
from siyu.core.config import Settings, current_settings
from siyu.entries import errors, repository
from siyu.entries.enums import ChannelStatus
from siyu.entries.models import ChannelCode
from siyu.entries.schemas import CodeRead
from siyu.entries.service.channels import channel_row, code_read
from siyu.entries.service.common import OA_CODES
from siyu.workspaces import service as workspaces


@dataclass(frozen=True)
class Handoff:
    """Where a hand-off card leads: a public page of siyu showing the channel's OA QR code,
    so that a follow through it is attributed to that channel by its scene."""

    channel_id: int
    code_id: int
    oa_appid: str
    url: str
    image_url: str


def _handoff_signature(code_id: int, settings: Settings) -> str:
    key = settings.secret_key.get_secret_value().encode()
    return hmac.new(key, f"handoff:{code_id}".encode(), sha256).hexdigest()[:24]


def handoff_for(
    session: Session, workspace_id: int, channel_id: int, settings: Settings | None = None
) -> Handoff:
    """The hand-off target of a channel: its newest OA QR code that has not expired."""
    settings = settings or current_settings()
    channel = channel_row(session, workspace_id, channel_id)
    if channel.status == ChannelStatus.archived:
        raise errors.CHANNEL_ARCHIVED(f"channel {channel.name!r} is archived", name=channel.name)
    now = clock.now()
    codes = [
        c
        for c in repository.codes_of(session, [channel.id]).get(channel.id, [])
        if c.kind in OA_CODES and c.url and (c.expires_at is None or c.expires_at > now)
    ]
    if not codes:
        raise errors.HANDOFF_WITHOUT_OA_CODE(
            f"channel {channel.name!r} has no current OA QR code to hand off to"
        )
    code = max(codes, key=lambda c: (c.created_at, c.id))
    base = (settings.public_url or "").rstrip("/")
    if not base:
        raise errors.PUBLIC_URL_MISSING(
            "set SIYU_PUBLIC_URL: WeChat users open the hand-off page there"
        )
    page = f"{base}/q/{code.id}-{_handoff_signature(code.id, settings)}"
    appid = workspaces.get_apps_by_id(session, [code.app_id])[code.app_id].appid
    return Handoff(channel.id, code.id, appid, page, f"{page}/qr.png")


@dataclass(frozen=True)
class HandoffPage:
    code: CodeRead
    image: bytes | None
    account_name: str


def open_handoff(session: Session, token: str, settings: Settings | None = None) -> HandoffPage:
    """The code behind a hand-off page's token; an unknown, forged or expired one is a 404."""
    settings = settings or current_settings()
    missing = errors.HANDOFF_NOT_FOUND("this QR code is no longer available")
    code_id, _, signature = token.partition("-")
    if not code_id.isdigit() or len(code_id) > 18:
        raise missing
    expected = _handoff_signature(int(code_id), settings)
    if not hmac.compare_digest(signature.encode(), expected.encode()):
        raise missing
    code = session.get(ChannelCode, int(code_id))
    now = clock.now()
    if code is None or code.kind not in OA_CODES or code_read(code, "", now).expired:
        raise missing
    app = workspaces.get_apps_by_id(session, [code.app_id])[code.app_id]
    return HandoffPage(code_read(code, app.appid, now), code.image, app.name or app.appid)
