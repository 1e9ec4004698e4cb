"""The WeChat API families siyu calls (menus, QR codes, messages, users and tags, Mini
Program), each call with a token from `tokens` and one fresh try when WeChat refuses it."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, TypeVar

from siyu.wechat.gateway.errcodes import TokenInvalid
from siyu.wechat.gateway.transport import Transport, read_answer
from siyu.wechat.schemas.outbound import (
    Code2Session,
    ConditionalMenu,
    ConditionalMenuAdded,
    CurrentMenu,
    CustomMessage,
    MassSent,
    Menu,
    MenuButton,
    MenuMatch,
    MessageSent,
    OaSubscribeMessage,
    PhoneAnswer,
    PhoneInfo,
    QrCode,
    QrCodeRequest,
    SchemeAnswer,
    SchemeRequest,
    StableToken,
    SubscribeMessage,
    Tag,
    TagCreated,
    TagFans,
    TagList,
    TemplateMessage,
    UnlimitedCodeRequest,
    UrlLinkAnswer,
    UrlLinkRequest,
    UserInfo,
    UserInfoList,
    UserTagIds,
)

T = TypeVar("T")
USER_BATCH = 100  # /cgi-bin/user/info/batchget takes at most 100 users (fact sheet §2.7)
TAG_BATCH = 50  # batch (un)tagging takes at most 50 openids per call (40032 beyond)


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
        return read_answer(CurrentMenu, self._get(appid, path), path)

    def delete_menu(self, appid: str) -> None:
        self._get(appid, "/cgi-bin/menu/delete")

    def add_conditional_menu(self, appid: str, menu: ConditionalMenu) -> str:
        """A conditional menu over the default one (which must exist: 65303); its menuid."""
        path = "/cgi-bin/menu/addconditional"
        return read_answer(
            ConditionalMenuAdded, self._post(appid, path, menu.payload()), path
        ).menuid

    def delete_conditional_menu(self, appid: str, menuid: str) -> None:
        self._post(appid, "/cgi-bin/menu/delconditional", {"menuid": menuid})

    def try_match_menu(self, appid: str, user_id: str) -> list[MenuButton]:
        """The menu a follower (openid or WeChat id) would see."""
        path = "/cgi-bin/menu/trymatch"
        return read_answer(MenuMatch, self._post(appid, path, {"user_id": user_id}), path).button

    # -- QR codes

    def create_qrcode(self, appid: str, request: QrCodeRequest) -> QrCode:
        path = "/cgi-bin/qrcode/create"
        return read_answer(QrCode, self._post(appid, path, request.payload()), path)

    # -- messages

    def send_custom_message(self, appid: str, message: CustomMessage) -> None:
        self._post(appid, "/cgi-bin/message/custom/send", message.payload())

    def send_template_message(self, appid: str, message: TemplateMessage) -> int | None:
        path = "/cgi-bin/message/template/send"
        return read_answer(MessageSent, self._post(appid, path, message.payload()), path).msgid

    def send_subscribe_message(self, appid: str, message: SubscribeMessage) -> int | None:
        path = "/cgi-bin/message/subscribe/send"
        return read_answer(MessageSent, self._post(appid, path, message.payload()), path).msgid

    def send_oa_subscribe_message(self, appid: str, message: OaSubscribeMessage) -> int | None:
        path = "/cgi-bin/message/subscribe/bizsend"
        return read_answer(MessageSent, self._post(appid, path, message.payload()), path).msgid

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
        return read_answer(MassSent, self._post(appid, path, payload), path).msg_id

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
        return read_answer(MassSent, self._post(appid, path, payload), path).msg_id

    # -- users and tags

    def get_user_info(self, appid: str, openid: str, lang: str = "zh_CN") -> UserInfo:
        path = "/cgi-bin/user/info"
        return read_answer(UserInfo, self._get(appid, path, {"openid": openid, "lang": lang}), path)

    def get_user_info_batch(
        self, appid: str, openids: Sequence[str], lang: str = "zh_CN"
    ) -> list[UserInfo]:
        path = "/cgi-bin/user/info/batchget"
        users: list[UserInfo] = []
        for chunk in _chunks(openids, USER_BATCH):
            body = {"user_list": [{"openid": openid, "lang": lang} for openid in chunk]}
            users.extend(
                read_answer(UserInfoList, self._post(appid, path, body), path).user_info_list
            )
        return users

    def create_tag(self, appid: str, name: str) -> Tag:
        path = "/cgi-bin/tags/create"
        return read_answer(TagCreated, self._post(appid, path, {"tag": {"name": name}}), path).tag

    def get_tags(self, appid: str) -> list[Tag]:
        path = "/cgi-bin/tags/get"
        return read_answer(TagList, self._get(appid, path), path).tags

    def update_tag(self, appid: str, tag_id: int, name: str) -> None:
        self._post(appid, "/cgi-bin/tags/update", {"tag": {"id": tag_id, "name": name}})

    def delete_tag(self, appid: str, tag_id: int) -> None:
        """45057 when the tag has more than 100 000 followers (untag some first)."""
        self._post(appid, "/cgi-bin/tags/delete", {"tag": {"id": tag_id}})

    def get_user_tags(self, appid: str, openid: str) -> list[int]:
        path = "/cgi-bin/tags/getidlist"
        answer = read_answer(UserTagIds, self._post(appid, path, {"openid": openid}), path)
        return answer.tagid_list

    def get_tag_fans_page(self, appid: str, tag_id: int, next_openid: str = "") -> TagFans:
        path = "/cgi-bin/user/tag/get"
        body = {"tagid": tag_id, "next_openid": next_openid}
        return read_answer(TagFans, self._post(appid, path, body), path)

    def get_tag_fans(self, appid: str, tag_id: int) -> Iterator[list[str]]:
        """The tag's followers, a page (≤ 10 000) at a time, until WeChat says the end."""
        after = ""
        while True:
            page = self.get_tag_fans_page(appid, tag_id, after)
            if page.data.openid:
                yield page.data.openid
            if not page.next_openid or page.next_openid == after:
                return
            after = page.next_openid

    def tag_users_once(self, appid: str, tag_id: int, openids: Sequence[str], *, add: bool) -> None:
        """One batch(un)tagging call: ≤ 50 openids (40032 beyond), all or nothing (45059 when
        one of them already carries 20 tags)."""
        if not 1 <= len(openids) <= TAG_BATCH:
            raise ValueError(f"batch tagging takes 1 to {TAG_BATCH} openids")
        verb = "batchtagging" if add else "batchuntagging"
        body = {"openid_list": list(openids), "tagid": tag_id}
        self._post(appid, f"/cgi-bin/tags/members/{verb}", body)

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
        return read_answer(PhoneAnswer, self._post(appid, path, body), path).phone_info

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
        return read_answer(SchemeAnswer, self._post(appid, path, request.payload()), path).openlink

    def generate_urllink(self, appid: str, request: UrlLinkRequest) -> str:
        path = "/wxa/generate_urllink"
        return read_answer(UrlLinkAnswer, self._post(appid, path, request.payload()), path).url_link
