"""WeChat's error answers: `{"errcode": N, "errmsg": "..."}` with HTTP 200, as WeChat sends them."""

from __future__ import annotations

import secrets

# errmsg texts as WeChat writes them. Sources: the global return-code page
# (https://developers.weixin.qq.com/doc/oplatform/en/Return_codes/Return_code_descriptions_new),
# wechatpy/constants.py, and errmsg strings quoted in developers.weixin.qq.com community threads.
ERRMSG: dict[int, str] = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
    40007: "invalid media_id",
    40008: "invalid message type",
    40013: "invalid appid",
    40014: "invalid access_token",
    40016: "invalid button size",
    40017: "invalid button type",
    40018: "invalid button name size",
    40019: "invalid button key size",
    40020: "invalid button url size",
    40022: "invalid sub_menu level",
    40023: "invalid sub button size",
    40024: "invalid sub button type",
    40025: "invalid sub button name size",
    40026: "invalid sub button key size",
    40027: "invalid sub button url size",
    40029: "invalid code",
    40032: "invalid openid list size",
    40035: "invalid parameter",
    40037: "invalid template_id",
    40052: "invalid action name",
    40053: "invalid action info, please check document",
    40097: "invalid args",
    40125: "invalid appsecret",
    40129: "invalid scene",
    40163: "code been used",
    40165: "invalid weapp pagepath",
    40169: "invalid length for scene, or the data is not json string",
    40212: "invalid query",
    41001: "access_token missing",
    41002: "appid missing",
    41004: "appsecret missing",
    41030: "invalid page",
    42001: "access_token expired",
    43004: "require subscribe",
    43101: "user refuse to accept the msg",
    44002: "empty post data",
    45009: "reach max api daily quota limit",
    45015: "response out of time limit or subscription is canceled",
    45028: "has no masssend quota",
    45029: "qrcode count out of limit",
    45047: "out of response count limit",
    45056: "too many tags",
    45057: "can't delete the tag that has too many fans",
    45058: "can't modify sys tag",
    45059: "user has too many tags",
    45064: "no permission to use weapp in menu",
    45065: "clientmsgid exist",
    45157: "invalid tag name",
    45158: "tag name too long",
    45159: "invalid tag id",
    46003: "menu no exist",
    47001: "data format error",
    47003: "argument invalid!",
    48001: "api unauthorized",
    49003: "not match openid with appid",
    65301: "menuid not exist",
    65303: "there is no selfmenu, please create selfmenu first",
    65304: "match rule empty",
    65320: "matchrule contains a field no longer supported (sex, region, language)",
    85401: "time limit between 1min and 30 days",
}


def rid() -> str:
    """WeChat appends a request id to every errmsg; clients must not parse errmsg exactly."""
    return "-".join(secrets.token_hex(4) for _ in range(3))


class WeChatError(Exception):
    """An API call WeChat refuses; rendered as its JSON error body."""

    def __init__(self, errcode: int, detail: str | None = None) -> None:
        self.errcode = errcode
        base = ERRMSG.get(errcode, "error")
        self.errmsg = f"{base} {detail}" if detail else base
        super().__init__(f"{errcode} {self.errmsg}")

    def body(self) -> dict[str, object]:
        return {"errcode": self.errcode, "errmsg": f"{self.errmsg} rid: {rid()}"}


def ok(**extra: object) -> dict[str, object]:
    return {"errcode": 0, "errmsg": "ok", **extra}


class FrontEndFailure(Exception):
    """WeChat's front end answering an HTTP error page instead of the API (a 502 when its
    backend is away): no errcode, an HTML body, as a reverse proxy sends it."""

    def __init__(self, status: int) -> None:
        self.status = status
        super().__init__(f"HTTP {status}")

    def page(self) -> str:
        reason = {502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Time-out"}
        title = f"{self.status} {reason.get(self.status, 'Error')}"
        return f"<html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>"
