"""Channels (渠道) and their codes: made, listed, archived; codes planned before WeChat is
asked for them (`flows`) and completed or dropped after."""

from __future__ import annotations

import secrets
import string
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from siyu.core import clock
from siyu.core.config import Settings, current_settings
from siyu.core.logging import get_logger
from siyu.entries import errors, repository
from siyu.entries.enums import ChannelStatus, CodeKind
from siyu.entries.models import Channel, ChannelCode
from siyu.entries.schemas import ChannelCreate, ChannelRead, CodeCreate, CodeRead
from siyu.entries.service.common import (
    MP_CODES,
    OA_CODES,
    OA_KINDS,
    Actor,
    audit,
    created_by,
)
from siyu.workspaces import service as workspaces
from siyu.workspaces.enums import AppKind
from siyu.workspaces.schemas import AppRead

log = get_logger(__name__)
SLUG_ALPHABET = string.ascii_lowercase + string.digits


def code_read(code: ChannelCode, appid: str, now: datetime) -> CodeRead:
    return CodeRead(
        id=code.id,
        channel_id=code.channel_id,
        appid=appid,
        kind=code.kind,
        scene=code.scene,
        ticket=code.ticket,
        url=code.url,
        has_image=code.image is not None or code.url is not None,
        expires_at=code.expires_at,
        expired=code.expires_at is not None and code.expires_at <= now,
        created_at=code.created_at,
    )


def _channel_read(session: Session, channel: Channel, codes: Iterable[ChannelCode]) -> ChannelRead:
    codes = list(codes)
    apps = workspaces.get_apps_by_id(session, list({c.app_id for c in codes}))
    now = clock.now()
    return ChannelRead(
        id=channel.id,
        name=channel.name,
        slug=channel.slug,
        group=channel.group_name,
        tags=list(channel.tags),
        welcome=channel.welcome,
        target_page=channel.target_page,
        status=channel.status,
        created_at=channel.created_at,
        archived_at=channel.archived_at,
        codes=[code_read(c, apps[c.app_id].appid, now) for c in codes],
    )


def _new_slug() -> str:
    return "c" + "".join(secrets.choice(SLUG_ALPHABET) for _ in range(9))


def create_channel(
    session: Session, workspace_id: int, data: ChannelCreate, *, actor: Actor
) -> ChannelRead:
    """A channel (its slug generated unless given; a slug in use is refused), audited."""
    slug = data.slug or _new_slug()
    channel = Channel(
        workspace_id=workspace_id,
        name=data.name,
        slug=slug,
        group_name=data.group,
        tags=data.tags,
        welcome=data.welcome,
        target_page=data.target_page,
        status=ChannelStatus.active,
        created_by=created_by(actor),
        created_at=clock.now(),
    )
    try:
        repository.add_in_savepoint(session, channel)
    except IntegrityError as exc:
        raise errors.CHANNEL_EXISTS(
            f"a channel with slug {slug!r} exists already", slug=slug
        ) from exc
    audit(
        session,
        actor,
        "entries.channel_created",
        workspace_id=workspace_id,
        target=("channel", channel.id),
    )
    return _channel_read(session, channel, [])


def channel_row(session: Session, workspace_id: int, channel_id: int) -> Channel:
    channel = session.get(Channel, channel_id)
    if channel is None or channel.workspace_id != workspace_id:
        raise errors.CHANNEL_NOT_FOUND(f"no channel {channel_id}")
    return channel


def get_channel(session: Session, workspace_id: int, channel_id: int) -> ChannelRead:
    channel = channel_row(session, workspace_id, channel_id)
    return _channel_read(session, channel, repository.codes_of(session, [channel.id])[channel.id])


def find_channel(session: Session, workspace_id: int, ref: str) -> ChannelRead:
    """A channel by id or slug (the CLI's way to name one)."""
    if ref.isdigit():
        return get_channel(session, workspace_id, int(ref))
    channel = repository.get_channel_by_slug(session, workspace_id, ref)
    if channel is None:
        raise errors.CHANNEL_NOT_FOUND(f"no channel {ref!r}")
    return get_channel(session, workspace_id, channel.id)


def list_channels(session: Session, workspace_id: int) -> list[ChannelRead]:
    channels = repository.list_channels(session, workspace_id)
    codes = repository.codes_of(session, [c.id for c in channels])
    return [_channel_read(session, c, codes[c.id]) for c in channels]


def archive_channel(
    session: Session, workspace_id: int, channel_id: int, *, actor: Actor
) -> ChannelRead:
    """Archived channels get no new codes; arrivals through codes in circulation still count.
    Archiving an archived channel changes nothing (and is audited all the same)."""
    channel = channel_row(session, workspace_id, channel_id)
    if channel.status != ChannelStatus.archived:
        channel.status = ChannelStatus.archived
        channel.archived_at = clock.now()
        session.flush()
    audit(
        session,
        actor,
        "entries.channel_archived",
        workspace_id=workspace_id,
        target=("channel", channel_id),
    )
    return get_channel(session, workspace_id, channel_id)


@dataclass(frozen=True)
class CodePlan:
    """A code to ask WeChat for (the row exists; the call happens outside the transaction)."""

    code_id: int
    channel_id: int
    app: AppRead
    kind: CodeKind
    scene: str
    expire_seconds: int
    page: str | None
    warning: str | None
    reused: bool


def permanent_qr_count(session: Session, app_id: int) -> int:
    return repository.count_permanent_qr(session, app_id)


def plan_code(
    session: Session,
    workspace_id: int,
    channel_id: int,
    data: CodeCreate,
    settings: Settings | None = None,
) -> CodePlan:
    """Check and record a code to issue; a permanent code already issued is reused."""
    settings = settings or current_settings()
    channel = channel_row(session, workspace_id, channel_id)
    if channel.status == ChannelStatus.archived:
        raise errors.CHANNEL_ARCHIVED(f"channel {channel.name} is archived", name=channel.name)
    app = workspaces.get_app_by_appid(session, data.appid, workspace_id)
    _check_maker(data.kind, app)
    warning = None
    if data.kind == CodeKind.oa_qr_permanent:
        existing = repository.issued_permanent_qr(session, channel.id, app.id)
        if existing is not None:
            return CodePlan(
                existing.id, channel.id, app, data.kind, existing.scene, 0, None, None, True
            )
        warning = _check_permanent_qr(session, app, settings)
    page = data.page if data.page is not None else (channel.target_page or None)
    code = ChannelCode(
        workspace_id=workspace_id,
        channel_id=channel.id,
        app_id=app.id,
        kind=data.kind,
        scene=channel.slug,
        created_at=clock.now(),
    )
    repository.add(session, code)
    seconds = data.expire_days * 86400
    return CodePlan(
        code.id, channel.id, app, data.kind, channel.slug, seconds, page, warning, False
    )


def _check_maker(kind: CodeKind, app: AppRead) -> None:
    if kind in OA_CODES and app.kind not in OA_KINDS:
        raise errors.CODE_NEEDS_OFFICIAL_ACCOUNT(
            f"{kind} codes are made by an Official Account, not {app.kind}", appid=app.appid
        )
    if kind in MP_CODES and app.kind != AppKind.mp:
        raise errors.CODE_NEEDS_MINI_PROGRAM(
            f"{kind} codes are made by a Mini Program, not {app.kind}", appid=app.appid
        )


def _check_permanent_qr(session: Session, app: AppRead, settings: Settings) -> str | None:
    """Refuse past the cap (WeChat's permanent codes never come back); warn near it."""
    used = permanent_qr_count(session, app.id)
    cap = settings.entries_permanent_qr_cap
    if used >= cap:
        raise errors.LIMIT_PERMANENT_QR(
            f"{app.name} has used all {cap} permanent QR codes "
            "(SIYU_ENTRIES_PERMANENT_QR_CAP); use temporary codes",
            data={"limit": "permanent_qr", "max": cap, "count": used},
            app=app.name or app.appid,
            most=cap,
        )
    if used + 1 >= cap * settings.entries_permanent_qr_warn_ratio:
        log.warning("entries_permanent_qr_running_out", appid=app.appid, used=used + 1)
        return f"{used + 1} of {cap} permanent QR codes used on {app.name}"
    return None


def complete_code(
    session: Session,
    code_id: int,
    *,
    ticket: str | None = None,
    url: str | None = None,
    image: bytes | None = None,
    expires_at: datetime | None = None,
) -> None:
    code = session.get(ChannelCode, code_id)
    if code is None:
        return
    code.ticket, code.url, code.image, code.expires_at = ticket, url, image, expires_at
    session.flush()


def drop_code(session: Session, code_id: int) -> None:
    """A code WeChat refused to make: it never existed."""
    code = session.get(ChannelCode, code_id)
    if code is not None:
        repository.delete(session, code)


def get_code(session: Session, workspace_id: int, code_id: int) -> tuple[CodeRead, bytes | None]:
    code = session.get(ChannelCode, code_id)
    if code is None or code.workspace_id != workspace_id:
        raise errors.CODE_NOT_FOUND(f"no code {code_id}")
    appid = workspaces.get_apps_by_id(session, [code.app_id])[code.app_id].appid
    return code_read(code, appid, clock.now()), code.image
