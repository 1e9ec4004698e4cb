"""Associations, channels and codes, arrivals and attribution, menus, reports.

Services take the session first and flush; WeChat calls happen in `flows` (outside any
transaction) and in jobs.
"""

from __future__ import annotations

import hmac
import secrets
import string
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from hashlib import sha256
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from siyu.core import clock
from siyu.core.config import Settings, current_settings
from siyu.core.errors import Conflict, Invalid, NotFound, SiyuError
from siyu.core.logging import get_logger
from siyu.entries import menu_rules
from siyu.entries.models import (
    Arrival,
    ArrivalKind,
    Article,
    Association,
    Channel,
    ChannelCode,
    ChannelStatus,
    CodeKind,
    LinkStatus,
    MenuStatus,
    MenuVersion,
    Touch,
)
from siyu.entries.schemas import (
    ArticleCreate,
    ArticleOpened,
    ArticleRead,
    ArticleReportRow,
    AssociationRead,
    ChannelCreate,
    ChannelRead,
    ChannelReport,
    ChannelReportRow,
    CodeCreate,
    CodeRead,
    FollowConversion,
    MenuButtonReportRow,
    MenuRead,
    MenuReport,
    TouchRead,
)
from siyu.identity import service as identity
from siyu.workspaces import service as workspaces
from siyu.workspaces.enums import AppKind, EntityKind
from siyu.workspaces.schemas import AppRead

log = get_logger(__name__)

OA_KINDS = frozenset({AppKind.oa_service, AppKind.oa_subscription})
OA_CODES = frozenset({CodeKind.oa_qr_temp, CodeKind.oa_qr_permanent})
MP_CODES = frozenset({CodeKind.mp_code, CodeKind.url_link})
LIVE_LINKS = (LinkStatus.pending, LinkStatus.linked)
UNFOLLOW_WINDOW = timedelta(days=7)
SLUG_ALPHABET = string.ascii_lowercase + string.digits
DEFAULT_CONVERSION = "pay.paid"


# --- associations (fact sheet §4) ---------------------------------------------------------


@dataclass(frozen=True)
class Limit:
    """One of the platform's association limits, as configured."""

    name: str
    setting: str
    most: int
    what: str

    def refusal(self, count: int) -> SiyuError:
        return Conflict(
            f"entries.limit.{self.name}",
            f"{self.what}: at most {self.most} ({self.setting}); {count} already",
            data={"limit": self.name, "max": self.most, "count": count, "setting": self.setting},
        )


def limits(settings: Settings) -> dict[str, Limit]:
    s = settings
    return {
        limit.name: limit
        for limit in (
            Limit(
                "oa_same_entity_mps",
                "SIYU_ENTRIES_OA_SAME_ENTITY_MPS",
                s.entries_oa_same_entity_mps,
                "Mini Programs of the same entity one Official Account may link",
            ),
            Limit(
                "oa_other_entity_mps",
                "SIYU_ENTRIES_OA_OTHER_ENTITY_MPS",
                s.entries_oa_other_entity_mps,
                "Mini Programs of other entities one Official Account may link",
            ),
            Limit(
                "oa_links_per_month",
                "SIYU_ENTRIES_OA_LINKS_PER_MONTH",
                s.entries_oa_links_per_month,
                "new links one Official Account may make in a month",
            ),
            Limit(
                "mp_oas",
                "SIYU_ENTRIES_MP_OAS",
                s.entries_mp_oas,
                "Official Accounts one Mini Program may be linked to",
            ),
            Limit(
                "entity_mps",
                "SIYU_ENTRIES_ENTITY_MPS",
                s.entries_entity_mps,
                "Mini Programs one entity may register",
            ),
            Limit(
                "individual_business_mps",
                "SIYU_ENTRIES_INDIVIDUAL_BUSINESS_MPS",
                s.entries_individual_business_mps,
                "Mini Programs an individual business may register",
            ),
        )
    }


def _association_read(row: Association, apps: dict[int, AppRead]) -> AssociationRead:
    return AssociationRead(
        id=row.id,
        oa_appid=apps[row.oa_app_id].appid,
        mp_appid=apps[row.mp_app_id].appid,
        status=row.status,
        same_entity=row.same_entity,
        followers_notified=row.followers_notified,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _oa(session: Session, workspace_id: int, appid: str) -> AppRead:
    app = workspaces.get_app_by_appid(session, appid, workspace_id)
    if app.kind not in OA_KINDS:
        raise Invalid("entries.not_official_account", f"app {appid} is not an Official Account")
    return app


def _mp(session: Session, workspace_id: int, appid: str) -> AppRead:
    app = workspaces.get_app_by_appid(session, appid, workspace_id)
    if app.kind != AppKind.mp:
        raise Invalid("entries.not_mini_program", f"app {appid} is not a Mini Program")
    return app


def _month_start(now: datetime, tz: str) -> datetime:
    local = now.astimezone(ZoneInfo(tz))
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _count(session: Session, *where: Any) -> int:
    return session.scalar(select(func.count()).select_from(Association).where(*where)) or 0


def link_apps(
    session: Session,
    workspace_id: int,
    oa_appid: str,
    mp_appid: str,
    *,
    notify_followers: bool,
    actor: str,
    settings: Settings | None = None,
) -> AssociationRead:
    """Record an OA → MP link request (pending until both admins confirm).

    Asking again for a pending or linked pair changes nothing; a refused pair is asked again.
    Each platform limit refuses with `entries.limit.<name>` naming it (409).
    """
    settings = settings or current_settings()
    oa, mp = _oa(session, workspace_id, oa_appid), _mp(session, workspace_id, mp_appid)
    apps = {oa.id: oa, mp.id: mp}
    existing = session.scalar(
        select(Association).where(Association.oa_app_id == oa.id, Association.mp_app_id == mp.id)
    )
    if existing is not None and existing.status in LIVE_LINKS:
        return _association_read(existing, apps)
    _check_limits(session, workspace_id, oa, mp, settings)
    now = clock.now()
    same = oa.entity_id is not None and oa.entity_id == mp.entity_id
    if existing is None:
        existing = Association(
            workspace_id=workspace_id,
            oa_app_id=oa.id,
            mp_app_id=mp.id,
            status=LinkStatus.pending,
            same_entity=same,
            followers_notified=notify_followers,
            created_by=actor,
            created_at=now,
            updated_at=now,
        )
        session.add(existing)
    else:
        existing.status = LinkStatus.pending
        existing.followers_notified = notify_followers
        existing.updated_at = now
    session.flush()
    return _association_read(existing, apps)


def _check_limits(
    session: Session, workspace_id: int, oa: AppRead, mp: AppRead, settings: Settings
) -> None:
    rules = limits(settings)
    same = oa.entity_id is not None and oa.entity_id == mp.entity_id
    live = Association.status.in_(LIVE_LINKS)
    oa_links = _count(
        session, Association.oa_app_id == oa.id, live, Association.same_entity.is_(same)
    )
    rule = rules["oa_same_entity_mps" if same else "oa_other_entity_mps"]
    if oa_links >= rule.most:
        raise rule.refusal(oa_links)
    month = _month_start(clock.now(), settings.display_timezone)
    this_month = _count(session, Association.oa_app_id == oa.id, Association.created_at >= month)
    if this_month >= rules["oa_links_per_month"].most:
        raise rules["oa_links_per_month"].refusal(this_month)
    mp_links = _count(session, Association.mp_app_id == mp.id, live)
    if mp_links >= rules["mp_oas"].most:
        raise rules["mp_oas"].refusal(mp_links)
    if mp.entity_id is not None:
        kind = workspaces.entity_kinds(session, [mp.entity_id]).get(mp.entity_id)
        rule = rules[
            "individual_business_mps" if kind == EntityKind.individual_business else "entity_mps"
        ]
        registered = sum(
            1
            for app in workspaces.list_apps(session, workspace_id)
            if app.kind == AppKind.mp and app.entity_id == mp.entity_id
        )
        if registered > rule.most:
            raise rule.refusal(registered)


def set_link_status(
    session: Session, workspace_id: int, association_id: int, status: LinkStatus
) -> AssociationRead:
    """The admins' answer: linked (both confirmed) or refused."""
    row = session.get(Association, association_id)
    if row is None or row.workspace_id != workspace_id:
        raise NotFound("entries.association_not_found", f"no association {association_id}")
    row.status = status
    row.updated_at = clock.now()
    session.flush()
    apps = workspaces.get_apps_by_id(session, [row.oa_app_id, row.mp_app_id])
    return _association_read(row, apps)


def list_associations(session: Session, workspace_id: int) -> list[AssociationRead]:
    rows = session.scalars(
        select(Association).where(Association.workspace_id == workspace_id).order_by(Association.id)
    ).all()
    ids = {r.oa_app_id for r in rows} | {r.mp_app_id for r in rows}
    apps = workspaces.get_apps_by_id(session, list(ids))
    return [_association_read(r, apps) for r in rows]


def linked_mp_appids(session: Session, oa_app_id: int) -> set[str]:
    """The Mini Programs an OA's menus and messages may open (status linked)."""
    ids = session.scalars(
        select(Association.mp_app_id).where(
            Association.oa_app_id == oa_app_id, Association.status == LinkStatus.linked
        )
    ).all()
    return {app.appid for app in workspaces.get_apps_by_id(session, list(ids)).values()}


# --- channels and codes --------------------------------------------------------------------


def _code_read(code: ChannelCode, appid: str, now: datetime) -> CodeRead:
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
        codes=[_code_read(c, apps[c.app_id].appid, now) for c in codes],
    )


def _new_slug() -> str:
    return "c" + "".join(secrets.choice(SLUG_ALPHABET) for _ in range(9))


def create_channel(
    session: Session, workspace_id: int, data: ChannelCreate, *, actor: str
) -> ChannelRead:
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
        created_by=actor,
        created_at=clock.now(),
    )
    try:
        with session.begin_nested():
            session.add(channel)
    except IntegrityError as exc:
        raise Conflict(
            "entries.channel_exists", f"a channel with slug {slug!r} exists already"
        ) from exc
    return _channel_read(session, channel, [])


def _channel(session: Session, workspace_id: int, channel_id: int) -> Channel:
    channel = session.get(Channel, channel_id)
    if channel is None or channel.workspace_id != workspace_id:
        raise NotFound("entries.channel_not_found", f"no channel {channel_id}")
    return channel


def _codes_of(session: Session, channel_ids: list[int]) -> dict[int, list[ChannelCode]]:
    found: dict[int, list[ChannelCode]] = {i: [] for i in channel_ids}
    if not channel_ids:
        return found
    rows = session.scalars(
        select(ChannelCode).where(ChannelCode.channel_id.in_(channel_ids)).order_by(ChannelCode.id)
    )
    for code in rows:
        found[code.channel_id].append(code)
    return found


def get_channel(session: Session, workspace_id: int, channel_id: int) -> ChannelRead:
    channel = _channel(session, workspace_id, channel_id)
    return _channel_read(session, channel, _codes_of(session, [channel.id])[channel.id])


def find_channel(session: Session, workspace_id: int, ref: str) -> ChannelRead:
    """A channel by id or slug (the CLI's way to name one)."""
    if ref.isdigit():
        return get_channel(session, workspace_id, int(ref))
    channel = session.scalar(
        select(Channel).where(Channel.workspace_id == workspace_id, Channel.slug == ref)
    )
    if channel is None:
        raise NotFound("entries.channel_not_found", f"no channel {ref!r}")
    return get_channel(session, workspace_id, channel.id)


def list_channels(session: Session, workspace_id: int) -> list[ChannelRead]:
    channels = session.scalars(
        select(Channel).where(Channel.workspace_id == workspace_id).order_by(Channel.id)
    ).all()
    codes = _codes_of(session, [c.id for c in channels])
    return [_channel_read(session, c, codes[c.id]) for c in channels]


def archive_channel(session: Session, workspace_id: int, channel_id: int) -> ChannelRead:
    """Archived channels get no new codes; arrivals through codes in circulation still count."""
    channel = _channel(session, workspace_id, channel_id)
    if channel.status != ChannelStatus.archived:
        channel.status = ChannelStatus.archived
        channel.archived_at = clock.now()
        session.flush()
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
    return (
        session.scalar(
            select(func.count())
            .select_from(ChannelCode)
            .where(ChannelCode.app_id == app_id, ChannelCode.kind == CodeKind.oa_qr_permanent)
        )
        or 0
    )


def plan_code(
    session: Session,
    workspace_id: int,
    channel_id: int,
    data: CodeCreate,
    settings: Settings | None = None,
) -> CodePlan:
    """Check and record a code to issue; a permanent code already issued is reused."""
    settings = settings or current_settings()
    channel = _channel(session, workspace_id, channel_id)
    if channel.status == ChannelStatus.archived:
        raise Conflict("entries.channel_archived", f"channel {channel.name} is archived")
    app = workspaces.get_app_by_appid(session, data.appid, workspace_id)
    if data.kind in OA_CODES and app.kind not in OA_KINDS:
        raise Invalid(
            "entries.code_needs_official_account",
            f"{data.kind} codes are made by an Official Account, not {app.kind}",
        )
    if data.kind in MP_CODES and app.kind != AppKind.mp:
        raise Invalid(
            "entries.code_needs_mini_program",
            f"{data.kind} codes are made by a Mini Program, not {app.kind}",
        )
    warning = None
    if data.kind == CodeKind.oa_qr_permanent:
        existing = session.scalar(
            select(ChannelCode).where(
                ChannelCode.channel_id == channel.id,
                ChannelCode.app_id == app.id,
                ChannelCode.kind == CodeKind.oa_qr_permanent,
                ChannelCode.ticket.is_not(None),
            )
        )
        if existing is not None:
            return CodePlan(
                existing.id, channel.id, app, data.kind, existing.scene, 0, None, None, True
            )
        used = permanent_qr_count(session, app.id)
        cap = settings.entries_permanent_qr_cap
        if used >= cap:
            raise Conflict(
                "entries.limit.permanent_qr",
                f"{app.name} has used all {cap} permanent QR codes "
                "(SIYU_ENTRIES_PERMANENT_QR_CAP); use temporary codes",
                data={"limit": "permanent_qr", "max": cap, "count": used},
            )
        if used + 1 >= cap * settings.entries_permanent_qr_warn_ratio:
            warning = f"{used + 1} of {cap} permanent QR codes used on {app.name}"
            log.warning("entries_permanent_qr_running_out", appid=app.appid, used=used + 1)
    page = data.page if data.page is not None else (channel.target_page or None)
    code = ChannelCode(
        workspace_id=workspace_id,
        channel_id=channel.id,
        app_id=app.id,
        kind=data.kind,
        scene=channel.slug,
        created_at=clock.now(),
    )
    session.add(code)
    session.flush()
    seconds = data.expire_days * 86400
    return CodePlan(
        code.id, channel.id, app, data.kind, channel.slug, seconds, page, warning, False
    )


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
        session.delete(code)
        session.flush()


def get_code(session: Session, workspace_id: int, code_id: int) -> tuple[CodeRead, bytes | None]:
    code = session.get(ChannelCode, code_id)
    if code is None or code.workspace_id != workspace_id:
        raise NotFound("entries.code_not_found", f"no code {code_id}")
    appid = workspaces.get_apps_by_id(session, [code.app_id])[code.app_id].appid
    return _code_read(code, appid, clock.now()), code.image


# --- MP → OA hand-off ------------------------------------------------------------------------


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
    channel = _channel(session, workspace_id, channel_id)
    if channel.status == ChannelStatus.archived:
        raise Conflict("entries.channel_archived", f"channel {channel.name!r} is archived")
    now = clock.now()
    codes = [
        c
        for c in _codes_of(session, [channel.id]).get(channel.id, [])
        if c.kind in OA_CODES and c.url and (c.expires_at is None or c.expires_at > now)
    ]
    if not codes:
        raise Conflict(
            "entries.handoff_without_oa_code",
            f"channel {channel.name!r} has no current OA QR code to hand off to",
        )
    code = max(codes, key=lambda c: (c.created_at, c.id))
    base = (settings.public_url or "").rstrip("/")
    if not base:
        raise Conflict(
            "entries.public_url_missing",
            "set SIYU_PUBLIC_URL: WeChat users open the hand-off page there",
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
    missing = NotFound("entries.handoff_not_found", "this QR code is no longer available")
    code_id, _, signature = token.partition("-")
    if not code_id.isdigit() or len(code_id) > 18:
        raise missing
    expected = _handoff_signature(int(code_id), settings)
    if not hmac.compare_digest(signature.encode(), expected.encode()):
        raise missing
    code = session.get(ChannelCode, int(code_id))
    now = clock.now()
    if code is None or code.kind not in OA_CODES or _code_read(code, "", now).expired:
        raise missing
    app = workspaces.get_apps_by_id(session, [code.app_id])[code.app_id]
    return HandoffPage(_code_read(code, app.appid, now), code.image, app.name or app.appid)


# --- arrivals and attribution --------------------------------------------------------------


@dataclass(frozen=True)
class ChannelHit:
    channel_id: int
    code_id: int | None
    slug: str
    welcome: str
    tags: list[str]
    archived: bool


def channel_for_scene(session: Session, app_id: int, scene: str | None) -> ChannelHit | None:
    """The channel whose code on this app carries `scene` (archived ones too), if any."""
    if not scene:
        return None
    row = session.execute(
        select(ChannelCode.id, Channel)
        .join(Channel, Channel.id == ChannelCode.channel_id)
        .where(ChannelCode.app_id == app_id, ChannelCode.scene == scene)
        .order_by(ChannelCode.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    code_id, channel = row
    return ChannelHit(
        channel.id,
        code_id,
        channel.slug,
        channel.welcome,
        list(channel.tags),
        channel.status == ChannelStatus.archived,
    )


def channel_by_slug(session: Session, workspace_id: int, slug: str | None) -> ChannelHit | None:
    """For arrivals that name the channel without a code (an MP opened with `?ch=slug`)."""
    if not slug:
        return None
    channel = session.scalar(
        select(Channel).where(Channel.workspace_id == workspace_id, Channel.slug == slug)
    )
    if channel is None:
        return None
    return ChannelHit(
        channel.id,
        None,
        channel.slug,
        channel.welcome,
        list(channel.tags),
        channel.status == ChannelStatus.archived,
    )


def record_arrival(
    session: Session,
    workspace_id: int,
    hit: ChannelHit,
    *,
    app_id: int,
    member_id: int,
    kind: ArrivalKind,
    source_key: str,
    at: datetime,
    new_follower: bool,
    new_member: bool,
) -> bool:
    """Record one arrival (once per source_key): first touch kept, last touch moved, the
    channel's tags put on the member. False when this source was recorded before."""
    first = not _has_arrived(session, hit.channel_id, member_id)
    fields: dict[str, Any] = {
        "workspace_id": workspace_id,
        "channel_id": hit.channel_id,
        "code_id": hit.code_id,
        "app_id": app_id,
        "member_id": member_id,
        "kind": kind,
        "source_key": source_key[:96],
        "new_follower": new_follower,
        "new_member": new_member,
        "at": at,
    }
    try:
        with session.begin_nested():
            session.add(Arrival(**fields, first_in_channel=first))
    except IntegrityError:
        if _recorded(session, workspace_id, source_key[:96]) or not first:
            return False
        # Another arrival of the member on this channel was first by a hair.
        try:
            with session.begin_nested():
                session.add(Arrival(**fields, first_in_channel=False))
        except IntegrityError:
            return False
    _touch(session, workspace_id, member_id, hit.channel_id, at)
    for tag in hit.tags:
        identity.tag_members(session, workspace_id, [member_id], tag, actor=f"channel:{hit.slug}")
    return True


def _has_arrived(session: Session, channel_id: int, member_id: int) -> bool:
    found = session.scalar(
        select(Arrival.id).where(
            Arrival.channel_id == channel_id,
            Arrival.member_id == member_id,
            Arrival.first_in_channel.is_(True),
        )
    )
    return found is not None


def _recorded(session: Session, workspace_id: int, source_key: str) -> bool:
    found = session.scalar(
        select(Arrival.id).where(
            Arrival.workspace_id == workspace_id, Arrival.source_key == source_key
        )
    )
    return found is not None


def _touch(
    session: Session, workspace_id: int, member_id: int, channel_id: int, at: datetime
) -> None:
    touch = session.scalar(
        select(Touch)
        .where(Touch.workspace_id == workspace_id, Touch.member_id == member_id)
        .with_for_update()
    )
    if touch is None:
        try:
            with session.begin_nested():
                session.add(
                    Touch(
                        workspace_id=workspace_id,
                        member_id=member_id,
                        first_channel_id=channel_id,
                        first_at=at,
                        last_channel_id=channel_id,
                        last_at=at,
                    )
                )
            return
        except IntegrityError:  # another arrival of the member made it first
            touch = session.scalar(
                select(Touch)
                .where(Touch.workspace_id == workspace_id, Touch.member_id == member_id)
                .with_for_update()
            )
            if touch is None:
                raise
    if at < touch.first_at:  # pushes may be processed out of order
        touch.first_channel_id, touch.first_at = channel_id, at
    if at >= touch.last_at:
        touch.last_channel_id, touch.last_at = channel_id, at
    session.flush()


def record_unfollow(session: Session, app_id: int, member_id: int, at: datetime) -> int:
    """Mark the member's follows through channels on this app as unfollowed."""
    result = session.execute(
        update(Arrival)
        .where(
            Arrival.member_id == member_id,
            Arrival.app_id == app_id,
            Arrival.new_follower.is_(True),
            Arrival.unfollowed_at.is_(None),
            Arrival.at <= at,
        )
        .values(
            unfollowed_at=at,
            unfollowed_within_7d=Arrival.at >= at - UNFOLLOW_WINDOW,
        )
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def touches_of(session: Session, workspace_id: int, member_id: int) -> TouchRead | None:
    touch = session.scalar(
        select(Touch).where(Touch.workspace_id == workspace_id, Touch.member_id == member_id)
    )
    if touch is None:
        return None
    names = dict(
        session.execute(
            select(Channel.id, Channel.name).where(
                Channel.id.in_([touch.first_channel_id, touch.last_channel_id])
            )
        ).all()
    )
    return TouchRead(
        member_id=member_id,
        first_channel=names.get(touch.first_channel_id, ""),
        first_at=touch.first_at,
        last_channel=names.get(touch.last_channel_id, ""),
        last_at=touch.last_at,
    )


def arrivals_of_channel(session: Session, workspace_id: int, channel_id: int) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Arrival)
            .where(Arrival.workspace_id == workspace_id, Arrival.channel_id == channel_id)
        )
        or 0
    )


# --- menus ---------------------------------------------------------------------------------


def _menu_read(row: MenuVersion, appid: str) -> MenuRead:
    return MenuRead(
        id=row.id,
        appid=appid,
        version=row.version,
        buttons=row.buttons,
        published=row.published,
        status=row.status,
        error=row.error,
        created_by=row.created_by,
        created_at=row.created_at,
        published_at=row.published_at,
    )


def preview_menu(session: Session, workspace_id: int, appid: str, body: object) -> list[Any]:
    """The menu as it would be sent (source parameters appended), or the broken rule."""
    oa = _oa(session, workspace_id, appid)
    linked = linked_mp_appids(session, oa.id)
    broken = menu_rules.check_menu(body, linked)
    if broken is not None:
        raise broken.error()
    assert isinstance(body, dict)
    sent = menu_rules.with_sources(body["button"])
    # Appending the parameters may push a url past its limit: check what is sent.
    broken = menu_rules.check_menu({"button": sent}, linked)
    if broken is not None:
        raise broken.error()
    return sent


def save_menu(
    session: Session, workspace_id: int, appid: str, body: object, *, actor: str
) -> MenuRead:
    """A new version (nothing stored when a rule is broken)."""
    sent = preview_menu(session, workspace_id, appid, body)
    oa = _oa(session, workspace_id, appid)
    assert isinstance(body, dict)
    latest = session.scalar(
        select(func.max(MenuVersion.version)).where(MenuVersion.app_id == oa.id)
    )
    row = MenuVersion(
        workspace_id=workspace_id,
        app_id=oa.id,
        version=(latest or 0) + 1,
        buttons=body["button"],
        published=sent,
        status=MenuStatus.draft,
        created_by=actor,
        created_at=clock.now(),
    )
    session.add(row)
    session.flush()
    return _menu_read(row, oa.appid)


def get_menu(session: Session, workspace_id: int, appid: str, version: int) -> MenuRead:
    oa = _oa(session, workspace_id, appid)
    row = session.scalar(
        select(MenuVersion).where(MenuVersion.app_id == oa.id, MenuVersion.version == version)
    )
    if row is None:
        raise NotFound("entries.menu_not_found", f"{appid} has no menu version {version}")
    return _menu_read(row, oa.appid)


def list_menus(session: Session, workspace_id: int, appid: str) -> list[MenuRead]:
    oa = _oa(session, workspace_id, appid)
    rows = session.scalars(
        select(MenuVersion).where(MenuVersion.app_id == oa.id).order_by(MenuVersion.version.desc())
    ).all()
    return [_menu_read(r, oa.appid) for r in rows]


def mark_menu(
    session: Session, workspace_id: int, appid: str, version: int, error: str | None
) -> MenuRead:
    oa = _oa(session, workspace_id, appid)
    row = session.scalar(
        select(MenuVersion).where(MenuVersion.app_id == oa.id, MenuVersion.version == version)
    )
    if row is None:
        raise NotFound("entries.menu_not_found", f"{appid} has no menu version {version}")
    if error is None:
        row.status, row.error, row.published_at = MenuStatus.published, None, clock.now()
    else:
        row.status, row.error = MenuStatus.failed, error[:500]
    session.flush()
    return _menu_read(row, oa.appid)


def live_menu(session: Session, app_id: int) -> MenuVersion | None:
    return session.scalar(
        select(MenuVersion)
        .where(MenuVersion.app_id == app_id, MenuVersion.status == MenuStatus.published)
        .order_by(MenuVersion.published_at.desc(), MenuVersion.version.desc())
        .limit(1)
    )


# --- reports -------------------------------------------------------------------------------


def _conversions_by_member(
    session: Session, workspace_id: int, event: str, until: datetime | None
) -> Any:
    table = identity.events_table()
    where = [table.c.workspace_id == workspace_id, table.c.name == event]
    if until is not None:
        where.append(table.c.ts < until)
    return (
        select(table.c.member_id.label("member_id"), func.max(table.c.ts).label("last_ts"))
        .where(*where)
        .group_by(table.c.member_id)
        .subquery("conv")
    )


def _converted_after_first(
    session: Session, workspace_id: int, key_col: Any, where: list[Any], event: str
) -> dict[Any, Any]:
    """Per key of the events matching `where`: how many (events), by how many members, and
    how many of those did `event` after their first one (converted)."""
    table = identity.events_table()
    firsts = (
        select(
            key_col.label("key"),
            table.c.member_id.label("member_id"),
            func.count().label("events"),
            func.min(table.c.ts).label("first_at"),
        )
        .where(*where)
        .group_by(key_col, table.c.member_id)
        .subquery("firsts")
    )
    conv = _conversions_by_member(session, workspace_id, event, None)
    after = and_(conv.c.last_ts.is_not(None), conv.c.last_ts >= firsts.c.first_at)
    query = (
        select(
            firsts.c.key,
            func.sum(firsts.c.events).label("events"),
            func.count().label("members"),
            func.sum(case((after, 1), else_=0)).label("converted"),
        )
        .select_from(firsts.outerjoin(conv, conv.c.member_id == firsts.c.member_id))
        .group_by(firsts.c.key)
    )
    return {row.key: row for row in session.execute(query)}


def channel_report(
    session: Session,
    workspace_id: int,
    *,
    event: str = DEFAULT_CONVERSION,
    since: datetime | None = None,
    until: datetime | None = None,
) -> ChannelReport:
    """Per channel: scans, new followers, new members, unfollows within 7 days, members who
    arrived, how many of them did `event` after arriving, and the precision (their share)."""
    where = [Arrival.workspace_id == workspace_id]
    if since is not None:
        where.append(Arrival.at >= since)
    if until is not None:
        where.append(Arrival.at < until)
    conv = _conversions_by_member(session, workspace_id, event, until)
    first = Arrival.first_in_channel
    converted = and_(first, conv.c.last_ts.is_not(None), conv.c.last_ts >= Arrival.at)
    # One pass over the arrivals: members (and their conversions) are counted on each one's
    # first arrival on the channel, flagged when it was recorded.
    counts = {
        row.channel_id: row
        for row in session.execute(
            select(
                Arrival.channel_id,
                func.count().label("scans"),
                func.sum(case((Arrival.new_follower, 1), else_=0)).label("new_followers"),
                func.sum(case((Arrival.new_member, 1), else_=0)).label("new_members"),
                func.sum(case((Arrival.unfollowed_within_7d, 1), else_=0)).label("unfollows"),
                func.sum(case((first, 1), else_=0)).label("members"),
                func.sum(case((converted, 1), else_=0)).label("converted"),
            )
            .select_from(Arrival)
            .outerjoin(conv, and_(first, conv.c.member_id == Arrival.member_id))
            .where(*where)
            .group_by(Arrival.channel_id)
        )
    }
    converted_by = {
        channel_id: (int(row.members or 0), int(row.converted or 0))
        for channel_id, row in counts.items()
    }
    channels = session.scalars(
        select(Channel).where(Channel.workspace_id == workspace_id).order_by(Channel.id)
    ).all()
    rows = []
    for channel in channels:
        c = counts.get(channel.id)
        members, conversions = converted_by.get(channel.id, (0, 0))
        rows.append(
            ChannelReportRow(
                channel_id=channel.id,
                name=channel.name,
                slug=channel.slug,
                group=channel.group_name,
                status=channel.status,
                scans=int(c.scans) if c else 0,
                new_followers=int(c.new_followers or 0) if c else 0,
                new_members=int(c.new_members or 0) if c else 0,
                unfollows_7d=int(c.unfollows or 0) if c else 0,
                arrived_members=members,
                conversions=conversions,
                precision=round(conversions / members, 4) if members else None,
            )
        )
    return ChannelReport(conversion_event=event, since=since, until=until, rows=rows)


def menu_report(
    session: Session,
    workspace_id: int,
    appid: str,
    *,
    event: str = DEFAULT_CONVERSION,
    since: datetime | None = None,
) -> MenuReport:
    """Per button of the live menu: clicks (oa.menu_click by key), members who clicked, and
    how many of them did `event` after their first click."""
    oa = _oa(session, workspace_id, appid)
    menu = live_menu(session, oa.id)
    if menu is None:
        return MenuReport(appid=appid, version=None, conversion_event=event, rows=[])
    table = identity.events_table()
    key_col = table.c.props["key"].as_string()
    where = [
        table.c.workspace_id == workspace_id,
        table.c.app_id == oa.id,
        table.c.name == "oa.menu_click",
    ]
    if since is not None:
        where.append(table.c.ts >= since)
    buttons = [
        (where_, b, menu_rules.click_key(b)) for where_, b in menu_rules.walk(menu.published)
    ]
    keys = [k for _, _, k in buttons if k]
    per_key = _converted_after_first(
        session, workspace_id, key_col, [*where, key_col.in_(keys or [""])], event
    )
    rows = []
    for where_, button, key in buttons:
        hit = per_key.get(key) if key else None
        rows.append(
            MenuButtonReportRow(
                button=where_,
                name=str(button.get("name", "")),
                type=str(button.get("type", "")),
                key=menu_rules.button_key(button, where_),
                clicks=int(hit.events) if hit else 0,
                members=int(hit.members) if hit else 0,
                conversions=int(hit.converted or 0) if hit else 0,
            )
        )
    return MenuReport(appid=appid, version=menu.version, conversion_event=event, rows=rows)


# --- article reuse ---------------------------------------------------------------------------

ARTICLE_OPEN_DEDUPE = timedelta(minutes=1)  # a double tap without open_id counts once


def _article_read(row: Article, appid: str) -> ArticleRead:
    return ArticleRead(
        id=row.id,
        oa_appid=appid,
        title=row.title,
        url=row.url,
        query=f"from=article&id={row.id}",
        created_at=row.created_at,
    )


def add_article(
    session: Session, workspace_id: int, data: ArticleCreate, *, actor: str
) -> ArticleRead:
    oa = _oa(session, workspace_id, data.oa_appid)
    row = Article(
        workspace_id=workspace_id,
        oa_app_id=oa.id,
        title=data.title,
        url=data.url,
        created_by=actor,
        created_at=clock.now(),
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError as exc:
        raise Conflict("entries.article_exists", "this article is registered already") from exc
    return _article_read(row, oa.appid)


def list_articles(session: Session, workspace_id: int) -> list[ArticleRead]:
    rows = session.scalars(
        select(Article).where(Article.workspace_id == workspace_id).order_by(Article.id.desc())
    ).all()
    apps = workspaces.get_apps_by_id(session, list({r.oa_app_id for r in rows}))
    return [_article_read(r, apps[r.oa_app_id].appid) for r in rows]


def _linked_oa_ids(session: Session, mp_app_id: int) -> list[int]:
    return list(
        session.scalars(
            select(Association.oa_app_id).where(
                Association.mp_app_id == mp_app_id, Association.status == LinkStatus.linked
            )
        )
    )


def articles_for_mp(session: Session, mp: AppRead) -> list[ArticleRead]:
    """The articles this Mini Program may open: those of the OAs linked to it."""
    oa_ids = _linked_oa_ids(session, mp.id)
    rows = session.scalars(
        select(Article)
        .where(Article.workspace_id == mp.workspace_id, Article.oa_app_id.in_(oa_ids or [0]))
        .order_by(Article.id.desc())
    ).all()
    apps = workspaces.get_apps_by_id(session, oa_ids)
    return [_article_read(r, apps[r.oa_app_id].appid) for r in rows]


def record_article_open(
    session: Session, mp: AppRead, member_id: int, article_id: int, open_id: str | None
) -> ArticleOpened:
    """`mp.page_view` with `from=article&id=…` on the member's timeline; the same open again
    (same open_id, or within a minute without one) is not counted twice."""
    row = session.get(Article, article_id)
    if row is None or row.workspace_id != mp.workspace_id:
        raise NotFound("entries.article_not_found", f"no article {article_id}")
    if row.oa_app_id not in _linked_oa_ids(session, mp.id):
        raise Conflict(
            "entries.article_oa_not_linked",
            "the Mini Program opens only articles of OAs linked to it",
        )
    now = clock.now()
    table = identity.events_table()
    seen = select(table.c.id).where(
        table.c.workspace_id == mp.workspace_id,
        table.c.member_id == member_id,
        table.c.name == "mp.page_view",
        table.c.app_id == mp.id,
        table.c.props["article_id"].as_integer() == article_id,
    )
    if open_id is not None:
        seen = seen.where(table.c.props["open_id"].as_string() == open_id)
    else:
        seen = seen.where(table.c.ts >= now - ARTICLE_OPEN_DEDUPE)
    if session.scalar(seen.limit(1)) is not None:
        return ArticleOpened(article_id=row.id, url=row.url, recorded=False)
    props: dict[str, Any] = {"from": "article", "article_id": row.id, "path": row.url[:256]}
    if open_id is not None:
        props["open_id"] = open_id
    identity.record_event(
        session, mp.workspace_id, member_id, "mp.page_view", now, app_id=mp.id, props=props
    )
    return ArticleOpened(article_id=row.id, url=row.url, recorded=True)


def article_report(
    session: Session, workspace_id: int, *, event: str = DEFAULT_CONVERSION
) -> list[ArticleReportRow]:
    """Per article: opens from the Mini Program, members who opened it, and how many of them
    did `event` after their first open."""
    table = identity.events_table()
    article_col = table.c.props["article_id"].as_integer()
    where = [
        table.c.workspace_id == workspace_id,
        table.c.name == "mp.page_view",
        table.c.props["from"].as_string() == "article",
    ]
    per_article = _converted_after_first(session, workspace_id, article_col, where, event)
    rows = []
    for article in list_articles(session, workspace_id):
        hit = per_article.get(article.id)
        rows.append(
            ArticleReportRow(
                article_id=article.id,
                title=article.title,
                opens=int(hit.events) if hit else 0,
                members=int(hit.members) if hit else 0,
                conversions=int(hit.converted or 0) if hit else 0,
            )
        )
    return rows


# --- MP → OA follow conversion ---------------------------------------------------------------

MP_ACTIVITY = ("mp.login", "mp.launch", "mp.page_view", "mp.message", "mp.contact")


def follow_conversion(
    session: Session,
    workspace_id: int,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[FollowConversion]:
    """Per linked MP → OA pair: members active in the MP in the period, and how many of them
    followed the OA at or after their first MP visit of the period."""
    table = identity.events_table()
    answer = []
    for link in list_associations(session, workspace_id):
        if link.status != LinkStatus.linked:
            continue
        mp = workspaces.get_app_by_appid(session, link.mp_appid, workspace_id)
        oa = workspaces.get_app_by_appid(session, link.oa_appid, workspace_id)
        where = [
            table.c.workspace_id == workspace_id,
            table.c.app_id == mp.id,
            table.c.name.in_(MP_ACTIVITY),
        ]
        if since is not None:
            where.append(table.c.ts >= since)
        if until is not None:
            where.append(table.c.ts < until)
        visits = (
            select(table.c.member_id.label("member_id"), func.min(table.c.ts).label("first_at"))
            .where(*where)
            .group_by(table.c.member_id)
            .subquery("visits")
        )
        follows = (
            select(table.c.member_id.label("member_id"), func.max(table.c.ts).label("last_at"))
            .where(
                table.c.workspace_id == workspace_id,
                table.c.app_id == oa.id,
                table.c.name == "oa.subscribe",
            )
            .group_by(table.c.member_id)
            .subquery("follows")
        )
        members, followed = session.execute(
            select(
                func.count(),
                func.sum(case((follows.c.last_at >= visits.c.first_at, 1), else_=0)),
            ).select_from(visits.outerjoin(follows, follows.c.member_id == visits.c.member_id))
        ).one()
        followed = int(followed or 0)
        answer.append(
            FollowConversion(
                mp_appid=mp.appid,
                oa_appid=oa.appid,
                mp_members=int(members),
                followed_after=followed,
                rate=round(followed / members, 4) if members else None,
            )
        )
    return answer
