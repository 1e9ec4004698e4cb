"""The sandbox's in-memory world: accounts, simulated users, tokens, one-time codes and inboxes."""

from __future__ import annotations

import base64
import hashlib
import random
import re
import secrets
import threading
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from siyu.core import clock
from siyu.sandbox.errors import WeChatError
from siyu.wechat.crypto import aes_key_bytes

Kind = Literal["oa_service", "oa_subscription", "mp"]
PushMode = Literal["plain", "compatible", "secure"]
DataFormat = Literal["xml", "json"]

TOKEN_TTL = timedelta(seconds=7200)
# Classic token: a new fetch leaves the previous token valid for 5 more minutes (fact sheet §2.1).
CLASSIC_OVERLAP = timedelta(minutes=5)
# Stable token: renewed when less than 5 minutes remain, so any answer has ≥300 s (fact sheet §2.1).
STABLE_RENEW_BEFORE = timedelta(minutes=5)
FORCE_REFRESH_PER_DAY = 20
FORCE_REFRESH_GAP = timedelta(seconds=30)
CLASSIC_TOKENS_PER_DAY = 2000  # [LIMITS] for a new account
CODE_TTL = timedelta(minutes=5)  # wx.login and getPhoneNumber codes (fact sheet §3)
TOKEN_RE = re.compile(r"^\d+_[A-Za-z0-9_-]{20,}$")
# WeChat's daily quotas reset at midnight Beijing time.
QUOTA_ZONE = clock.BEIJING

GIVEN_NAMES = ["子涵", "欣怡", "梓轩", "浩宇", "雨桐", "一诺", "思远", "佳琪", "若曦", "俊杰"]
FAMILY_NAMES = ["王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱"]


def b64id(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


def openid_for(appid: str, uid: str) -> str:
    """28 base64url characters, a per-app prefix like real openids (`o9AgO5…`)."""
    return "o" + b64id(digest(f"app:{appid}"))[:5] + b64id(digest(f"{appid}:{uid}"))[:22]


def unionid_for(uid: str) -> str:
    return "o" + b64id(digest(f"union:{uid}"))[:27]


class TemplateSpec(BaseModel):
    """An OA template or MP subscribe template; keys carry their type (`thing1`, `time2`)."""

    template_id: str | None = None
    title: str = Field(min_length=1, max_length=64)
    keys: list[str] = Field(default_factory=list)


class AccountSpec(BaseModel):
    """What `/sandbox-admin/accounts` registers: an app and how its pushes reach siyu."""

    appid: str = Field(pattern=r"^wx[0-9A-Za-z]{16}$")
    secret: str = Field(min_length=1, max_length=128)
    kind: Kind
    name: str = ""
    token: str = Field(default="", max_length=32)
    aes_key: str = ""
    push_url: str | None = None
    mode: PushMode = "plain"
    data_format: DataFormat = "xml"
    linked_mps: list[str] = Field(default_factory=list)
    unionid_scope: str | None = None
    original_id: str | None = Field(default=None, pattern=r"^gh_[0-9a-f]{12}$")
    pages: list[str] = Field(default_factory=lambda: ["pages/index/index"])
    templates: list[TemplateSpec] = Field(default_factory=list)

    @field_validator("aes_key")
    @classmethod
    def _aes_key(cls, value: str) -> str:
        if value:
            aes_key_bytes(value)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> AccountSpec:
        if self.mode != "plain" and not self.aes_key:
            raise ValueError("compatible and secure modes need an EncodingAESKey")
        if self.kind != "mp" and self.data_format != "xml":
            raise ValueError("Official Accounts push XML only (fact sheet §1.1)")
        return self


@dataclass
class Template:
    template_id: str
    title: str
    keys: list[str]


@dataclass
class QrCode:
    ticket: str
    action_name: str
    scene: str
    expires_at: datetime | None
    url: str

    @property
    def permanent(self) -> bool:
        return self.expires_at is None


@dataclass
class ConditionalMenu:
    """A 个性化菜单: buttons shown to the followers its rule matches (by tag, fact sheet §2.2)."""

    menuid: int
    buttons: list[dict[str, Any]]
    matchrule: dict[str, str]


@dataclass
class Account:
    spec: AccountSpec
    original_id: str
    menu: list[dict[str, Any]] | None = None
    menu_id: int = 0
    # Newest last; a user sees the newest one whose rule matches, else the default menu.
    conditional_menus: list[ConditionalMenu] = field(default_factory=list)
    tags: dict[int, str] = field(default_factory=dict)
    next_tag_id: int = 100  # ids 0/1/2 are reserved (fact sheet §2.7)
    templates: dict[str, Template] = field(default_factory=dict)
    qrcodes: dict[str, QrCode] = field(default_factory=dict)
    permanent_qr: int = 0
    quota: dict[tuple[str, date], int] = field(default_factory=dict)
    classic_token: str | None = None
    stable_token: str | None = None
    last_force_refresh: datetime | None = None
    client_msg_ids: dict[tuple[str, str], tuple[int, datetime]] = field(default_factory=dict)
    mass_client_ids: dict[str, int] = field(default_factory=dict)
    # Days (Beijing) of a sendall to all followers: once a day (fact sheet §2.6).
    mass_all_days: set[date] = field(default_factory=set)
    shares: list[dict[str, Any]] = field(default_factory=list)
    links: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def appid(self) -> str:
        return self.spec.appid

    @property
    def is_oa(self) -> bool:
        return self.spec.kind != "mp"

    @property
    def is_mp(self) -> bool:
        return self.spec.kind == "mp"


@dataclass
class Grant:
    """Permission to send customer-service messages: `quota` messages until `expires_at`."""

    source: str
    expires_at: datetime
    quota: int
    used: int = 0


@dataclass
class Follow:
    subscribed: bool
    subscribe_time: datetime
    scene: str
    qr_scene: int = 0
    qr_scene_str: str = ""
    remark: str = ""


@dataclass
class InboxItem:
    """Something the user actually saw in a chat or in 服务通知."""

    at: datetime
    appid: str
    via: str
    msgtype: str
    content: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "appid": self.appid,
            "via": self.via,
            "msgtype": self.msgtype,
            "content": self.content,
        }


@dataclass
class SimUser:
    uid: str
    nickname: str
    unionid: str
    phone: str
    openids: dict[str, str] = field(default_factory=dict)
    follows: dict[str, Follow] = field(default_factory=dict)
    grants: dict[str, dict[str, Grant]] = field(default_factory=dict)
    credits: dict[tuple[str, str], int] = field(default_factory=dict)
    tags: dict[str, set[int]] = field(default_factory=dict)
    session_keys: dict[str, str] = field(default_factory=dict)
    mp_sessions: dict[str, str] = field(default_factory=dict)  # siyu's MP session tokens
    blocks_templates: set[str] = field(default_factory=set)
    inbox: list[InboxItem] = field(default_factory=list)
    # Mass broadcasts received, by (appid, calendar month in Beijing time "YYYY-MM").
    mass_received: dict[tuple[str, str], int] = field(default_factory=dict)

    def following(self, appid: str) -> bool:
        follow = self.follows.get(appid)
        return follow is not None and follow.subscribed


@dataclass
class IssuedToken:
    value: str
    appid: str
    family: Literal["classic", "stable"]
    expires_at: datetime
    revoked_at: datetime | None = None


@dataclass
class OneTimeCode:
    code: str
    appid: str
    uid: str
    kind: Literal["login", "phone"]
    expires_at: datetime
    used: bool = False


@dataclass
class Outage:
    """WeChat failing for calls whose path starts with `prefix`, as it does when busy or down.

    Each call first waits, if asked: for `hold` to be set (a test in the same process lets
    go) or for `delay` seconds (at most; `recover` ends the wait early), which a caller with
    a shorter timeout sees as a timeout. It then answers HTTP `status` with a gateway's page
    when given (502: WeChat's front end lost its backend), or goes through as if nothing
    happened when `proceed` (a slow WeChat that did the work after the caller gave up), or
    else WeChat's error body with `errcode` (-1 "system error", 45009 "reach max api daily
    quota limit")."""

    prefix: str
    errcode: int = -1
    hold: threading.Event | None = None
    status: int | None = None
    delay: float = 0.0
    proceed: bool = False
    calls: int = 0  # how many calls it answered (or holds)
    id: str = field(default_factory=lambda: secrets.token_hex(4))
    ended: threading.Event = field(default_factory=threading.Event, repr=False)

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "prefix": self.prefix,
            "errcode": self.errcode,
            "status": self.status,
            "delay": self.delay,
            "proceed": self.proceed,
            "calls": self.calls,
        }


class SandboxWorld:
    """All sandbox state behind one re-entrant lock; time is `siyu.core.clock.now()` + offset.

    The offset lets the simulator replay past days: everything the world checks (token and
    code lifetimes, customer-service windows) then runs on the simulated time.
    """

    def __init__(self, seed: int = 0) -> None:
        self.lock = threading.RLock()
        self.accounts: dict[str, Account] = {}
        self.users: dict[str, SimUser] = {}
        self.tokens: dict[str, IssuedToken] = {}
        self.codes: dict[str, OneTimeCode] = {}
        self.offset = timedelta(0)
        self._openids: dict[str, tuple[str, str]] = {}
        # Seeded, not secret: simulations replay the same population and message ids.
        self._rng = random.Random(seed)  # noqa: S311
        self._token_serial = 80
        self.outages: list[Outage] = []

    # -- time ------------------------------------------------------------------------------

    def now(self) -> datetime:
        return clock.now() + self.offset

    def set_time(self, at: datetime | None) -> None:
        """Run the world at `at` from now on (None: back to the real clock)."""
        with self.lock:
            self.offset = timedelta(0) if at is None else at - clock.now()

    def next_msgid(self) -> int:
        with self.lock:
            return self._rng.getrandbits(62) | (1 << 62)  # 64-bit, positive, 19 digits

    def count(self, account: Account, name: str, limit: int) -> None:
        """Count one call against a daily quota; 45009 beyond it."""
        day = self.now().astimezone(QUOTA_ZONE).date()
        used = account.quota.get((name, day), 0)
        if used >= limit:
            raise WeChatError(45009)
        account.quota[(name, day)] = used + 1

    # -- faults ----------------------------------------------------------------------------

    def fail(self, outage: Outage) -> Outage:
        """Start an outage (see `Outage`); `recover` ends it."""
        with self.lock:
            self.outages.append(outage)
            return outage

    def recover(self, outage: Outage | None = None) -> None:
        """End an outage (every one if None), releasing the calls it holds."""
        with self.lock:
            ended = self.outages if outage is None else [outage]
            self.outages = [o for o in self.outages if o not in ended]
        for o in ended:
            o.ended.set()
            if o.hold is not None:
                o.hold.set()

    def outage_for(self, path: str) -> Outage | None:
        """The outage this call falls in (counted), if any."""
        with self.lock:
            outage = next((o for o in self.outages if path.startswith(o.prefix)), None)
            if outage is not None:
                outage.calls += 1
            return outage

    # -- accounts --------------------------------------------------------------------------

    def register(self, spec: AccountSpec) -> Account:
        """Add or update an app; state (menus, tags, tokens) survives re-registration."""
        with self.lock:
            account = self.accounts.get(spec.appid)
            original_id = spec.original_id or "gh_" + digest(spec.appid).hex()[:12]
            if account is None:
                account = self.accounts[spec.appid] = Account(spec, original_id)
            else:
                account.spec, account.original_id = spec, original_id
            for template in spec.templates:
                self.add_template(spec.appid, template)
            return account

    def account(self, appid: str) -> Account:
        with self.lock:
            account = self.accounts.get(appid)
            if account is None:
                raise WeChatError(40013)
            return account

    def add_template(self, appid: str, spec: TemplateSpec) -> Template:
        with self.lock:
            account = self.account(appid)
            template_id = spec.template_id or b64id(digest(f"tmpl:{appid}:{spec.title}"))[:43]
            template = Template(template_id, spec.title, list(spec.keys))
            account.templates[template_id] = template
            return template

    # -- users -----------------------------------------------------------------------------

    def create_users(self, count: int, seed: int = 0) -> list[SimUser]:
        rng = random.Random(seed)  # noqa: S311 - a reproducible population
        with self.lock:
            created = []
            for _ in range(count):
                uid = f"u{len(self.users) + 1:06d}"
                name = rng.choice(FAMILY_NAMES) + rng.choice(GIVEN_NAMES)
                phone = "1" + rng.choice("3578") + "".join(rng.choices("0123456789", k=9))
                user = SimUser(uid=uid, nickname=name, unionid=unionid_for(uid), phone=phone)
                self.users[uid] = user
                created.append(user)
            return created

    def user(self, uid: str) -> SimUser:
        with self.lock:
            user = self.users.get(uid)
            if user is None:
                raise KeyError(uid)
            return user

    def openid(self, user: SimUser, appid: str) -> str:
        """The user's openid in an app, assigned on first contact."""
        with self.lock:
            openid = user.openids.get(appid)
            if openid is None:
                openid = user.openids[appid] = openid_for(appid, user.uid)
                self._openids[openid] = (user.uid, appid)
            return openid

    def by_openid(self, openid: str, appid: str) -> SimUser:
        """The user behind an openid of `appid`: 40003 if unknown, 49003 if another app's."""
        with self.lock:
            found = self._openids.get(openid)
            if found is None:
                raise WeChatError(40003)
            uid, owner = found
            if owner != appid:
                raise WeChatError(49003)
            return self.users[uid]

    def deliver(
        self, user: SimUser, appid: str, via: str, msgtype: str, content: dict[str, Any]
    ) -> None:
        with self.lock:
            user.inbox.append(InboxItem(self.now(), appid, via, msgtype, content))

    # -- access tokens ---------------------------------------------------------------------

    def check_secret(self, appid: str, secret: str) -> Account:
        account = self.account(appid)
        if secrets.compare_digest(secret.encode(), account.spec.secret.encode()):
            return account
        # A secret of the wrong shape is "invalid appsecret"; a well-formed wrong one is 40001.
        raise WeChatError(40125 if len(secret) != 32 else 40001)

    def _mint(self, account: Account, family: Literal["classic", "stable"]) -> IssuedToken:
        self._token_serial += 1
        value = f"{self._token_serial}_{secrets.token_urlsafe(102)}"
        token = IssuedToken(value, account.appid, family, self.now() + TOKEN_TTL)
        self.tokens[value] = token
        self._prune()
        return token

    def _prune(self) -> None:
        horizon = self.now() - timedelta(days=1)
        stale = [v for v, t in self.tokens.items() if t.expires_at < horizon]
        for value in stale:
            del self.tokens[value]

    def classic_token(self, appid: str, secret: str) -> tuple[str, int]:
        """`GET /cgi-bin/token`: always a new token; the previous one lives 5 more minutes."""
        with self.lock:
            account = self.check_secret(appid, secret)
            self.count(account, "token", CLASSIC_TOKENS_PER_DAY)
            previous = self.tokens.get(account.classic_token or "")
            if previous is not None and previous.revoked_at is None:
                previous.revoked_at = min(previous.expires_at, self.now() + CLASSIC_OVERLAP)
            token = self._mint(account, "classic")
            account.classic_token = token.value
            return token.value, int(TOKEN_TTL.total_seconds())

    def stable_token(self, appid: str, secret: str, force: bool) -> tuple[str, int]:
        """`POST /cgi-bin/stable_token`, isolated from the classic token (fact sheet §2.1)."""
        with self.lock:
            account = self.check_secret(appid, secret)
            now = self.now()
            current = self.tokens.get(account.stable_token or "")
            if current is not None and not self._live(current, now):
                current = None
            if force and not (current is not None and self._force_too_soon(account, now)):
                self.count(account, "force_refresh", FORCE_REFRESH_PER_DAY)
                account.last_force_refresh = now
                if current is not None:
                    current.revoked_at = now  # a forced refresh kills the old token at once
                current = None
            if current is not None and current.expires_at - now >= STABLE_RENEW_BEFORE:
                return current.value, self._remaining(current, now)
            # Renewal leaves the old token alive until its own expiry (< 5 minutes away).
            token = self._mint(account, "stable")
            account.stable_token = token.value
            return token.value, self._remaining(token, now)

    @staticmethod
    def _force_too_soon(account: Account, now: datetime) -> bool:
        # Forced refreshes closer than 30 s apart "do not refresh": the current token is kept.
        last = account.last_force_refresh
        return last is not None and now - last < FORCE_REFRESH_GAP

    @staticmethod
    def _live(token: IssuedToken, now: datetime) -> bool:
        return now < token.expires_at and (token.revoked_at is None or now < token.revoked_at)

    @staticmethod
    def _remaining(token: IssuedToken, now: datetime) -> int:
        seconds = int((token.expires_at - now).total_seconds())
        return max(0, min(seconds, int(TOKEN_TTL.total_seconds())))

    def authorize(self, access_token: str | None) -> Account:
        """The account an access_token belongs to, or WeChat's refusal (41001/40014/40001/42001)."""
        if not access_token:
            raise WeChatError(41001)
        if not TOKEN_RE.match(access_token):
            raise WeChatError(40014)
        with self.lock:
            token = self.tokens.get(access_token)
            now = self.now()
            if token is None:
                raise WeChatError(40001)
            if token.revoked_at is not None and now >= token.revoked_at:
                raise WeChatError(40001)  # "not latest": replaced after the overlap
            if now >= token.expires_at:
                raise WeChatError(42001)
            return self.accounts[token.appid]

    # -- one-time codes (wx.login, getPhoneNumber) -----------------------------------------

    def issue_code(self, user: SimUser, appid: str, kind: Literal["login", "phone"]) -> str:
        with self.lock:
            account = self.account(appid)
            if not account.is_mp:
                raise ValueError(f"{appid} is not a Mini Program")
            self.openid(user, appid)
            code = b64id(secrets.token_bytes(24))[:32]
            self.codes[code] = OneTimeCode(code, appid, user.uid, kind, self.now() + CODE_TTL)
            return code

    def redeem_code(self, code: str, appid: str, kind: Literal["login", "phone"]) -> SimUser:
        """Single use within 5 minutes: 40029 unknown or expired, 40163 already used."""
        with self.lock:
            found = self.codes.get(code)
            if found is None or found.appid != appid or found.kind != kind:
                raise WeChatError(40029)
            if found.used:
                raise WeChatError(40163)
            if self.now() >= found.expires_at:
                raise WeChatError(40029)
            found.used = True
            return self.users[found.uid]
