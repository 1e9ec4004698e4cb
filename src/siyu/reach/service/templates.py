"""Templates: each channel's form of a notice, and the checks its values pass before a send."""

from __future__ import annotations

from sqlalchemy.orm import Session

from siyu.core import clock
from siyu.reach import errors, repository
from siyu.reach.enums import TemplateKind
from siyu.reach.models import ReachTemplate
from siyu.reach.rules import check_oa_value, check_subscribe_value, problem_zh, slots
from siyu.reach.schemas import TemplateCreate, TemplateRead, TemplateUpdate
from siyu.reach.service.common import audit, cached, forget_cached
from siyu.security.schemas import Principal
from siyu.workspaces import service as workspaces
from siyu.workspaces.enums import AppKind

# How the Chinese refusals name each form of a notice (the console's channel labels).
KIND_ZH = {
    TemplateKind.oa_template: "服务号模板消息",
    TemplateKind.mp_subscribe: "小程序订阅消息",
    TemplateKind.customer_service: "客服消息",
}


def add_template(
    session: Session, workspace_id: int, data: TemplateCreate, actor: Principal | str
) -> TemplateRead:
    """Register one channel's form of a notice; its rules are checked before every send."""
    app = workspaces.get_app_by_appid(session, data.appid, workspace_id)
    if data.kind == TemplateKind.oa_template and app.kind != AppKind.oa_service:
        raise errors.WRONG_APP(
            "OA template messages need a service account", reason="模板消息只能由服务号发送。"
        )
    if data.kind == TemplateKind.mp_subscribe and app.kind != AppKind.mp:
        raise errors.WRONG_APP(
            "subscribe messages need a Mini Program", reason="订阅消息只能由小程序发送。"
        )
    fields = _fields(data)
    if any(
        t.kind == data.kind
        for t in repository.list_templates_by_key(session, workspace_id, data.key)
    ):
        raise errors.TEMPLATE_EXISTS(
            f"{data.key} already has a {data.kind} form", key=data.key, kind=KIND_ZH[data.kind]
        )
    forget_cached(session)
    row = repository.add_template(
        session,
        ReachTemplate(
            workspace_id=workspace_id,
            key=data.key,
            kind=data.kind,
            app_id=app.id,
            template_id=data.template_id,
            title=data.title,
            fields=fields,
            body=data.body,
            page=data.page,
            url=data.url,
            created_at=clock.now(),
        ),
    )
    audit(session, actor, "reach.template_add", workspace_id, ("reach_template", row.id))
    return TemplateRead.model_validate(row)


def update_template(
    session: Session,
    workspace_id: int,
    template_row_id: int,
    data: TemplateUpdate,
    actor: Principal | str,
) -> TemplateRead:
    """Change a registered form of a notice (WeChat's template id, its fields, the text…);
    checked as when it was added, audited. Sends already made keep what they sent."""
    row = repository.get_template(session, template_row_id)
    if row is None or row.workspace_id != workspace_id:
        raise errors.TEMPLATE_NOT_FOUND(f"no template {template_row_id}")
    checked = TemplateCreate.model_validate(
        {
            "key": row.key,
            "kind": row.kind,
            "appid": "-",  # the app stays; only the shape is checked here
            **data.model_dump(),
        }
    )
    fields = _fields(checked)
    forget_cached(session)
    row.template_id = data.template_id
    row.title = data.title
    row.fields = fields
    row.body = data.body
    row.page = data.page
    row.url = data.url
    session.flush()
    audit(session, actor, "reach.template_update", workspace_id, ("reach_template", row.id))
    return TemplateRead.model_validate(row)


def get_template(session: Session, workspace_id: int, template_row_id: int) -> TemplateRead:
    row = repository.get_template(session, template_row_id)
    if row is None or row.workspace_id != workspace_id:
        raise errors.TEMPLATE_NOT_FOUND(f"no template {template_row_id}")
    return TemplateRead.model_validate(row)


def _fields(data: TemplateCreate) -> dict[str, str]:
    """WeChat key → the notice's data name; a text's slots name themselves."""
    if data.kind != TemplateKind.customer_service:
        if not data.template_id or not data.fields:
            raise errors.INVALID_TEMPLATE(
                "a template needs its template_id and fields",
                reason="模板需要填写 template_id 和字段。",
            )
        return dict(data.fields)
    try:
        names = slots(data.body)
    except ValueError as exc:
        raise errors.INVALID_TEMPLATE(
            str(exc), reason="正文里的占位符只能是 {名称} 这样的简单名称。"
        ) from None
    if not data.body.strip():
        raise errors.INVALID_TEMPLATE(
            "a customer-service form needs a body", reason="客服消息模板需要正文。"
        )
    return {name: name for name in names}


def list_templates(session: Session, workspace_id: int) -> list[TemplateRead]:
    return [
        TemplateRead.model_validate(t) for t in repository.list_templates(session, workspace_id)
    ]


def templates_of(session: Session, workspace_id: int, key: str) -> list[ReachTemplate]:
    """Every form of the notice `key` (read once per session); refused if it has none."""
    found = cached(
        session,
        ("templates", workspace_id, key),
        lambda: repository.list_templates_by_key(session, workspace_id, key),
    )
    if not found:
        raise errors.UNKNOWN_TEMPLATE(f"no template {key!r}", key=key)
    return found


def check_data(templates: list[ReachTemplate], data: dict[str, str]) -> None:
    """Every form's fields filled and within WeChat's rules (47003 is never reached)."""
    for template in templates:
        for wechat_key, name in template.fields.items():
            value = data.get(name)
            subscribe = template.kind == TemplateKind.mp_subscribe
            if value is None:
                problem: str | None = "is missing"
            elif subscribe:
                problem = check_subscribe_value(wechat_key, value)
            else:
                problem = check_oa_value(value)
            if problem:
                raise errors.INVALID_FIELD(
                    f"{name} ({template.kind} field {wechat_key}) {problem}",
                    data={"field": name, "wechat_key": wechat_key, "kind": str(template.kind)},
                    field=name,
                    wechat_key=wechat_key,
                    problem=problem_zh(wechat_key, value, subscribe=subscribe),
                )


def render(template: ReachTemplate, data: dict[str, str]) -> dict[str, str]:
    """The template's WeChat data: key → value."""
    return {wechat_key: data.get(name, "") for wechat_key, name in template.fields.items()}
