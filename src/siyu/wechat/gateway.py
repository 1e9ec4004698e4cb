"""The outbound WeChat API client: typed calls, typed errors, token refresh and bounded retries."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal, Protocol, Self, TypeVar

import httpx
from prometheus_client import Counter
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from structlog.stdlib import BoundLogger

from siyu.core.logging import get_logger

API_CALLS = Counter(
    "siyu_wechat_api_calls", "WeChat API calls by path and errcode", ["path", "errcode"]
)
DEFAULT_TIMEOUT = 10.0
DEFAULT_ATTEMPTS = 3
DEFAULT_BACKOFF = 0.5
MAX_BACKOFF = 4.0
T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
USER_BATCH = 100  # /cgi-bin/user/info/batchget takes at most 100 users (fact sheet §2.7)
TAG_BATCH = 50  # batch (un)tagging takes at most 50 openids per call (40032 beyond)

# httpx logs every request URL at INFO, and WeChat puts access_token, secret and codes in the
# query string: redact them before any handler sees the record.
_SECRET_QUERY = re.compile(r"((?:access_token|secret|js_code|code)=)[^&\s\"']+")


def redact(text: str) -> str:
    """`text` with credential query values replaced by `***`."""
    return _SECRET_QUERY.sub(r"\1***", text)


class _RedactQuery(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact(str(arg)) if isinstance(arg, httpx.URL | str) else arg for arg in record.args
            )
        return True


logging.getLogger("httpx").addFilter(_RedactQuery())


def _log() -> BoundLogger:
    # A fresh proxy per call, so that a reconfiguration (tests capturing logs) applies.
    return get_logger(__name__)


# --- errors -------------------------------------------------------------------------------------


class WeChatError(Exception):
    """WeChat answered a non-zero errcode (or could not be reached)."""

    def __init__(self, errcode: int, errmsg: str, *, path: str = "") -> None:
        super().__init__(f"WeChat {path or 'API'} answered {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg
        self.path = path


class WeChatUnavailable(WeChatError):
    """No usable answer: network failure, HTTP error status or a body that is not JSON."""


class SystemBusy(WeChatError):
    """-1: WeChat asks to retry later."""


class QuotaExceeded(WeChatError):
    """45009: the API's daily (or per-minute) call quota is spent."""


class RateLimited(WeChatError):
    """45011: the per-user minute limit (code2session: 100 calls a minute)."""


class TokenInvalid(WeChatError):
    """40001 / 40014 / 42001 / 41001: the access_token is invalid, stale, expired or missing."""


class CredentialsRejected(WeChatError):
    """The appid, AppSecret or caller IP is refused (40013, 40125, 40164, 40243)."""


class InvalidCode(WeChatError):
    """40029: the wx.login or phone code is invalid or expired (codes live 5 minutes)."""


class CodeUsed(WeChatError):
    """40163: the code was already exchanged once."""


class UserBlocked(WeChatError):
    """40226: WeChat blocks this high-risk user from logging in."""


class UserStateError(WeChatError):
    """The user's state forbids this message (not a follower, no credit, window closed…)."""


class InvalidOpenid(UserStateError):
    """40003: the openid is not a user of this app."""


class NotFollowing(UserStateError):
    """43004: the user does not follow the Official Account."""


class SubscriptionMissing(UserStateError):
    """43101: the user refused, unsubscribed or has no one-time subscription credit left."""


class OutsideWindow(UserStateError):
    """45015: the 48-hour customer-service window is closed."""


class WindowQuotaExceeded(UserStateError):
    """45047: the customer-service messages allowed in this window are spent."""


class InvalidRequest(WeChatError):
    """The request itself is wrong (template id, data field, page path, list size…)."""


class NotAuthorized(WeChatError):
    """48001 / 48004: this account may not use the API."""


# The request itself is wrong: menu shape (40016-40027), message type, QR action, template id,
# list sizes, pages, tags, data format.
# fmt: off
_BAD_REQUEST = (
    *range(40016, 40028), 40008, 40032, 40035, 40037, 40052, 40053, 40097, 40129, 40165,
    40169, 40212, 41030, 44002, 45029, 45056, 45057, 45058, 45059, 45064, 45157, 45158,
    45159, 46003, 47001, 47003, 65320, 85401,
)
# fmt: on

_ERRORS: dict[int, type[WeChatError]] = {
    -1: SystemBusy,
    40001: TokenInvalid,
    40014: TokenInvalid,
    41001: TokenInvalid,
    42001: TokenInvalid,
    40013: CredentialsRejected,
    40125: CredentialsRejected,
    40164: CredentialsRejected,
    40243: CredentialsRejected,
    40029: InvalidCode,
    40163: CodeUsed,
    40226: UserBlocked,
    40003: InvalidOpenid,
    43004: NotFollowing,
    43101: SubscriptionMissing,
    45015: OutsideWindow,
    45047: WindowQuotaExceeded,
    45009: QuotaExceeded,
    45011: RateLimited,
    49003: InvalidOpenid,
    **dict.fromkeys(_BAD_REQUEST, InvalidRequest),
    48001: NotAuthorized,
    48004: NotAuthorized,
}

# -1 and 45009 may pass; everything else (and token errors, handled above us) is final here.
_RETRYABLE = (SystemBusy, QuotaExceeded)


def error_for(errcode: int, errmsg: str, path: str = "") -> WeChatError:
    """The typed exception for an errcode."""
    return _ERRORS.get(errcode, WeChatError)(errcode, errmsg, path=path)


class _ConnectFailed(WeChatUnavailable):
    """The request never left: safe to retry even for messages."""


def _read(model: type[M], data: Any, path: str) -> M:
    """`data` as `model`; another shape is reported without echoing it (it may hold a token)."""
    try:
        return model.model_validate(data)
    except ValidationError:
        raise WeChatUnavailable(-1, f"unexpected {model.__name__} answer", path=path) from None


# --- models -------------------------------------------------------------------------------------


class WeChatModel(BaseModel):
    """A WeChat answer: unknown fields are ignored, WeChat adds them freely."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class WeChatRequest(BaseModel):
    """A WeChat request body; unset optional fields are left out."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def payload(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True, by_alias=True)


class StableToken(WeChatModel):
    access_token: SecretStr
    expires_in: int


class MenuButton(WeChatRequest):
    """One button; `sub_button` turns it into a group without an action of its own."""

    type: str | None = None
    name: str
    key: str | None = None
    url: str | None = None
    appid: str | None = None
    pagepath: str | None = None
    media_id: str | None = None
    article_id: str | None = None
    sub_button: list[MenuButton] | None = None

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    @field_validator("sub_button", mode="before")
    @classmethod
    def _unwrap_list(cls, value: Any) -> Any:
        # get_current_selfmenu_info nests sub-buttons as {"list": [...]}; menu/create does not.
        if isinstance(value, dict):
            return value.get("list", [])
        return value


class Menu(WeChatRequest):
    button: list[MenuButton]

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class CurrentMenu(WeChatModel):
    is_menu_open: int = 0
    selfmenu_info: Menu = Field(default_factory=lambda: Menu(button=[]))


QrAction = Literal["QR_SCENE", "QR_STR_SCENE", "QR_LIMIT_SCENE", "QR_LIMIT_STR_SCENE"]


class QrScene(WeChatRequest):
    scene_id: int | None = None
    scene_str: str | None = None


class QrActionInfo(WeChatRequest):
    scene: QrScene


class QrCodeRequest(WeChatRequest):
    action_name: QrAction
    expire_seconds: int | None = None
    action_info: QrActionInfo

    @classmethod
    def temporary(cls, scene: int | str, expire_seconds: int) -> Self:
        action: QrAction = "QR_SCENE" if isinstance(scene, int) else "QR_STR_SCENE"
        return cls(action_name=action, expire_seconds=expire_seconds, action_info=_scene(scene))

    @classmethod
    def permanent(cls, scene: int | str) -> Self:
        action: QrAction = "QR_LIMIT_SCENE" if isinstance(scene, int) else "QR_LIMIT_STR_SCENE"
        return cls(action_name=action, action_info=_scene(scene))


def _scene(scene: int | str) -> QrActionInfo:
    if isinstance(scene, int):
        return QrActionInfo(scene=QrScene(scene_id=scene))
    return QrActionInfo(scene=QrScene(scene_str=scene))


class QrCode(WeChatModel):
    ticket: str
    expire_seconds: int | None = None
    url: str


class CustomMessage(WeChatRequest):
    """A customer-service message: `{touser, msgtype, <msgtype>: body}`."""

    touser: str
    msgtype: str
    body: dict[str, Any]
    kf_account: str | None = None

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {"touser": self.touser, "msgtype": self.msgtype}
        data[self.msgtype] = self.body
        if self.kf_account is not None:
            data["customservice"] = {"kf_account": self.kf_account}
        return data

    @classmethod
    def text(cls, openid: str, content: str) -> Self:
        return cls(touser=openid, msgtype="text", body={"content": content})

    @classmethod
    def image(cls, openid: str, media_id: str) -> Self:
        return cls(touser=openid, msgtype="image", body={"media_id": media_id})

    @classmethod
    def miniprogram_page(
        cls, openid: str, *, title: str, appid: str, pagepath: str, thumb_media_id: str
    ) -> Self:
        body = {"title": title, "appid": appid, "pagepath": pagepath}
        return cls(
            touser=openid,
            msgtype="miniprogrampage",
            body={**body, "thumb_media_id": thumb_media_id},
        )


class MiniProgramLink(WeChatRequest):
    appid: str
    pagepath: str | None = None


class _TemplatedMessage(WeChatRequest):
    """A message filled into a template: WeChat wants each data value as `{"value": ...}`."""

    touser: str
    template_id: str
    data: dict[str, str]

    def payload(self) -> dict[str, Any]:
        values = {key: {"value": value} for key, value in self.data.items()}
        return {**super().payload(), "data": values}


class TemplateMessage(_TemplatedMessage):
    """An OA template message; `miniprogram` wins over `url` on clients that support it."""

    url: str | None = None
    miniprogram: MiniProgramLink | None = None
    client_msg_id: str | None = None


class SubscribeMessage(_TemplatedMessage):
    """A Mini Program subscribe message (one credit per acceptance)."""

    page: str | None = None
    miniprogram_state: Literal["developer", "trial", "formal"] | None = None
    lang: Literal["zh_CN", "en_US", "zh_HK", "zh_TW"] | None = None


class OaSubscribeMessage(_TemplatedMessage):
    """An OA subscription notification (订阅通知, bizsend)."""

    page: str | None = None
    miniprogram: MiniProgramLink | None = None


class MessageSent(WeChatModel):
    msgid: int | None = None


class MassSent(WeChatModel):
    msg_id: int | None = None
    msg_data_id: int | None = None


class UserInfo(WeChatModel):
    subscribe: int
    openid: str
    subscribe_time: int | None = None
    unionid: str | None = None
    remark: str | None = None
    groupid: int | None = None
    tagid_list: list[int] = Field(default_factory=list)
    subscribe_scene: str | None = None
    qr_scene: int | None = None
    qr_scene_str: str | None = None


class Tag(WeChatModel):
    id: int
    name: str
    count: int | None = None


class UserInfoList(WeChatModel):
    user_info_list: list[UserInfo] = Field(default_factory=list)


class TagCreated(WeChatModel):
    tag: Tag


class TagList(WeChatModel):
    tags: list[Tag]


class Code2Session(WeChatModel):
    openid: str
    session_key: SecretStr
    unionid: str | None = None


class Watermark(WeChatModel):
    timestamp: int
    appid: str


class PhoneInfo(WeChatModel):
    phone_number: str = Field(alias="phoneNumber")
    pure_phone_number: str = Field(alias="purePhoneNumber")
    country_code: str = Field(alias="countryCode")
    watermark: Watermark | None = None

    @property
    def e164(self) -> str:
        """The number as E.164 (phoneNumber carries a local prefix only for foreign numbers)."""
        return f"+{self.country_code.lstrip('+')}{self.pure_phone_number}"


class PhoneAnswer(WeChatModel):
    phone_info: PhoneInfo


class LineColor(WeChatRequest):
    r: int
    g: int
    b: int


class UnlimitedCodeRequest(WeChatRequest):
    """getwxacodeunlimit: `scene` ≤32 visible characters; `page` without a leading slash."""

    scene: str
    page: str | None = None
    check_path: bool | None = None
    env_version: Literal["release", "trial", "develop"] | None = None
    width: int | None = None
    auto_color: bool | None = None
    line_color: LineColor | None = None
    is_hyaline: bool | None = None


class JumpWxa(WeChatRequest):
    path: str | None = None
    query: str | None = None
    env_version: Literal["release", "trial", "develop"] | None = None


class SchemeRequest(WeChatRequest):
    """generatescheme; since 2022-04-11 at most 30 days and never permanent."""

    jump_wxa: JumpWxa | None = None
    expire_type: Literal[0, 1] | None = None
    expire_time: int | None = None
    expire_interval: int | None = None


class UrlLinkRequest(WeChatRequest):
    path: str | None = None
    query: str | None = None
    env_version: Literal["release", "trial", "develop"] | None = None
    expire_type: Literal[0, 1] | None = None
    expire_time: int | None = None
    expire_interval: int | None = None


class SchemeAnswer(WeChatModel):
    openlink: str


class UrlLinkAnswer(WeChatModel):
    url_link: str


# --- transport ----------------------------------------------------------------------------------


class Transport:
    """HTTP to WeChat: errcode → typed errors, bounded retries, metrics and redacted logs."""

    def __init__(
        self,
        base_url: str,
        *,
        client: httpx.Client | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        attempts: int = DEFAULT_ATTEMPTS,
        backoff: float = DEFAULT_BACKOFF,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.client = client or httpx.Client(base_url=self.base_url, timeout=timeout)
        self.attempts = max(attempts, 1)
        self.backoff = backoff
        self.sleep = sleep

    def close(self) -> None:
        self.client.close()

    def json(
        self,
        appid: str,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        result = self._call(appid, method, path, params, body, binary=False)
        assert isinstance(result, dict)
        return result

    def binary(
        self, appid: str, path: str, *, params: dict[str, str], body: dict[str, Any]
    ) -> bytes:
        """A POST answered by a file (an image), or by a JSON error."""
        result = self._call(appid, "POST", path, params, body, binary=True)
        assert isinstance(result, bytes)
        return result

    def stable_token(self, appid: str, secret: str, *, force_refresh: bool = False) -> StableToken:
        """POST /cgi-bin/stable_token: the app's current token (a new one if `force_refresh`)."""
        body = {
            "grant_type": "client_credential",
            "appid": appid,
            "secret": secret,
            "force_refresh": force_refresh,
        }
        try:
            data = self.json(appid, "POST", "/cgi-bin/stable_token", body=body)
        except TokenInvalid as exc:
            # Without a token in the request, 40001 can only mean the AppSecret is wrong.
            raise CredentialsRejected(exc.errcode, exc.errmsg, path=exc.path) from None
        return _read(StableToken, data, "/cgi-bin/stable_token")

    def code2session(self, appid: str, secret: str, js_code: str) -> Code2Session:
        """GET /sns/jscode2session: a wx.login code → openid, session_key, unionid."""
        params = {
            "appid": appid,
            "secret": secret,
            "js_code": js_code,
            "grant_type": "authorization_code",
        }
        data = self.json(appid, "GET", "/sns/jscode2session", params=params)
        return _read(Code2Session, data, "/sns/jscode2session")

    def _call(
        self,
        appid: str,
        method: str,
        path: str,
        params: dict[str, str] | None,
        body: dict[str, Any] | None,
        *,
        binary: bool,
    ) -> dict[str, Any] | bytes:
        for attempt in range(1, self.attempts + 1):
            try:
                return self._once(appid, method, path, params, body, binary=binary)
            except (*_RETRYABLE, _ConnectFailed):
                if attempt == self.attempts:
                    raise
                self.sleep(min(self.backoff * 2 ** (attempt - 1), MAX_BACKOFF))
        raise AssertionError("unreachable")  # pragma: no cover

    def _once(
        self,
        appid: str,
        method: str,
        path: str,
        params: dict[str, str] | None,
        body: dict[str, Any] | None,
        *,
        binary: bool,
    ) -> dict[str, Any] | bytes:
        started = time.perf_counter()
        errcode: int | str = "unavailable"
        try:
            response = self._send(method, path, params, body)
            result = self._parse(response, path, binary=binary)
            errcode = 0
            return result
        except WeChatUnavailable:
            raise
        except WeChatError as exc:
            errcode = exc.errcode
            raise
        finally:
            API_CALLS.labels(path, str(errcode)).inc()
            _log().info(
                "wechat_api_call",
                appid=appid,
                path=path,
                errcode=errcode,
                duration_ms=round((time.perf_counter() - started) * 1000, 1),
            )

    def _send(
        self,
        method: str,
        path: str,
        params: dict[str, str] | None,
        body: dict[str, Any] | None,
    ) -> httpx.Response:
        # Raw UTF-8, as wechatpy sends it: WeChat has shown \u escapes literally (menu names).
        content = None if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json"} if content is not None else None
        try:
            return self.client.request(
                method, path, params=params, content=content, headers=headers
            )
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise _ConnectFailed(-1, f"cannot connect: {type(exc).__name__}", path=path) from None
        except httpx.HTTPError as exc:
            raise WeChatUnavailable(
                -1, f"request failed: {type(exc).__name__}", path=path
            ) from None

    @staticmethod
    def _parse(response: httpx.Response, path: str, *, binary: bool) -> dict[str, Any] | bytes:
        if response.status_code >= 400:
            raise WeChatUnavailable(-1, f"HTTP {response.status_code}", path=path)
        kind = response.headers.get("content-type", "")
        if binary and "json" not in kind and "text" not in kind:
            return response.content
        try:
            data = json.loads(response.content)
        except ValueError:
            raise WeChatUnavailable(-1, "the answer is not JSON", path=path) from None
        if not isinstance(data, dict):
            raise WeChatUnavailable(-1, "the answer is not a JSON object", path=path)
        errcode = int(data.get("errcode") or 0)
        if errcode != 0:
            raise error_for(errcode, str(data.get("errmsg", "")), path)
        return data


# --- gateway ------------------------------------------------------------------------------------


class TokenSource(Protocol):
    """Where the gateway gets access tokens (see `siyu.wechat.tokens`)."""

    def get(self, appid: str) -> str: ...

    def refresh(self, appid: str, stale: str) -> str: ...


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Gateway:
    """Every OA / MP call siyu makes; calls that need a token get one from `tokens`."""

    def __init__(self, transport: Transport, tokens: TokenSource) -> None:
        self.transport = transport
        self.tokens = tokens

    def close(self) -> None:
        self.transport.close()

    # -- token-free calls

    def stable_token(self, appid: str, secret: str, *, force_refresh: bool = False) -> StableToken:
        return self.transport.stable_token(appid, secret, force_refresh=force_refresh)

    def code2session(self, appid: str, secret: str, js_code: str) -> Code2Session:
        return self.transport.code2session(appid, secret, js_code)

    # -- plumbing

    def _with_token(self, appid: str, call: Callable[[dict[str, str]], T]) -> T:
        token = self.tokens.get(appid)
        try:
            return call({"access_token": token})
        except TokenInvalid:
            # Another process may have refreshed, or WeChat revoked it: one fresh try only.
            token = self.tokens.refresh(appid, stale=token)
            return call({"access_token": token})

    def _post(self, appid: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._with_token(
            appid, lambda auth: self.transport.json(appid, "POST", path, params=auth, body=body)
        )

    def _get(self, appid: str, path: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        return self._with_token(
            appid,
            lambda auth: self.transport.json(appid, "GET", path, params={**(params or {}), **auth}),
        )

    # -- menus

    def create_menu(self, appid: str, menu: Menu) -> None:
        self._post(appid, "/cgi-bin/menu/create", menu.payload())

    def get_menu(self, appid: str) -> CurrentMenu:
        path = "/cgi-bin/get_current_selfmenu_info"
        return _read(CurrentMenu, self._get(appid, path), path)

    def delete_menu(self, appid: str) -> None:
        self._get(appid, "/cgi-bin/menu/delete")

    # -- QR codes

    def create_qrcode(self, appid: str, request: QrCodeRequest) -> QrCode:
        path = "/cgi-bin/qrcode/create"
        return _read(QrCode, self._post(appid, path, request.payload()), path)

    # -- messages

    def send_custom_message(self, appid: str, message: CustomMessage) -> None:
        self._post(appid, "/cgi-bin/message/custom/send", message.payload())

    def send_template_message(self, appid: str, message: TemplateMessage) -> int | None:
        path = "/cgi-bin/message/template/send"
        return _read(MessageSent, self._post(appid, path, message.payload()), path).msgid

    def send_subscribe_message(self, appid: str, message: SubscribeMessage) -> int | None:
        path = "/cgi-bin/message/subscribe/send"
        return _read(MessageSent, self._post(appid, path, message.payload()), path).msgid

    def send_oa_subscribe_message(self, appid: str, message: OaSubscribeMessage) -> int | None:
        path = "/cgi-bin/message/subscribe/bizsend"
        return _read(MessageSent, self._post(appid, path, message.payload()), path).msgid

    def send_mass_message(
        self,
        appid: str,
        openids: Sequence[str],
        msgtype: str,
        body: dict[str, Any],
        *,
        clientmsgid: str | None = None,
    ) -> int | None:
        """A mass broadcast to a list of followers (service accounts); a `clientmsgid` sent
        before answers 45065, which makes a retry safe."""
        path = "/cgi-bin/message/mass/send"
        payload: dict[str, Any] = {"touser": list(openids), "msgtype": msgtype, msgtype: body}
        if clientmsgid:
            payload["clientmsgid"] = clientmsgid
        return _read(MassSent, self._post(appid, path, payload), path).msg_id

    def send_mass_to_all(
        self,
        appid: str,
        msgtype: str,
        body: dict[str, Any],
        *,
        tag_id: int | None = None,
        clientmsgid: str | None = None,
    ) -> int | None:
        """A mass broadcast by `sendall`: to every follower, or to a tag's (subscription
        accounts broadcast this way, once a day; 45028 when the day's is spent)."""
        path = "/cgi-bin/message/mass/sendall"
        found: dict[str, Any] = {"is_to_all": tag_id is None}
        if tag_id is not None:
            found["tag_id"] = tag_id
        payload: dict[str, Any] = {"filter": found, "msgtype": msgtype, msgtype: body}
        if clientmsgid:
            payload["clientmsgid"] = clientmsgid
        return _read(MassSent, self._post(appid, path, payload), path).msg_id

    # -- users and tags

    def get_user_info(self, appid: str, openid: str, lang: str = "zh_CN") -> UserInfo:
        path = "/cgi-bin/user/info"
        return _read(UserInfo, self._get(appid, path, {"openid": openid, "lang": lang}), path)

    def get_user_info_batch(
        self, appid: str, openids: Sequence[str], lang: str = "zh_CN"
    ) -> list[UserInfo]:
        path = "/cgi-bin/user/info/batchget"
        users: list[UserInfo] = []
        for chunk in _chunks(openids, USER_BATCH):
            body = {"user_list": [{"openid": openid, "lang": lang} for openid in chunk]}
            users.extend(_read(UserInfoList, self._post(appid, path, body), path).user_info_list)
        return users

    def create_tag(self, appid: str, name: str) -> Tag:
        path = "/cgi-bin/tags/create"
        return _read(TagCreated, self._post(appid, path, {"tag": {"name": name}}), path).tag

    def get_tags(self, appid: str) -> list[Tag]:
        path = "/cgi-bin/tags/get"
        return _read(TagList, self._get(appid, path), path).tags

    def tag_users(self, appid: str, tag_id: int, openids: Sequence[str]) -> None:
        for chunk in _chunks(openids, TAG_BATCH):
            body = {"openid_list": list(chunk), "tagid": tag_id}
            self._post(appid, "/cgi-bin/tags/members/batchtagging", body)

    def untag_users(self, appid: str, tag_id: int, openids: Sequence[str]) -> None:
        for chunk in _chunks(openids, TAG_BATCH):
            body = {"openid_list": list(chunk), "tagid": tag_id}
            self._post(appid, "/cgi-bin/tags/members/batchuntagging", body)

    # -- Mini Program

    def get_phone_number(self, appid: str, code: str, openid: str | None = None) -> PhoneInfo:
        path = "/wxa/business/getuserphonenumber"
        body = {"code": code} if openid is None else {"code": code, "openid": openid}
        return _read(PhoneAnswer, self._post(appid, path, body), path).phone_info

    def get_unlimited_wxacode(self, appid: str, request: UnlimitedCodeRequest) -> bytes:
        """The code image; a JSON answer is an error (41030 for a missing page)."""
        return self._with_token(
            appid,
            lambda auth: self.transport.binary(
                appid, "/wxa/getwxacodeunlimit", params=auth, body=request.payload()
            ),
        )

    def generate_scheme(self, appid: str, request: SchemeRequest) -> str:
        path = "/wxa/generatescheme"
        return _read(SchemeAnswer, self._post(appid, path, request.payload()), path).openlink

    def generate_urllink(self, appid: str, request: UrlLinkRequest) -> str:
        path = "/wxa/generate_urllink"
        return _read(UrlLinkAnswer, self._post(appid, path, request.payload()), path).url_link
