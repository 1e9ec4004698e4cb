"""Console pages of segments (人群): the list, a builder whose count moves as the operator edits
(common conditions as fields, any condition as JSON), a segment's page with its members,
refresh, export and a notice to it, and tag groups (标签组)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from pydantic import Field
from starlette.responses import Response

from siyu.audience import errors as audience_errors
from siyu.audience import service as audience
from siyu.audience.enums import SegmentKind
from siyu.audience.schemas import SegmentCreate, SegmentNotice, TagGroupIn
from siyu.console.forms import ConsoleForm, Posted, parse_form
from siyu.console.i18n import Translator
from siyu.console.web import ConsoleRoute, error_response, is_htmx, render, translator
from siyu.core.db import Database
from siyu.core.errors import SiyuError
from siyu.core.http import DatabaseDep
from siyu.core.params import Id, Offset
from siyu.identity.schemas import CANONICAL_EVENTS
from siyu.reach import service as reach
from siyu.security.auth import require
from siyu.security.enums import Permission
from siyu.security.schemas import Principal
from siyu.workspaces import service as workspaces
from siyu.workspaces.enums import AppKind

router = APIRouter(include_in_schema=False, route_class=ConsoleRoute)
Reader = Annotated[Principal, require(Permission.segments_read)]
Manager = Annotated[Principal, require(Permission.segments_manage)]
Sender = Annotated[Principal, require(Permission.reach_send)]
Tagger = Annotated[Principal, require(Permission.members_tag)]

PAGE = 50
OA_KINDS = (AppKind.oa_service, AppKind.oa_subscription)
EXAMPLE = {
    "op": "and",
    "conditions": [
        {"kind": "event", "event": "pay.paid", "min_count": 2, "within_days": 90},
        {"kind": "follows"},
    ],
}


class BuilderForm(ConsoleForm):
    """A definition from the builder's fields (each one left blank is no condition), or the
    JSON typed under 高级 when there is some (it wins)."""

    labels: ClassVar[Mapping[str, str]] = {
        "definition_json": "segments.field.json",
        "within_days": "segments.field.within_days",
        "min_count": "segments.field.min_count",
        "joined_days": "segments.field.joined_days",
    }

    combine: Literal["and", "or"] = "and"
    tags: str = Field(default="", max_length=500)
    tag_match: Literal["any", "all", "none"] = "any"
    event: str = Field(default="", max_length=64)
    min_count: int = Field(default=1, ge=0, le=100_000)
    within_days: int = Field(default=30, ge=1, le=3650)
    follows: str = Field(default="", max_length=32)  # "", "*" (any OA) or an appid
    joined_days: int = Field(default=0, ge=0, le=3650)
    phone: Literal["", "yes", "no"] = ""
    definition_json: str = Field(default="", max_length=20_000)

    def definition(self) -> dict[str, Any]:
        if self.definition_json.strip():
            try:
                loaded = json.loads(self.definition_json)
            except json.JSONDecodeError as exc:
                raise audience_errors.INVALID_DEFINITION(
                    f"JSON: {exc.msg} (line {exc.lineno})",
                    problem=f"JSON 格式不对（第 {exc.lineno} 行：{exc.msg}）",
                ) from None
            if not isinstance(loaded, dict):
                raise audience_errors.INVALID_DEFINITION(
                    "the definition must be an object", problem="定义必须是一个 JSON 对象"
                )
            return loaded
        return {"op": self.combine, "conditions": self._conditions()}

    def _conditions(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        if tags := [t for t in self.tags.replace("，", ",").split(",") if t.strip()]:
            found.append(
                {"kind": "tags", "match": self.tag_match, "tags": [t.strip() for t in tags]}
            )
        if self.event:
            found.append(
                {
                    "kind": "event",
                    "event": self.event,
                    "min_count": self.min_count,
                    "within_days": self.within_days,
                }
            )
        if self.follows:
            found.append(
                {"kind": "follows"} | ({} if self.follows == "*" else {"appid": self.follows})
            )
        if self.joined_days:
            found.append({"kind": "joined", "within_days": self.joined_days})
        if self.phone:
            found.append({"kind": "phone_bound", "value": self.phone == "yes"})
        return found


class SegmentForm(BuilderForm):
    labels: ClassVar[Mapping[str, str]] = {
        **BuilderForm.labels,
        "name": "segments.field.name",
        "rule_tag": "segments.field.rule_tag",
    }

    name: str = Field(default="", max_length=64)
    description: str = Field(default="", max_length=200)
    kind: SegmentKind = SegmentKind.dynamic
    rule_tag: str = Field(default="", max_length=64)

    def to_create(self, tr: Translator) -> SegmentCreate:
        return self.build(
            SegmentCreate,
            tr,
            name=self.name.strip(),
            description=self.description,
            kind=self.kind,
            definition=self.definition(),
            rule_tag=self.rule_tag.strip() or None,
        )


def _builder_context(db: Database, principal: Principal) -> dict[str, Any]:
    with db.session_scope() as session:
        ws = principal.workspace_id
        apps = workspaces.list_apps(session, ws)
        return {
            "active": "segments",
            "segments": audience.list_segments(session, ws),
            "tag_groups": audience.list_tag_groups(session, ws),
            "oa_apps": [a for a in apps if a.kind in OA_KINDS],
            "events": sorted(CANONICAL_EVENTS),
            "example": json.dumps(EXAMPLE, ensure_ascii=False, indent=2),
        }


@router.get("/segments")
def segments_page(request: Request, principal: Reader, db: DatabaseDep) -> Response:
    return render(request, "segments.html", _builder_context(db, principal))


@router.post("/segments/preview")
def preview_segment(
    request: Request, principal: Reader, db: DatabaseDep, posted: Posted
) -> Response:
    """The live count of what the builder holds now (nothing stored)."""
    tr = translator(request)
    try:
        definition = parse_form(posted, BuilderForm, tr).definition()
        with db.session_scope() as session:
            result = audience.preview(session, principal.workspace_id, definition)
    except SiyuError as exc:
        return error_response(request, exc, target="#segment-preview")
    context = {
        "preview": result,
        "definition": json.dumps(definition, ensure_ascii=False, indent=2),
    }
    return render(request, "_segment_preview.html", context)


@router.post("/segments")
def create_segment(
    request: Request, principal: Manager, db: DatabaseDep, posted: Posted
) -> Response:
    tr = translator(request)
    try:
        body = parse_form(posted, SegmentForm, tr).to_create(tr)
        with db.session_scope() as session:
            segment = audience.create_segment(session, principal, body)
    except SiyuError as exc:
        return error_response(request, exc, target="#segment-msg")
    return _redirect(request, f"/segments/{segment.id}")


def _redirect(request: Request, url: str) -> Response:
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


@router.get("/segments/{segment_id}")
def segment_page(
    request: Request,
    segment_id: Id,
    principal: Reader,
    db: DatabaseDep,
    offset: Offset = 0,
) -> Response:
    with db.session_scope() as session:
        ws = principal.workspace_id
        try:
            segment = audience.get_segment(session, ws, segment_id)
        except SiyuError as exc:
            return error_response(request, exc)
        page = audience.segment_members(session, ws, segment_id, offset=offset, limit=PAGE)
        templates = reach.list_templates(session, ws)
        oa_apps = [a for a in workspaces.list_apps(session, ws) if a.kind in OA_KINDS]
    context = {
        "active": "segments",
        "segment": segment,
        "definition": json.dumps(segment.definition, ensure_ascii=False, indent=2),
        "page": page,
        "offset": offset,
        "limit": PAGE,
        "templates": templates,
        "oa_apps": oa_apps,
    }
    return render(request, "segment.html", context)


@router.post("/segments/{segment_id}/refresh")
def refresh_segment(
    request: Request, segment_id: Id, principal: Manager, db: DatabaseDep
) -> Response:
    try:
        with db.session_scope() as session:
            result = audience.refresh_on_demand(session, principal, segment_id)
    except SiyuError as exc:
        return error_response(request, exc)
    if is_htmx(request):
        return render(request, "_segment_refreshed.html", {"result": result})
    return RedirectResponse(f"/segments/{segment_id}", status_code=303)


@router.post("/segments/{segment_id}/delete")
def delete_segment(
    request: Request, segment_id: Id, principal: Manager, db: DatabaseDep
) -> Response:
    try:
        with db.session_scope() as session:
            audience.delete_segment(session, principal, segment_id)
    except SiyuError as exc:
        return error_response(request, exc)
    return _redirect(request, "/segments")


class NoticeForm(ConsoleForm):
    """A template notice (slots as `name=value` lines) or an OA mass text, to the segment."""

    labels: ClassVar[Mapping[str, str]] = {
        "name": "segments.notice.name",
        "template_key": "segments.notice.template",
        "mass_text": "segments.notice.mass_text",
        "slots": "segments.notice.slots",
    }
    fields_of: ClassVar[Mapping[str, str]] = {"data": "slots"}

    name: str = Field(default="", max_length=100)
    template_key: str = Field(default="", max_length=64)
    mass_appid: str = Field(default="", max_length=32)
    mass_text: str = Field(default="", max_length=2000)
    slots: str = Field(default="", max_length=4000)

    def to_notice(self, tr: Translator) -> SegmentNotice:
        data = {}
        for line in self.slots.splitlines():
            key, sep, value = line.partition("=")
            if sep and key.strip():
                data[key.strip()] = value.strip()
        if self.template_key:
            return self.build(
                SegmentNotice, tr, name=self.name, template_key=self.template_key, data=data
            )
        return self.build(
            SegmentNotice,
            tr,
            name=self.name,
            mass_appid=self.mass_appid or None,
            mass_text=self.mass_text or None,
        )


@router.post("/segments/{segment_id}/notify")
def notify_segment(
    request: Request, segment_id: Id, principal: Sender, db: DatabaseDep, posted: Posted
) -> Response:
    tr = translator(request)
    try:
        notice = parse_form(posted, NoticeForm, tr).to_notice(tr)
        with db.session_scope() as session:
            broadcast = audience.notify_segment(session, principal, segment_id, notice)
    except SiyuError as exc:
        return error_response(request, exc, target="#notice-msg")
    return _redirect(request, f"/reach?broadcast={broadcast.id}")


class TagGroupForm(ConsoleForm):
    labels: ClassVar[Mapping[str, str]] = {
        "name": "segments.tag_group.name",
        "tags": "segments.tag_group.tags",
    }

    name: str = Field(default="", max_length=64)
    tags: str = Field(default="", max_length=4000)

    def to_group(self, tr: Translator) -> TagGroupIn:
        tags = [t.strip() for t in self.tags.replace("，", ",").replace("\n", ",").split(",")]
        return self.build(TagGroupIn, tr, name=self.name.strip(), tags=[t for t in tags if t])


@router.post("/segments/tag-groups")
def save_tag_group(
    request: Request, principal: Tagger, db: DatabaseDep, posted: Posted
) -> Response:
    tr = translator(request)
    try:
        body = parse_form(posted, TagGroupForm, tr).to_group(tr)
        with db.session_scope() as session:
            audience.save_tag_group(session, principal, body)
    except SiyuError as exc:
        return error_response(request, exc, target="#tag-group-msg")
    return _redirect(request, "/segments#tag-groups")


@router.post("/segments/tag-groups/{group_id}/delete")
def delete_tag_group(
    request: Request, group_id: Id, principal: Tagger, db: DatabaseDep
) -> Response:
    try:
        with db.session_scope() as session:
            audience.delete_tag_group(session, principal, group_id)
    except SiyuError as exc:
        return error_response(request, exc)
    return _redirect(request, "/segments#tag-groups")


__all__ = ["router"]
