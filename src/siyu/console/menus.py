"""Console page of custom menus: a visual editor (top buttons and their sub-buttons as a tree,
a form per button) with the menu's JSON beside it, preview, save, publish and the per-button
report. Both editors post plain forms (no JavaScript needed); a refusal is shown beside the
button and the field it names, and what was typed stays in both editors.

WeChat's limits, as the form's hints say them (fact sheet §2.2, createCustomMenu:
https://developers.weixin.qq.com/doc/service/api/custommenu/api_createcustommenu): 1–3 top
buttons, up to 5 sub-buttons each, names ≤16 bytes (top) and ≤60 bytes (sub), keys ≤128
bytes, urls ≤1024 bytes. The entries service checks them (`menu_rules`); the editor only
lays the menu out."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar

from fastapi import APIRouter, Query, Request
from pydantic import Field
from starlette.responses import Response

from siyu.console.forms import ConsoleForm, FormInvalid, Posted, parse_form
from siyu.console.web import ConsoleRoute, render, translator
from siyu.core.db import Database
from siyu.core.errors import SiyuError
from siyu.core.http import DatabaseDep
from siyu.core.params import Id, Number
from siyu.entries import errors, service
from siyu.entries.schemas import ConditionalMenuCreate
from siyu.security import service as security
from siyu.security.auth import require
from siyu.security.enums import Permission
from siyu.security.schemas import Principal
from siyu.wechat import errors as wechat_errors
from siyu.workspaces import service as workspaces
from siyu.workspaces.enums import AppKind

router = APIRouter(include_in_schema=False, route_class=ConsoleRoute)
Reader = Annotated[Principal, require(Permission.entries_read)]
Manager = Annotated[Principal, require(Permission.entries_manage)]
OA_KINDS = (AppKind.oa_service, AppKind.oa_subscription)
PAGE = "entries_menus.html"

TOP_SLOTS, SUB_SLOTS = 3, 5  # WeChat's 3 top buttons and 5 sub-buttons (fact sheet §2.2)
# The types the tree offers, and the fields each one needs (WeChat's button fields).
BUTTON_FIELDS: dict[str, tuple[str, ...]] = {
    "click": ("key",),
    "view": ("url",),
    "miniprogram": ("url", "appid", "pagepath"),
    "scancode_push": ("key",),
    "scancode_waitmsg": ("key",),
    "pic_sysphoto": ("key",),
    "pic_photo_or_album": ("key",),
    "pic_weixin": ("key",),
    "location_select": ("key",),
    "media_id": ("media_id",),
    "view_limited": ("media_id",),
    "article_id": ("article_id",),
    "article_view_limited": ("article_id",),
}
ACTION_FIELDS = ("key", "url", "appid", "pagepath", "media_id", "article_id")
# each field → the types that use it (the page shows a field only for those, with JavaScript)
FIELD_TYPES = {
    name: [kind for kind, fields in BUTTON_FIELDS.items() if name in fields]
    for name in ACTION_FIELDS
}
MAX_INPUT = 2048  # no button field is longer (urls: 1024 bytes); longer input is cut here
# The field a broken rule is about (menu_rules' rule names); others are the button's own.
RULE_FIELDS = {
    "name_bytes": "name",
    "type": "type",
    "key_bytes": "key",
    "url_bytes": "url",
    "miniprogram_unlinked": "appid",
    "pagepath": "pagepath",
    "media_id": "media_id",
    "article_id": "article_id",
}


@dataclass
class Slot:
    """One button of the tree as the form shows it: `id` is its inputs' prefix (b2, b2.s3)."""

    id: str
    values: dict[str, str] = field(default_factory=dict)
    subs: list[Slot] = field(default_factory=list)

    @property
    def filled(self) -> bool:
        """Anything typed: a button without a name but with a key is refused, not dropped."""
        return bool(self.values) or any(s.filled for s in self.subs)


def empty_tree() -> list[Slot]:
    return [
        Slot(f"b{i}", subs=[Slot(f"b{i}.s{j}") for j in range(1, SUB_SLOTS + 1)])
        for i in range(1, TOP_SLOTS + 1)
    ]


def tree_from_form(form: Mapping[str, Any]) -> list[Slot]:
    """The tree as posted (every slot, empty ones too, as typed)."""
    tree = empty_tree()
    for slot in tree:
        for node in (slot, *slot.subs):
            for name in ("name", "type", *ACTION_FIELDS):
                value = form.get(f"{node.id}.{name}")
                if isinstance(value, str) and value.strip():
                    node.values[name] = value.strip()[:MAX_INPUT]
    return tree


def tree_from_body(body: object) -> list[Slot]:
    """A menu's JSON laid out in the tree (what does not fit, past 3 or 5, is left to JSON)."""
    tree = empty_tree()
    buttons = body.get("button") if isinstance(body, dict) else None
    if not isinstance(buttons, list):
        return tree
    for slot, button in zip(tree, buttons, strict=False):
        if not isinstance(button, dict):
            continue
        slot.values = _values(button)
        subs = button.get("sub_button")
        if isinstance(subs, list):
            for node, sub in zip(slot.subs, subs, strict=False):
                if isinstance(sub, dict):
                    node.values = _values(sub)
    return tree


def _values(button: Mapping[str, Any]) -> dict[str, str]:
    return {
        name: str(button[name])
        for name in ("name", "type", *ACTION_FIELDS)
        if isinstance(button.get(name), str | int) and str(button[name])
    }


def body_from_tree(tree: list[Slot]) -> dict[str, Any]:
    """The menu in WeChat's format, in the tree's order; empty slots are skipped."""
    buttons: list[dict[str, Any]] = []
    for slot in (s for s in tree if s.filled):
        subs = [s for s in slot.subs if s.filled]
        if subs:
            name = slot.values.get("name", "")
            buttons.append({"name": name, "sub_button": [_action(sub) for sub in subs]})
        else:
            buttons.append(_action(slot))
    return {"button": buttons}


def _action(node: Slot) -> dict[str, Any]:
    kind = node.values.get("type", "")
    out: dict[str, Any] = {"type": kind, "name": node.values.get("name", "")}
    for name in BUTTON_FIELDS.get(kind, ()):
        if name in node.values:
            out[name] = node.values[name]
    return out


def _apps(db: Database, workspace_id: int) -> list[Any]:
    with db.session_scope() as session:
        return workspaces.list_apps(session, workspace_id)


def _menus_context(
    db: Database, principal: Principal, appid: str, event: str = "pay.paid"
) -> dict[str, Any]:
    apps = _apps(db, principal.workspace_id)
    oas = [a for a in apps if a.kind in OA_KINDS]
    chosen = appid or (oas[0].appid if oas else "")
    versions, report = [], None
    if chosen:
        with db.session_scope() as session:
            versions = service.list_menus(session, principal.workspace_id, chosen)
            report = service.menu_report(session, principal.workspace_id, chosen, event=event)
    body = {"button": versions[0].buttons} if versions else {"button": []}
    conditional = []
    if chosen:
        with db.session_scope() as session:
            conditional = service.list_conditional_menus(session, principal.workspace_id, chosen)
    return {
        "active": "menus",
        "oas": oas,
        "mps": [a for a in apps if a.kind == AppKind.mp],
        "appid": chosen,
        "versions": versions,
        "report": report,
        "draft": json.dumps(body, ensure_ascii=False, indent=2) if versions else "",
        "tree": tree_from_body(body),
        "types": list(BUTTON_FIELDS),
        "field_types": FIELD_TYPES,
        "source": "tree",
        "preview": None,
        "notice": None,
        "form_error": None,
        "errors": {},
        "broken": "",
        "conditional": conditional,
        "cond_form": {},
        "match": None,
    }


@router.get("/menus")
def menus_page(
    request: Request,
    principal: Reader,
    db: DatabaseDep,
    appid: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    return render(request, PAGE, _menus_context(db, principal, appid))


def _menu_json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise errors.MENU_NOT_JSON(
            f"the menu is not JSON: {exc}", line=exc.lineno, column=exc.colno
        ) from exc


def _text(posted: Mapping[str, Any], name: str, most: int) -> str:
    value = posted.get(name)
    return value[:most] if isinstance(value, str) else ""


@router.post("/menus")
def menu_action(request: Request, principal: Reader, db: DatabaseDep, posted: Posted) -> Response:
    """Preview (any reader) or save (managers) the menu of either editor: the tree (`source`
    tree) or the JSON (`source` json, or a form with only `menu`)."""
    tr = translator(request)
    appid = _text(posted, "appid", 64)
    action = "save" if _text(posted, "action", 16) == "save" else "preview"
    source = _text(posted, "source", 8) or ("json" if "menu" in posted else "tree")
    context = _menus_context(db, principal, appid)
    if source == "json":
        text = _text(posted, "menu", 65536)
        context.update(source="json", draft=text)
    else:
        body = body_from_tree(tree_from_form(posted))
        text = json.dumps(body, ensure_ascii=False, indent=2)
        # Shown again without the gaps left between buttons, so that "第 2 个按钮" in a
        # refusal is the second button on the page.
        context.update(tree=tree_from_body(body), draft=text)
    try:
        body = _menu_json(text)
        if source == "json":
            context["tree"] = tree_from_body(body)
        if action == "save":
            security.require_permission(principal, Permission.entries_manage)
            with db.session_scope() as session:
                saved = service.save_menu(
                    session, principal.workspace_id, appid, body, actor=principal
                )
            context = _menus_context(db, principal, appid)
            context["notice"] = tr("menus.saved", version=saved.version)
        else:
            with db.session_scope() as session:
                sent = service.preview_menu(session, principal.workspace_id, appid, body)
            context["preview"] = json.dumps({"button": sent}, ensure_ascii=False, indent=2)
    except SiyuError as exc:
        if exc.code in (errors.MENU_INVALID.code, errors.MENU_NOT_JSON.code):
            return _refused(request, exc, context)
        raise
    return render(request, PAGE, context)


def _refused(request: Request, exc: SiyuError, context: dict[str, Any]) -> Response:
    """The editor again, as typed, the refusal above it and beside the field it names."""
    exc.refused()
    message = translator(request).refusal(exc)
    data = exc.data if isinstance(exc.data, dict) else {}
    button = str(data.get("button") or "")
    slot = _slot_of(button)
    field_name = RULE_FIELDS.get(str(data.get("rule")), "name")
    shown: dict[str, str] = {}
    if slot:
        shown[f"{slot}.{field_name}"] = message
    if context["source"] == "json":
        shown["menu"] = message
    elif not slot:
        shown["tree"] = message  # the menu as a whole (no button, or too many)
    context.update(
        errors=shown,
        broken=slot or "",
        form_error={"code": exc.code, "message": message},
    )
    return render(request, PAGE, context, status=exc.status)


def _slot_of(button: str) -> str | None:
    """The tree slot showing `button[2].sub_button[3]` (b2.s3): the tree lays the menu's
    buttons out in their order, so positions are the same (None: the menu as a whole)."""
    numbers = re.findall(r"\[(\d+)\]", button)
    if not numbers:
        return None
    top, *sub = (int(n) for n in numbers[:2])
    if top > TOP_SLOTS or (sub and sub[0] > SUB_SLOTS):
        return None
    return f"b{top}" + (f".s{sub[0]}" if sub else "")


@router.post("/menus/{appid}/{version}/publish")
def publish_menu(
    request: Request, appid: str, version: Number, principal: Manager, db: DatabaseDep
) -> Response:
    tr = translator(request)
    try:
        service.publish_menu(
            db, principal.workspace_id, appid, version,
            actor=principal, settings=request.app.state.settings,
        )  # fmt: skip
    except SiyuError as exc:
        exc.refused()
        context = _menus_context(db, principal, appid)
        context["form_error"] = {"code": exc.code, "message": tr.refusal(exc)}
        return render(request, PAGE, context, status=exc.status)
    context = _menus_context(db, principal, appid)
    context["notice"] = tr("menus.published", version=version)
    return render(request, PAGE, context)


class ConditionalMenuForm(ConsoleForm):
    """A conditional menu: the OA tag's name on WeChat and the buttons as the menu's JSON."""

    oa_tag: str = Field(min_length=1, max_length=30)
    menu: str = Field(min_length=2, max_length=65536)
    labels: ClassVar[Mapping[str, str]] = {
        "oa_tag": "menus.conditional.oa_tag",
        "menu": "menus.json",
    }


class TryMatchForm(ConsoleForm):
    number: Number
    labels: ClassVar[Mapping[str, str]] = {"number": "menus.trymatch.number"}


def _conditional_refused(
    request: Request,
    exc: SiyuError,
    context: dict[str, Any],
    field_of: Mapping[str, str] | None = None,
) -> Response:
    """The page again with the refusal above the section and under the field it is about."""
    exc.refused()
    message = translator(request).refusal(exc)
    problems = dict(exc.errors) if isinstance(exc, FormInvalid) else {}
    shown = {(field_of or {}).get(k, k): v for k, v in problems.items() if k}
    if exc.code in (errors.MENU_INVALID.code, errors.MENU_NOT_JSON.code):
        shown["cond_menu"] = message
    elif exc.code == wechat_errors.OA_TAG_UNKNOWN.code:
        shown["oa_tag"] = message
    context.update(errors=shown, form_error={"code": exc.code, "message": message})
    return render(request, PAGE, context, status=exc.status)


@router.post("/menus/{appid}/conditional")
def publish_conditional_menu(
    request: Request, appid: str, principal: Manager, db: DatabaseDep, posted: Posted
) -> Response:
    """Publish a conditional menu for an OA tag's followers (`addconditional`)."""
    tr = translator(request)
    context = _menus_context(db, principal, appid)
    context["cond_form"] = ConditionalMenuForm.echo(posted)
    try:
        form = parse_form(posted, ConditionalMenuForm, tr)
        body = _menu_json(form.menu)
        buttons = body.get("button") if isinstance(body, dict) else body
        data = form.build(ConditionalMenuCreate, tr, oa_tag=form.oa_tag, button=buttons)
        published = service.publish_conditional_menu(
            db, principal.workspace_id, appid, data,
            actor=principal, settings=request.app.state.settings,
        )  # fmt: skip
    except SiyuError as exc:
        return _conditional_refused(
            request, exc, context, {"menu": "cond_menu", "button": "cond_menu"}
        )
    context = _menus_context(db, principal, appid)
    context["notice"] = tr("menus.conditional.published", menuid=published.menuid)
    return render(request, PAGE, context)


@router.post("/menus/{appid}/conditional/{menu_id}/delete")
def delete_conditional_menu(
    request: Request, appid: str, menu_id: Id, principal: Manager, db: DatabaseDep
) -> Response:
    tr = translator(request)
    try:
        service.delete_conditional_menu(
            db, principal.workspace_id, appid, menu_id,
            actor=principal, settings=request.app.state.settings,
        )  # fmt: skip
    except SiyuError as exc:
        return _conditional_refused(request, exc, _menus_context(db, principal, appid))
    context = _menus_context(db, principal, appid)
    context["notice"] = tr("menus.conditional.deleted")
    return render(request, PAGE, context)


@router.post("/menus/{appid}/trymatch")
def try_match_menu(
    request: Request, appid: str, principal: Reader, db: DatabaseDep, posted: Posted
) -> Response:
    """The menu a member would see (WeChat's `trymatch`), said above the section."""
    tr = translator(request)
    context = _menus_context(db, principal, appid)
    try:
        form = parse_form(posted, TryMatchForm, tr)
        match = service.try_match_menu(
            db, principal.workspace_id, appid, form.number, settings=request.app.state.settings
        )
    except SiyuError as exc:
        return _conditional_refused(request, exc, context)
    names = " · ".join(str(b.get("name", "")) for b in match.button)
    context["match"] = {"number": match.number, "names": names}
    return render(request, PAGE, context)
