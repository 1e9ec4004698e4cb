"""Mini Program login (wx.login code → member and session token) and phone binding."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import unquote

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from siyu.core import clock
from siyu.core.errors import SiyuError
from siyu.core.events import DomainEvent, bus
from siyu.identity import errors as identity_errors
from siyu.identity import service as identity
from siyu.identity.enums import ConsentPurpose
from siyu.identity.schemas import ConsentRead, PersonRef, mask_phone, normalize_phone
from siyu.wechat import errors, repository
from siyu.wechat.gateway import (
    CodeUsed,
    Gateway,
    InvalidCode,
    RateLimited,
    UserBlocked,
    WeChatError,
    WeChatUnavailable,
)
from siyu.wechat.models import MpSession
from siyu.wechat.schemas import Code2Session, PhoneInfo
from siyu.workspaces import service as workspaces
from siyu.workspaces.enums import AppKind
from siyu.workspaces.schemas import AppRead

ACTOR = "mp"
MAX_MERGE_HOPS = 16


class CodeIn(BaseModel):
    """A one-time code from wx.login or the getPhoneNumber button."""

    code: str = Field(min_length=1, max_length=256)


class MpSessionIssued(BaseModel):
    """The session token, shown once; the Mini Program sends it back as a Bearer token."""

    token: str
    member_number: int
    expires_at: datetime


class LaunchIn(BaseModel):
    """How the Mini Program was opened (wx.getLaunchOptionsSync / onShow): `query.scene` holds
    an unlimited code's scene (fact sheet §3), `query.ch` a URL link's channel; `launch_id`
    (any unique string the client makes per launch) lets a retried call count once."""

    scene: int | None = Field(default=None, ge=0, le=100_000)  # WeChat's scene value (1047…)
    path: str | None = Field(default=None, max_length=256)
    query: dict[str, str] = Field(default_factory=dict, max_length=32)
    launch_id: str | None = Field(default=None, min_length=1, max_length=64)


class MpLaunchRecorded(BaseModel):
    channel: str | None


@dataclass(frozen=True)
class MpLaunched(DomainEvent):
    """A Mini Program launch carrying a channel (scene or query), published in the request's
    transaction after `mp.launch` is on the timeline."""

    workspace_id: int
    app_id: int
    member_id: int
    channel: str
    launch_key: str
    at: datetime


class MpPhoneBound(BaseModel):
    member_number: int
    phone_masked: str


@dataclass(frozen=True)
class MpApp:
    app: AppRead
    secret: str


@dataclass(frozen=True)
class MpPrincipal:
    """The caller of an authenticated Mini Program request."""

    session_id: int
    app: AppRead
    member_id: int
    openid: str


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def mp_app(session: Session, appid: str) -> MpApp:
    """The Mini Program `appid` names, with its AppSecret (404 unknown, 400 not an MP)."""
    app = workspaces.get_app_by_appid(session, appid)
    if app.kind != AppKind.mp:
        raise errors.NOT_MINI_PROGRAM(
            f"app {appid} is a {app.kind}, not a Mini Program", appid=appid
        )
    secret = workspaces.get_app_credentials(session, appid).secret
    if secret is None:
        raise errors.APP_WITHOUT_SECRET(f"app {appid} has no AppSecret configured", appid=appid)
    return MpApp(app=app, secret=secret)


def refusal(exc: WeChatError) -> SiyuError:
    """What a WeChat refusal of a client's code means for that client."""
    data = {"errcode": exc.errcode}
    if isinstance(exc, InvalidCode):
        return errors.INVALID_CODE(
            "the code is invalid or expired (codes live 5 minutes)", data=data
        )
    if isinstance(exc, CodeUsed):
        return errors.CODE_USED("the code was already used; get a new one", data=data)
    if isinstance(exc, RateLimited):
        return errors.RATE_LIMITED("WeChat limits this user's logins; retry in a minute", data=data)
    if isinstance(exc, UserBlocked):
        return errors.USER_BLOCKED("WeChat blocks this user's login", data=data)
    if isinstance(exc, WeChatUnavailable):
        return errors.UNAVAILABLE("WeChat cannot be reached", data=data)
    return errors.UPSTREAM_ERROR(f"WeChat refused: {exc.errcode}", data=data, errcode=exc.errcode)


def exchange_login_code(gateway: Gateway, app: MpApp, code: str) -> Code2Session:
    """code2session; call it outside any transaction (it waits on WeChat)."""
    try:
        return gateway.code2session(app.app.appid, app.secret, code)
    except WeChatError as exc:
        raise refusal(exc) from exc


def open_session(
    session: Session, app: AppRead, login: Code2Session, hours: int
) -> MpSessionIssued:
    """Resolve the member (joined by UnionID when WeChat gives one), record mp.login, issue."""
    person = PersonRef(appid=app.appid, openid=login.openid, unionid=login.unionid)
    member = identity.resolve_member(session, app, person, actor=ACTOR)
    now = clock.now()
    identity.record_event(session, app.workspace_id, member.id, "mp.login", now, app_id=app.id)
    token = secrets.token_urlsafe(32)
    expires_at = now + timedelta(hours=hours)
    session.add(
        MpSession(
            app_id=app.id,
            member_id=member.id,
            openid=login.openid,
            session_key=login.session_key.get_secret_value(),
            token_hash=token_hash(token),
            created_at=now,
            expires_at=expires_at,
        )
    )
    session.flush()
    return MpSessionIssued(token=token, member_number=member.number, expires_at=expires_at)


MAX_QUERY_VALUE = 256


def launch_channel(data: LaunchIn) -> str | None:
    """The channel a launch names: an unlimited code's `scene` query, else `ch`."""
    for key in ("scene", "ch"):
        value = (data.query.get(key) or "").strip()
        if value:
            return unquote(value)[:64]
    return None


def record_launch(session: Session, principal: MpPrincipal, data: LaunchIn) -> MpLaunchRecorded:
    """`mp.launch` on the member's timeline (channel = the scene), and MpLaunched on the bus."""
    app = principal.app
    member_id = _current_member(session, app.workspace_id, principal.member_id)
    channel = launch_channel(data)
    now = clock.now()
    props: dict[str, object] = {
        "path": (data.path or "")[:256],
        "scene": data.scene,
        "query": {k[:32]: v[:MAX_QUERY_VALUE] for k, v in data.query.items()},
    }
    identity.record_event(
        session, app.workspace_id, member_id, "mp.launch", now, app_id=app.id,
        channel=channel, props=props,
    )  # fmt: skip
    if channel is not None:
        key = data.launch_id or f"{principal.session_id}:{channel}:{int(now.timestamp()) // 60}"
        bus.publish(
            session,
            MpLaunched(app.workspace_id, app.id, member_id, channel, f"launch:{key}", now),
        )
    return MpLaunchRecorded(channel=channel)


def _bearer(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise errors.MP_SESSION_REQUIRED("send the Mini Program session token as a Bearer token")
    return token.strip()


def authenticate(session: Session, appid: str, authorization: str | None) -> MpPrincipal:
    """The Mini Program session behind a Bearer token (401 when missing, unknown or expired)."""
    app = workspaces.get_app_by_appid(session, appid)
    token = _bearer(authorization)
    row = repository.find_mp_session(session, app.id, token_hash(token))
    if row is None:
        raise errors.MP_SESSION_REQUIRED("unknown Mini Program session; log in")
    if row.expires_at <= clock.now():
        raise errors.MP_SESSION_EXPIRED("the Mini Program session expired; log in")
    return MpPrincipal(session_id=row.id, app=app, member_id=row.member_id, openid=row.openid)


def exchange_phone_code(gateway: Gateway, principal: MpPrincipal, code: str) -> PhoneInfo:
    """getuserphonenumber; call it outside any transaction (it waits on WeChat)."""
    try:
        return gateway.get_phone_number(principal.app.appid, code, principal.openid)
    except WeChatError as exc:
        raise refusal(exc) from exc


def _current_member(session: Session, workspace_id: int, member_id: int) -> int:
    # The session's member may have been merged away since login: follow the merge chain.
    for _hop in range(MAX_MERGE_HOPS):
        member = identity.get_member(session, workspace_id, member_id)
        if member.merged_into_id is None:
            return member.id
        member_id = member.merged_into_id
    raise identity_errors.MEMBER_NOT_FOUND("the session's member cannot be found")


def bind_phone(session: Session, principal: MpPrincipal, phone: PhoneInfo) -> MpPhoneBound:
    """Bind the phone to the caller's member, merging with its owner where that proves one."""
    try:
        number = normalize_phone(phone.e164)
    except ValueError as exc:
        raise identity_errors.INVALID_PHONE(str(exc)) from exc
    workspace_id = principal.app.workspace_id
    member_id = _current_member(session, workspace_id, principal.member_id)
    result = identity.bind_phone(session, workspace_id, member_id, number, actor=ACTOR)
    row = session.get(MpSession, principal.session_id)
    if row is not None:
        row.member_id = result.id
    session.flush()
    # Pressing WeChat's getPhoneNumber button is the member's authorization to use the number.
    identity.grant_consent(
        session,
        workspace_id,
        result.id,
        ConsentPurpose.phone,
        entry=f"mp:{principal.app.appid}:getPhoneNumber",
        actor=_actor(principal),
    )
    return MpPhoneBound(member_number=result.number, phone_masked=mask_phone(number))


def _actor(principal: MpPrincipal) -> str:
    return f"mp:member:{principal.member_id}"


class ConsentIn(BaseModel):
    purpose: ConsentPurpose
    granted: bool


class MpErased(BaseModel):
    erased: bool
    erasure_id: int
    digest: str


def my_consents(session: Session, principal: MpPrincipal) -> list[ConsentRead]:
    workspace_id = principal.app.workspace_id
    member_id = _current_member(session, workspace_id, principal.member_id)
    return identity.list_consents(session, workspace_id, member_id)


def set_consent(session: Session, principal: MpPrincipal, body: ConsentIn) -> list[ConsentRead]:
    """The member grants or withdraws a purpose from the Mini Program."""
    workspace_id = principal.app.workspace_id
    member_id = _current_member(session, workspace_id, principal.member_id)
    entry = f"mp:{principal.app.appid}"
    if body.granted:
        identity.grant_consent(
            session, workspace_id, member_id, body.purpose, entry=entry, actor=_actor(principal)
        )
    else:
        identity.withdraw_consent(session, workspace_id, member_id, body.purpose, via=entry)
    return identity.list_consents(session, workspace_id, member_id)


def export_me(session: Session, principal: MpPrincipal) -> dict[str, object]:
    """The member's own data, as they asked for it from the Mini Program."""
    workspace_id = principal.app.workspace_id
    member_id = _current_member(session, workspace_id, principal.member_id)
    return identity.export_member(
        session, workspace_id, member_id, actor=_actor(principal), via="mp"
    )


def erase_me(session: Session, principal: MpPrincipal) -> MpErased:
    """The member's erasure request from the Mini Program; their session ends with it."""
    workspace_id = principal.app.workspace_id
    member_id = _current_member(session, workspace_id, principal.member_id)
    proof = identity.erase_member(
        session, workspace_id, member_id, actor=_actor(principal), via="member"
    )
    return MpErased(erased=True, erasure_id=proof.id, digest=proof.digest)


def open_user_data(
    session: Session, principal: MpPrincipal, encrypted_data: str, iv: str
) -> dict[str, object]:
    """Open data the Mini Program got sealed with the session_key (e.g. wx.getShareInfo's
    openGId): AES-128-CBC, PKCS#7, base64 key/iv/data; the watermark must name this app."""
    import base64
    import binascii
    import json

    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    row = session.get(MpSession, principal.session_id)
    if row is None:
        raise errors.MP_SESSION_REQUIRED("unknown Mini Program session; log in")
    bad = errors.BAD_ENCRYPTED_DATA("the encrypted data does not open with this session")
    try:
        key, vector = base64.b64decode(row.session_key), base64.b64decode(iv)
        sealed = base64.b64decode(encrypted_data, validate=True)
        decryptor = Cipher(algorithms.AES(key), modes.CBC(vector)).decryptor()
        padded = decryptor.update(sealed) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        data = json.loads(unpadder.update(padded) + unpadder.finalize())
    except (ValueError, binascii.Error, TypeError):
        raise bad from None
    watermark = data.get("watermark") if isinstance(data, dict) else None
    if not isinstance(watermark, dict) or watermark.get("appid") != principal.app.appid:
        raise bad
    return dict(data)
