"""Console pages of the workspace's apps (OAs and Mini Programs): list and register, and the
OA ↔ Mini Program links that menus and messages need (list, link, record WeChat's answer,
unlink)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

from fastapi import APIRouter, Form, Request
from pydantic import ConfigDict, Field, ValidationInfo, field_validator
from starlette.responses import RedirectResponse, Response

from siyu.console.forms import ConsoleForm, Posted, form_again, parse_form
from siyu.console.i18n import Translator
from siyu.console.web import ConsoleRoute, error_response, is_htmx, render, translator
from siyu.core.db import Database
from siyu.core.errors import REQUEST_INVALID, ErrorCode, SiyuError
from siyu.core.http import DatabaseDep
from siyu.entries import errors as entries_errors
from siyu.entries import service as entries
from siyu.entries.enums import LinkStatus
from siyu.security.auth import require
from siyu.security.enums import Permission
from siyu.security.schemas import Principal
from siyu.workspaces import errors as workspace_errors
from siyu.workspaces import service as workspaces
from siyu.workspaces.enums import AppKind, EntityKind, PushMode
from siyu.workspaces.schemas import AES_KEY, OWN_APPID, WECHAT_APPID, WECHAT_KINDS, AppCreate

PAGE, FRAGMENT = "apps.html", "_apps_section.html"
LINKS_PAGE, LINKS = "app_links.html", "_app_links_section.html"
OA_KINDS = (AppKind.oa_service, AppKind.oa_subscription)

router = APIRouter(include_in_schema=False, route_class=ConsoleRoute)
AppReader = Annotated[Principal, require(Permission.apps_read)]
AppManager = Annotated[Principal, require(Permission.apps_manage)]
LinkManager = Annotated[Principal, require(Permission.entries_manage)]


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


# --- OA ↔ Mini Program links ----------------------------------------------------------------


def _links_context(db: Database, principal: Principal) -> dict[str, Any]:
    with db.session_scope() as session:
        apps = workspaces.list_apps(session, principal.workspace_id)
        links = entries.list_associations(session, principal.workspace_id)
    return {
        "active": "apps",
        "links": links,
        "names": {a.appid: a.name for a in apps},
        "oas": [a for a in apps if a.kind in OA_KINDS],
        "mps": [a for a in apps if a.kind == AppKind.mp],
        "form": {},
        "errors": {},
        "notice": None,
        "form_error": None,
    }


class LinkForm(ConsoleForm):
    """An OA → Mini Program link request: which two apps, and whether the OA's followers are
    told (WeChat's option when linking). A refusal shows at the app it is about."""

    labels: ClassVar[Mapping[str, str]] = {
        "oa_appid": "links.field.oa",
        "mp_appid": "links.field.mp",
    }
    shown_at: ClassVar[Mapping[str, str]] = {
        entries_errors.NOT_OFFICIAL_ACCOUNT.code: "oa_appid",
        entries_errors.NOT_MINI_PROGRAM.code: "mp_appid",
        # every platform limit on links is the Mini Program's to reach (fact sheet §4)
        **{code.code: "mp_appid" for code in entries_errors.ASSOCIATION_LIMITS.values()},
    }

    oa_appid: str = Field(min_length=1, max_length=64)
    mp_appid: str = Field(min_length=1, max_length=64)
    notify_followers: bool = False


def _links_answer(request: Request, db: Database, principal: Principal, notice: str) -> Response:
    if not is_htmx(request):
        return RedirectResponse("/apps/links", status_code=303)
    context = _links_context(db, principal)
    context["notice"] = notice
    return render(request, LINKS, context)


@router.get("/apps/links")
def links_page(request: Request, principal: AppReader, db: DatabaseDep) -> Response:
    return render(request, LINKS_PAGE, _links_context(db, principal))


@router.post("/apps/links")
def link_apps(
    request: Request, principal: LinkManager, db: DatabaseDep, posted: Posted
) -> Response:
    """Record a link request (pending until both admins confirm it in WeChat)."""
    tr = translator(request)
    try:
        form = parse_form(posted, LinkForm, tr)
        with db.session_scope() as session:
            link = entries.link_apps(
                session, principal.workspace_id, form.oa_appid, form.mp_appid,
                notify_followers=form.notify_followers, actor=principal,
                settings=request.app.state.settings,
            )  # fmt: skip
    except SiyuError as exc:
        context = _links_context(db, principal)
        return form_again(
            request, exc, context, form=LinkForm, sent=posted, page=LINKS_PAGE, fragment=LINKS
        )
    names = _links_context(db, principal)["names"]
    notice = tr(
        "links.asked",
        oa=names.get(link.oa_appid, link.oa_appid),
        mp=names.get(link.mp_appid, link.mp_appid),
    )
    return _links_answer(request, db, principal, notice)


@router.post("/apps/links/{link_id}/status")
def answer_link(
    request: Request,
    link_id: int,
    principal: LinkManager,
    db: DatabaseDep,
    status: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    """What the admins answered in WeChat: linked (both confirmed) or refused."""
    tr = translator(request)
    try:
        if status not in (LinkStatus.linked, LinkStatus.refused):
            raise REQUEST_INVALID(f"status {status!r}: linked or refused")
        with db.session_scope() as session:
            entries.set_link_status(
                session, principal.workspace_id, link_id, LinkStatus(status), actor=principal
            )
    except SiyuError as exc:
        return error_response(request, exc, target="#links-msg")
    return _links_answer(request, db, principal, tr(f"links.marked.{status}"))


@router.post("/apps/links/{link_id}/unlink")
def unlink_apps(
    request: Request, link_id: int, principal: LinkManager, db: DatabaseDep
) -> Response:
    try:
        with db.session_scope() as session:
            entries.unlink_apps(session, principal.workspace_id, link_id, actor=principal)
    except SiyuError as exc:
        return error_response(request, exc, target="#links-msg")
    return _links_answer(request, db, principal, translator(request)("links.unlinked"))
