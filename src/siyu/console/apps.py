"""Console pages of the workspace's apps (OAs and Mini Programs): list and register."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

from fastapi import APIRouter, Request
from pydantic import ConfigDict, ValidationInfo, field_validator
from starlette.responses import RedirectResponse, Response

from siyu.console.forms import ConsoleForm, Posted, form_again, parse_form
from siyu.console.i18n import Translator
from siyu.console.web import ConsoleRoute, is_htmx, render, translator
from siyu.core.db import Database
from siyu.core.errors import REQUEST_INVALID, ErrorCode, SiyuError
from siyu.core.http import DatabaseDep
from siyu.security.auth import require
from siyu.security.enums import Permission
from siyu.security.schemas import Principal
from siyu.workspaces import errors as workspace_errors
from siyu.workspaces import service as workspaces
from siyu.workspaces.enums import AppKind, EntityKind, PushMode
from siyu.workspaces.schemas import AES_KEY, OWN_APPID, WECHAT_APPID, WECHAT_KINDS, AppCreate

PAGE, FRAGMENT = "apps.html", "_apps_section.html"

router = APIRouter(include_in_schema=False, route_class=ConsoleRoute)
AppReader = Annotated[Principal, require(Permission.apps_read)]
AppManager = Annotated[Principal, require(Permission.apps_manage)]


def _apps_context(db: Database, principal: Principal) -> dict[str, Any]:
    with db.session_scope() as session:
        apps = workspaces.list_apps(session, principal.workspace_id)
    return {
        "active": "apps",
        "apps": apps,
        "app_kinds": list(AppKind),
        "entity_kinds": list(EntityKind),
        "push_modes": list(PushMode),
        "form": {},
        "errors": {},
        "notice": None,
        "form_error": None,
    }


class AppForm(ConsoleForm):
    """The app form: each format checked at its own field (the AppID's rule depends on the
    kind chosen above it), then the service's input (`AppCreate`) checks the lengths."""

    model_config = ConfigDict(str_strip_whitespace=True)
    messages: ClassVar[str | None] = "apps.invalid"
    summary: ClassVar[str] = "apps.form_invalid"
    refused_as: ClassVar[ErrorCode] = REQUEST_INVALID
    shown_at: ClassVar[Mapping[str, str]] = {workspace_errors.APP_EXISTS.code: "appid"}
    not_echoed: ClassVar[frozenset[str]] = frozenset({"secret", "token", "aes_key"})

    kind: AppKind
    appid: str
    name: str
    entity: str | None = None
    entity_kind: EntityKind = EntityKind.enterprise
    secret: str | None = None
    token: str | None = None
    aes_key: str | None = None
    push_mode: PushMode | None = None

    @field_validator("appid")
    @classmethod
    def _appid(cls, value: str, info: ValidationInfo) -> str:
        kind = info.data.get("kind")  # absent when the kind itself was refused
        pattern = WECHAT_APPID if kind in WECHAT_KINDS else OWN_APPID
        if kind is not None and not pattern.match(value):
            raise ValueError(f"not a valid {kind} appid")
        return value

    @field_validator("push_mode", mode="before")
    @classmethod
    def _push_mode(cls, value: object) -> object:
        return value or None  # the first choice: decided by the keys

    @field_validator("aes_key")
    @classmethod
    def _aes_key(cls, value: str | None) -> str | None:
        if value and not AES_KEY.match(value):
            raise ValueError("EncodingAESKey is 43 letters and digits")
        return value

    def to_create(self, tr: Translator) -> AppCreate:
        # An optional field typed as spaces only is left out, like an empty one.
        return self.build(
            AppCreate,
            tr,
            kind=self.kind,
            appid=self.appid,
            name=self.name,
            entity=self.entity or None,
            entity_kind=self.entity_kind,
            secret=self.secret or None,
            token=self.token or None,
            aes_key=self.aes_key or None,
            push_mode=self.push_mode,
        )


@router.get("/apps")
def apps_page(request: Request, principal: AppReader, db: DatabaseDep) -> Response:
    return render(request, PAGE, _apps_context(db, principal))


@router.post("/apps")
def add_app(request: Request, principal: AppManager, db: DatabaseDep, posted: Posted) -> Response:
    tr = translator(request)
    try:
        data = parse_form(posted, AppForm, tr).to_create(tr)
        with db.session_scope() as session:
            added = workspaces.add_app(session, principal.workspace_id, data, actor=principal)
    except SiyuError as exc:
        context = _apps_context(db, principal)
        return form_again(
            request, exc, context, form=AppForm, sent=posted, page=PAGE, fragment=FRAGMENT
        )
    if not is_htmx(request):
        return RedirectResponse("/apps", status_code=303)
    context = _apps_context(db, principal)
    context["notice"] = tr("apps.added", name=added.name, appid=added.appid)
    return render(request, FRAGMENT, context)
