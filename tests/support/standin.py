"""A scripted WeChat stand-in served over real HTTP, for answers the sandbox cannot give on demand.

It follows the fact sheet (§2, §3, §6) for the calls the gateway makes, and can be told to
answer the next call of a path with any body (40001, -1, 45009, 45011…), to revoke an app's
token, or to hold stable_token until a test lets it go.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from siyu.core import clock

SECRET = "s" * 32
TOKEN_SECONDS = 7200
CODE_LIFETIME = timedelta(minutes=5)
TOKEN_FREE = ("/cgi-bin/stable_token", "/sns/jscode2session")
JPEG = b"\xff\xd8\xff\xe0fake-wxacode\xff\xd9"


@dataclass
class Call:
    path: str
    query: dict[str, str]
    body: dict[str, Any]
    raw: bytes


@dataclass
class Code:
    appid: str
    value: dict[str, Any]
    issued_at: datetime
    used: bool = False


@dataclass
class Token:
    appid: str
    expires_at: datetime


@dataclass
class ScriptedWeChat:
    """The stand-in's state; `reset()` between tests."""

    secrets: dict[str, str] = field(default_factory=dict)
    current: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, Token] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    script: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    codes: dict[str, Code] = field(default_factory=dict)
    menus: dict[str, dict[str, Any]] = field(default_factory=dict)
    hold: threading.Event | None = None
    entered: threading.Event = field(default_factory=threading.Event)

    def reset(self) -> None:
        self.secrets.clear()
        self.current.clear()
        self.tokens.clear()
        self.calls.clear()
        self.script.clear()
        self.codes.clear()
        self.menus.clear()
        self.hold = None
        self.entered = threading.Event()

    # -- what tests use

    def register(self, appid: str, secret: str = SECRET) -> None:
        self.secrets[appid] = secret

    def answer_next(self, path: str, *answers: dict[str, Any]) -> None:
        """Answer the next calls of `path` with these bodies, in order."""
        self.script[path].extend(answers)

    def issue_code(self, appid: str, openid: str, unionid: str | None = None) -> str:
        """A wx.login code for this user, valid 5 minutes, once."""
        value: dict[str, Any] = {"openid": openid, "session_key": secrets.token_urlsafe(16)}
        if unionid is not None:
            value["unionid"] = unionid
        return self._code(appid, value)

    def issue_phone_code(self, appid: str, phone: str, country: str = "86") -> str:
        info = {
            "phoneNumber": phone if country == "86" else f"+{country} {phone}",
            "purePhoneNumber": phone,
            "countryCode": country,
            "watermark": {"timestamp": int(clock.now().timestamp()), "appid": appid},
        }
        return self._code(appid, {"phone_info": info})

    def revoke(self, appid: str) -> None:
        """Someone else force-refreshed: the current token stops working at once."""
        old = self.current.pop(appid, None)
        if old is not None:
            self.tokens.pop(old, None)

    def count(self, path: str) -> int:
        return sum(1 for call in self.calls if call.path == path)

    def last(self, path: str) -> Call:
        return [call for call in self.calls if call.path == path][-1]

    # -- the ASGI app

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{path:path}", self._handle, methods=["GET", "POST"])])

    def _code(self, appid: str, value: dict[str, Any]) -> str:
        code = secrets.token_hex(16)
        self.codes[code] = Code(appid, value, clock.now())
        return code

    async def _handle(self, request: Request) -> Response:
        path = "/" + request.path_params["path"]
        raw = await request.body()
        body = json.loads(raw) if raw else {}
        query = dict(request.query_params)
        self.calls.append(Call(path, query, body, raw))
        if path == "/cgi-bin/stable_token" and self.hold is not None:
            self.entered.set()
            await anyio.to_thread.run_sync(self.hold.wait, 30)
        if self.script.get(path):
            return JSONResponse(self.script[path].pop(0))
        if path not in TOKEN_FREE:
            refused = self._check_token(query.get("access_token"))
            if refused is not None:
                return refused
        answer = self._answer(path, query, body)
        return answer if isinstance(answer, Response) else JSONResponse(answer)

    def _check_token(self, token: str | None) -> Response | None:
        if not token:
            return JSONResponse({"errcode": 41001, "errmsg": "access_token missing"})
        known = self.tokens.get(token)
        if known is None:
            return JSONResponse(
                {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid"}
            )
        if known.expires_at <= clock.now():
            return JSONResponse({"errcode": 42001, "errmsg": "access_token expired"})
        return None

    def _stable_token(self, body: dict[str, Any]) -> dict[str, Any]:
        appid = body.get("appid", "")
        if self.secrets.get(appid) != body.get("secret"):
            return {"errcode": 40125, "errmsg": "invalid appsecret"}
        now = clock.now()
        token = self.current.get(appid)
        known = self.tokens.get(token) if token else None
        # Normal mode renews 5 minutes early; force_refresh always renews.
        if (
            known is None
            or body.get("force_refresh")
            or known.expires_at - now <= timedelta(seconds=300)
        ):
            token = f"TOKEN-{secrets.token_hex(12)}"
            known = self.tokens[token] = Token(appid, now + timedelta(seconds=TOKEN_SECONDS))
            self.current[appid] = token
        assert token is not None
        return {"access_token": token, "expires_in": int((known.expires_at - now).total_seconds())}

    def _redeem(self, code: str | None, appid: str) -> dict[str, Any]:
        issued = self.codes.get(code or "")
        if (
            issued is None
            or issued.appid != appid
            or clock.now() - issued.issued_at > CODE_LIFETIME
        ):
            return {"errcode": 40029, "errmsg": "invalid code"}
        if issued.used:
            return {"errcode": 40163, "errmsg": "code been used"}
        issued.used = True
        return {"errcode": 0, "errmsg": "ok", **issued.value}

    def _appid(self, query: dict[str, str]) -> str:
        return self.tokens[query["access_token"]].appid

    def _answer(
        self, path: str, query: dict[str, str], body: dict[str, Any]
    ) -> dict[str, Any] | Response:
        ok: dict[str, Any] = {"errcode": 0, "errmsg": "ok"}
        if path == "/cgi-bin/stable_token":
            return self._stable_token(body)
        if path == "/sns/jscode2session":
            if self.secrets.get(query.get("appid", "")) != query.get("secret"):
                return {"errcode": 40125, "errmsg": "invalid appsecret"}
            answer = self._redeem(query.get("js_code"), query["appid"])
            if answer["errcode"] != 0:
                return answer
            return {k: v for k, v in answer.items() if k not in ("errcode", "errmsg")}
        if path == "/wxa/business/getuserphonenumber":
            return self._redeem(body.get("code"), self._appid(query))
        if path == "/cgi-bin/menu/create":
            self.menus[self._appid(query)] = body
            return ok
        if path == "/cgi-bin/get_current_selfmenu_info":
            menu = self.menus.get(self._appid(query), {"button": []})
            buttons = [
                {**b, "sub_button": {"list": b["sub_button"]}} if "sub_button" in b else b
                for b in menu["button"]
            ]
            return {"is_menu_open": 1, "selfmenu_info": {"button": buttons}}
        if path == "/cgi-bin/menu/delete":
            self.menus.pop(self._appid(query), None)
            return ok
        if path == "/cgi-bin/qrcode/create":
            ticket = secrets.token_urlsafe(24)
            qr = {"ticket": ticket, "url": f"http://weixin.qq.com/q/{ticket[:12]}"}
            if body.get("expire_seconds"):
                qr["expire_seconds"] = body["expire_seconds"]
            return qr
        if path in ("/cgi-bin/message/template/send", "/cgi-bin/message/subscribe/send"):
            return {**ok, "msgid": 1000 + len(self.calls)}
        if path in ("/cgi-bin/message/custom/send", "/cgi-bin/message/subscribe/bizsend"):
            return ok
        if path == "/cgi-bin/user/info":
            return _user(query["openid"])
        if path == "/cgi-bin/user/info/batchget":
            return {"user_info_list": [_user(u["openid"]) for u in body["user_list"]]}
        if path == "/cgi-bin/tags/create":
            return {"tag": {"id": 100 + self.count(path), "name": body["tag"]["name"]}}
        if path == "/cgi-bin/tags/get":
            return {"tags": [{"id": 2, "name": "星标组", "count": 0}]}
        if path in ("/cgi-bin/tags/members/batchtagging", "/cgi-bin/tags/members/batchuntagging"):
            return ok if len(body["openid_list"]) <= 50 else {"errcode": 40032, "errmsg": "size"}
        if path == "/wxa/getwxacodeunlimit":
            if body.get("page") == "pages/missing":
                return {"errcode": 41030, "errmsg": "invalid page"}
            return Response(JPEG, media_type="image/jpeg")
        if path == "/wxa/generatescheme":
            return {**ok, "openlink": f"weixin://dl/business/?t={secrets.token_hex(6)}"}
        if path == "/wxa/generate_urllink":
            return {**ok, "url_link": f"https://wxaurl.cn/{secrets.token_hex(6)}"}
        return {"errcode": 48001, "errmsg": "api unauthorized"}


def _user(openid: str) -> dict[str, Any]:
    return {
        "subscribe": 1,
        "openid": openid,
        "subscribe_time": 1_700_000_000,
        "tagid_list": [2],
        "subscribe_scene": "ADD_SCENE_QR_CODE",
        "qr_scene": 0,
        "qr_scene_str": "poster",
    }
