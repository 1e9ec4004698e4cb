"""What siyu sends to WeChat's APIs and reads back: menus, QR codes, messages (customer
service, template, subscribe, mass), users and tags, Mini Program codes and links."""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator


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


class MatchRule(WeChatRequest):
    """A conditional menu's rule: WeChat now matches by tag and platform only (sex, region and
    language are refused with 65320, fact sheet §2.2); ids travel as strings."""

    tag_id: str | None = None
    client_platform_type: Literal["1", "2", "3"] | None = None


class ConditionalMenu(WeChatRequest):
    button: list[MenuButton]
    matchrule: MatchRule


class ConditionalMenuAdded(WeChatModel):
    menuid: str

    @field_validator("menuid", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value


class MenuMatch(WeChatModel):
    button: list[MenuButton] = Field(default_factory=list)


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


class OpenidList(WeChatModel):
    openid: list[str] = Field(default_factory=list)


class TagFans(WeChatModel):
    """A page of a tag's followers (user/tag/get); an empty `next_openid` ends the list."""

    count: int = 0
    data: OpenidList = Field(default_factory=OpenidList)
    next_openid: str = ""


class UserTagIds(WeChatModel):
    tagid_list: list[int] = Field(default_factory=list)


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
