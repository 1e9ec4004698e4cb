"""Console pages of reach's templates: each notice's forms (OA template message, Mini Program
subscribe message, customer-service text) listed, registered and edited. A notice to a
segment (群发通知) needs at least one; the reach page links here when there is none."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

from fastapi import APIRouter, Request
from pydantic import ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError
from starlette.responses import RedirectResponse, Response

from siyu.console.forms import ConsoleForm, Posted, form_again, parse_form
from siyu.console.i18n import Translator
from siyu.console.web import ConsoleRoute, render, translator
from siyu.core.db import Database
from siyu.core.errors import ErrorCode, SiyuError
from siyu.core.http import DatabaseDep
from siyu.reach import errors, service
from siyu.reach.enums import TemplateKind
from siyu.reach.schemas import KEY_PATTERN, TemplateCreate, TemplateRead, TemplateUpdate
from siyu.security.auth import require
from siyu.security.enums import Permission
from siyu.security.schemas import Principal
from siyu.workspaces import errors as workspace_errors
from siyu.workspaces import service as workspaces

router = APIRouter(include_in_schema=False, route_class=ConsoleRoute)
Reader = Annotated[Principal, require(Permission.reach_read)]
Manager = Annotated[Principal, require(Permission.reach_manage)]
PAGE, EDIT = "reach_templates.html", "reach_template.html"


def _context(db: Database, principal: Principal) -> dict[str, Any]:
    with db.session_scope() as session:
        ws = principal.workspace_id
        apps = workspaces.list_apps(session, ws)
        templates = service.list_templates(session, ws)
    return {
        "active": "reach",
        "templates": templates,
        "apps": apps,
        "app_names": {a.id: a.name for a in apps},
        "kinds": list(TemplateKind),
        "form": {},
        "errors": {},
        "notice": None,
        "form_error": None,
    }


def _field_lines(text: str) -> dict[str, str]:
    """`thing1=course` lines: WeChat's key of a field → the notice's data name."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        wechat_key, sep, name = (part.strip() for part in line.partition("="))
        if not sep or not wechat_key or not name:
            raise PydanticCustomError(
                "reach_templates.fields_line", "write each field as key=name", {"line": line[:40]}
            )
        fields[wechat_key] = name
    return fields


class _Shape(ConsoleForm):
    """What both forms share: the shape of the message."""

    model_config = ConfigDict(str_strip_whitespace=True)
    labels: ClassVar[Mapping[str, str]] = {
        "key": "reach_templates.field.key",
        "kind": "reach_templates.field.kind",
        "appid": "reach_templates.field.app",
        "title": "reach_templates.field.title",
        "template_id": "reach_templates.field.template_id",
        "fields": "reach_templates.field.fields",
        "body": "reach_templates.field.body",
        "page": "reach_templates.field.page",
        "url": "reach_templates.field.url",
    }
    messages: ClassVar[str | None] = "reach_templates.invalid"
    refused_as: ClassVar[ErrorCode] = errors.INVALID_TEMPLATE
    # a WeChat template lacking its id or fields: said at the id
    shown_at: ClassVar[Mapping[str, str]] = {errors.INVALID_TEMPLATE.code: "template_id"}

    title: str = Field(min_length=1, max_length=64)
    template_id: str = Field(default="", max_length=64)
    fields: str = Field(default="", max_length=2000)
    body: str = Field(default="", max_length=600)
    page: str = Field(default="", max_length=255)
    url: str = Field(default="", max_length=1024)

    @field_validator("fields")
    @classmethod
    def _fields(cls, value: str) -> str:
        _field_lines(value)
        return value

    def shape(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "template_id": self.template_id,
            "fields": _field_lines(self.fields),
            "body": self.body,
            "page": self.page or None,
            "url": self.url or None,
        }


class TemplateForm(_Shape):
    """A new form of a notice: its key, which channel, which app."""

    shown_at: ClassVar[Mapping[str, str]] = {
        errors.INVALID_TEMPLATE.code: "template_id",
        errors.TEMPLATE_EXISTS.code: "key",
        errors.WRONG_APP.code: "appid",
        workspace_errors.UNKNOWN_APP.code: "appid",
    }

    key: str = Field(min_length=1, max_length=64, pattern=KEY_PATTERN)
    kind: TemplateKind
    appid: str = Field(min_length=1, max_length=32)

    def to_create(self, tr: Translator) -> TemplateCreate:
        return self.build(
            TemplateCreate, tr, key=self.key, kind=self.kind, appid=self.appid, **self.shape()
        )


class TextForm(TemplateForm):
    """A customer-service text: its problems are the body's (placeholders, emptiness)."""

    shown_at: ClassVar[Mapping[str, str]] = {
        **TemplateForm.shown_at,
        errors.INVALID_TEMPLATE.code: "body",
    }


class EditForm(_Shape):
    def to_update(self, tr: Translator) -> TemplateUpdate:
        return self.build(TemplateUpdate, tr, **self.shape())


class EditTextForm(EditForm):
    shown_at: ClassVar[Mapping[str, str]] = {errors.INVALID_TEMPLATE.code: "body"}


def fields_text(template: TemplateRead) -> str:
    return "\n".join(f"{key}={name}" for key, name in template.fields.items())


@router.get("/reach/templates")
def templates_page(request: Request, principal: Reader, db: DatabaseDep) -> Response:
    return render(request, PAGE, _context(db, principal))


@router.post("/reach/templates")
def add_template(request: Request, principal: Manager, db: DatabaseDep, posted: Posted) -> Response:
    tr = translator(request)
    form_class = TextForm if posted.get("kind") == TemplateKind.customer_service else TemplateForm
    try:
        data = parse_form(posted, form_class, tr).to_create(tr)
        with db.session_scope() as session:
            service.add_template(session, principal.workspace_id, data, principal)
    except SiyuError as exc:
        context = _context(db, principal)
        return form_again(
            request, exc, context, form=form_class, sent=posted, page=PAGE, fragment=PAGE
        )
    return RedirectResponse("/reach/templates", status_code=303)


def _edit_context(db: Database, principal: Principal, template_id: int) -> dict[str, Any]:
    context = _context(db, principal)
    with db.session_scope() as session:
        template = service.get_template(session, principal.workspace_id, template_id)
    context["template"] = template
    context["form"] = {
        "title": template.title,
        "template_id": template.template_id,
        "fields": fields_text(template),
        "body": template.body,
        "page": template.page or "",
        "url": template.url or "",
    }
    return context


@router.get("/reach/templates/{template_id}")
def template_page(
    request: Request, template_id: int, principal: Reader, db: DatabaseDep
) -> Response:
    return render(request, EDIT, _edit_context(db, principal, template_id))


@router.post("/reach/templates/{template_id}")
def edit_template(
    request: Request, template_id: int, principal: Manager, db: DatabaseDep, posted: Posted
) -> Response:
    tr = translator(request)
    context = _edit_context(db, principal, template_id)
    text = context["template"].kind == TemplateKind.customer_service
    form_class = EditTextForm if text else EditForm
    try:
        data = parse_form(posted, form_class, tr).to_update(tr)
        with db.session_scope() as session:
            service.update_template(session, principal.workspace_id, template_id, data, principal)
    except SiyuError as exc:
        return form_again(
            request, exc, context, form=form_class, sent=posted, page=EDIT, fragment=EDIT
        )
    return RedirectResponse("/reach/templates", status_code=303)
