"""Console pages of the workspace's apps (OAs and Mini Programs): list and register."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from pydantic import ValidationError
from starlette.responses import RedirectResponse, Response

from siyu.console.i18n import Translator
from siyu.console.web import ConsoleRoute, is_htmx, render, translator
from siyu.core.db import Database
from siyu.core.errors import REQUEST_INVALID, SiyuError
from siyu.core.http import DatabaseDep
from siyu.security.auth import require
from siyu.security.enums import Permission
from siyu.security.schemas import Principal
from siyu.workspaces import errors as workspace_errors
from siyu.workspaces import service as workspaces
from siyu.workspaces.enums import AppKind, EntityKind
from siyu.workspaces.schemas import AES_KEY, AppCreate

SECRET_FIELDS = frozenset({"secret", "token", "aes_key"})

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
        "form": {},
        "errors": {},
        "notice": None,
        "form_error": None,
    }


def _field_errors(exc: ValidationError, sent: dict[str, str], tr: Translator) -> dict[str, str]:
    errors: dict[str, str] = {}
    for error in exc.errors():
        where = str(error["loc"][0]) if error["loc"] else ""
        if not where:  # the model-level format check names its field in the message
            where = "aes_key" if "EncodingAESKey" in str(error["msg"]) else "appid"
        errors.setdefault(where, tr(f"apps.invalid.{where}"))
    # The model stops at its first format error; the key's own rule is reported too.
    if sent["aes_key"].strip() and not AES_KEY.match(sent["aes_key"].strip()):
        errors.setdefault("aes_key", tr("apps.invalid.aes_key"))
    return errors


@router.get("/apps")
def apps_page(request: Request, principal: AppReader, db: DatabaseDep) -> Response:
    return render(request, "apps.html", _apps_context(db, principal))


@router.post("/apps")
def add_app(
    request: Request,
    principal: AppManager,
    db: DatabaseDep,
    kind: Annotated[str, Form(max_length=64)] = "",
    appid: Annotated[str, Form(max_length=256)] = "",
    name: Annotated[str, Form(max_length=1024)] = "",
    entity: Annotated[str, Form(max_length=1024)] = "",
    entity_kind: Annotated[str, Form(max_length=64)] = EntityKind.enterprise.value,
    secret: Annotated[str, Form(max_length=1024)] = "",
    token: Annotated[str, Form(max_length=1024)] = "",
    aes_key: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    tr = translator(request)
    sent = {
        "kind": kind,
        "appid": appid,
        "name": name,
        "entity": entity,
        "entity_kind": entity_kind,
        "secret": secret,
        "token": token,
        "aes_key": aes_key,
    }
    errors: dict[str, str] = {}
    refused: SiyuError | None = None
    try:
        data = AppCreate.model_validate(
            {
                k: v.strip() or None
                for k, v in sent.items()
                if v.strip() or k in ("kind", "appid", "name")
            }
        )
        with db.session_scope() as session:
            added = workspaces.add_app(session, principal.workspace_id, data, actor=principal)
    except ValidationError as exc:
        errors = _field_errors(exc, sent, tr)
    except SiyuError as exc:
        refused = exc
        if exc.code == workspace_errors.APP_EXISTS.code:
            errors = {"appid": tr.refusal(exc)}
    if errors or refused is not None:
        context = _apps_context(db, principal)
        # Secrets are never sent back to the browser, not even the ones just typed.
        context["form"] = {k: v for k, v in sent.items() if k not in SECRET_FIELDS}
        context["errors"] = errors
        code = refused.code if refused is not None else REQUEST_INVALID.code
        message = tr.refusal(refused) if refused is not None else tr("apps.form_invalid")
        context["form_error"] = {"code": code, "message": message}
        status = refused.status if refused is not None else 422
        return render(
            request,
            "_apps_section.html" if is_htmx(request) else "apps.html",
            context,
            status=status,
        )
    if not is_htmx(request):
        return RedirectResponse("/apps", status_code=303)
    context = _apps_context(db, principal)
    context["notice"] = tr("apps.added", name=added.name, appid=added.appid)
    return render(request, "_apps_section.html", context)
