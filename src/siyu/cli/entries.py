"""`siyu apps link`, `siyu menus publish`, `siyu channels add|report`: what the console does for
entries, for scripts. Exit status 1 names the refused rule or limit; 2 is a usage error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from siyu.cli import common
from siyu.cli.common import (
    AsOption,
    WorkspaceOption,
    acting,
    choose_workspace,
    err,
    fail,
    out,
    setup,
)

menus_app = typer.Typer(help="Official Account custom menus.", no_args_is_help=True)
channels_app = typer.Typer(help="Channels (渠道码) and their report.", no_args_is_help=True)

CODE_KINDS = {
    "oa-qr-temp": "oa_qr_temp",
    "oa-qr-permanent": "oa_qr_permanent",
    "mp-code": "mp_code",
    "url-link": "url_link",
}


def apps_link(
    oa_appid: Annotated[str, typer.Argument(help="the Official Account's appid")],
    mp_appid: Annotated[str, typer.Argument(help="the Mini Program's appid")],
    notify: Annotated[
        bool, typer.Option(help="send followers WeChat's association notice")
    ] = False,
    workspace: WorkspaceOption = None,
    as_email: AsOption = None,
) -> None:
    """Record an OA → MP link; exit 1 naming the platform limit that refuses it."""
    from siyu.core.errors import SiyuError
    from siyu.entries import service
    from siyu.security import service as security
    from siyu.security.enums import Permission

    settings, db = setup()
    try:
        workspace_id = choose_workspace(db, workspace)
        principal = acting(db, workspace_id, as_email, Permission.entries_manage)
        with db.session_scope() as session:
            link = service.link_apps(
                session, workspace_id, oa_appid, mp_appid, notify_followers=notify,
                actor=principal.email, settings=settings,
            )  # fmt: skip
            security.record_audit(
                session, principal, "entries.apps_linked", target_type="association",
                target_id=link.id, detail={"status": link.status},
            )  # fmt: skip
    except SiyuError as exc:
        limit = (exc.data or {}).get("limit") if isinstance(exc.data, dict) else None
        if limit:
            err.print(f"[red]limit {limit}[/red]")
        raise fail(exc) from exc
    out.print(f"[green]✓[/green] {oa_appid} → {mp_appid}: {link.status} (id {link.id})")


@menus_app.command("publish")
def menus_publish(
    appid: Annotated[str, typer.Argument(help="the Official Account's appid")],
    file: Annotated[
        Path, typer.Argument(help='WeChat\'s menu JSON: {"button": [...]}', exists=True)
    ],
    workspace: WorkspaceOption = None,
    as_email: AsOption = None,
) -> None:
    """Check, save as a new version and publish a menu; exit 1 naming the broken rule and
    button (nothing is published)."""
    from siyu.core.errors import SiyuError
    from siyu.entries import flows, service
    from siyu.security import service as security
    from siyu.security.enums import Permission
    from siyu.wechat.tokens import shared_gateway

    settings, db = setup()
    try:
        body = json.loads(file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        err.print(f"[red]{file} is not JSON[/red]: {exc}")
        raise typer.Exit(2) from exc
    try:
        workspace_id = choose_workspace(db, workspace)
        principal = acting(db, workspace_id, as_email, Permission.entries_manage)
        with db.session_scope() as session:
            saved = service.save_menu(session, workspace_id, appid, body, actor=principal.email)
        menu = flows.publish_menu(
            db, shared_gateway(settings, db), workspace_id, appid, saved.version
        )
        with db.session_scope() as session:
            security.record_audit(
                session, principal, "entries.menu_published", target_type="menu",
                target_id=menu.id, detail={"version": menu.version},
            )  # fmt: skip
    except SiyuError as exc:
        data = exc.data if isinstance(exc.data, dict) else {}
        if data.get("rule"):
            err.print(f"[red]rule {data['rule']}[/red] at {data.get('button')}")
        raise fail(exc) from exc
    out.print(f"[green]✓[/green] {appid} menu version {menu.version} published")


@channels_app.command("add")
def channels_add(
    name: Annotated[str, typer.Argument(help="the channel's name")],
    app: Annotated[str, typer.Option("--app", help="the appid that makes the code")],
    kind: Annotated[str, typer.Option(help="oa-qr-temp, oa-qr-permanent, mp-code or url-link")],
    tag: Annotated[list[str] | None, typer.Option("--tag", help="a tag put on arrivals")] = None,
    welcome: Annotated[str, typer.Option(help="the reply to a follow or scan")] = "",
    slug: Annotated[str | None, typer.Option(help="the codes' scene (default: generated)")] = None,
    group: Annotated[str, typer.Option(help="a group for the report")] = "",
    page: Annotated[str | None, typer.Option(help="the Mini Program page to open")] = None,
    days: Annotated[int, typer.Option(min=1, max=30, help="temporary codes and links")] = 30,
    out: Annotated[Path | None, typer.Option(help="folder for the code's image")] = None,
    workspace: WorkspaceOption = None,
    as_email: AsOption = None,
) -> None:
    """Make a channel and its code; print the channel and the code image's path."""
    from pydantic import ValidationError

    from siyu.core.errors import SiyuError
    from siyu.entries import flows, service
    from siyu.entries.models import CodeKind
    from siyu.entries.schemas import ChannelCreate, CodeCreate
    from siyu.security import service as security
    from siyu.security.enums import Permission
    from siyu.wechat.tokens import shared_gateway

    if kind not in CODE_KINDS:
        err.print(f"[red]unknown kind {kind!r}[/red]; use one of {', '.join(CODE_KINDS)}")
        raise typer.Exit(2)
    settings, db = setup()
    try:
        data = ChannelCreate(name=name, slug=slug, group=group, tags=tag or [], welcome=welcome)
        code = CodeCreate(appid=app, kind=CodeKind(CODE_KINDS[kind]), expire_days=days, page=page)
    except ValidationError as exc:
        for e in exc.errors():
            err.print(f"[red]invalid[/red] {'.'.join(map(str, e['loc']))}: {e['msg']}")
        raise typer.Exit(2) from exc
    try:
        workspace_id = choose_workspace(db, workspace)
        principal = acting(db, workspace_id, as_email, Permission.entries_manage)
        with db.session_scope() as session:
            channel = service.create_channel(session, workspace_id, data, actor=principal.email)
            security.record_audit(
                session, principal, "entries.channel_created", target_type="channel",
                target_id=channel.id,
            )  # fmt: skip
        issued = flows.issue_code(
            db, shared_gateway(settings, db), workspace_id, channel.id, code,
            actor=principal.email, settings=settings,
        )  # fmt: skip
        with db.session_scope() as session:
            _code, image = service.get_code(session, workspace_id, issued.code.id)
    except SiyuError as exc:
        raise fail(exc) from exc
    folder = out or settings.data_dir / "codes"
    folder.mkdir(parents=True, exist_ok=True)
    body, _media = flows.code_image(
        issued.code.kind, issued.code.url, image, fmt="png", size=flows.PRINT_SIZES[-1]
    )
    path = folder / f"{issued.channel.slug}-{issued.code.id}.png"
    path.write_bytes(body)
    # `out` is the --out folder here: print on the common console by its full name.
    common.out.print(
        f"[green]✓[/green] channel {issued.channel.id} “{issued.channel.name}” "
        f"(scene {issued.channel.slug}), {kind} code {issued.code.id}"
    )
    if issued.warning:
        err.print(f"[yellow]warning[/yellow]: {issued.warning}")
    typer.echo(str(path))


@channels_app.command("report")
def channels_report(
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
    event: Annotated[str, typer.Option(help="the conversion event")] = "pay.paid",
    workspace: WorkspaceOption = None,
    as_email: AsOption = None,
) -> None:
    """Per channel: scans, new followers and members, unfollows in 7 days, conversions."""
    from siyu.core.errors import SiyuError
    from siyu.entries import service
    from siyu.entries.routes import conversion_event
    from siyu.security.enums import Permission

    _settings, db = setup()
    try:
        workspace_id = choose_workspace(db, workspace)
        acting(db, workspace_id, as_email, Permission.entries_read)
        with db.session_scope() as session:
            report = service.channel_report(session, workspace_id, event=conversion_event(event))
    except SiyuError as exc:
        raise fail(exc) from exc
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
        return
    table = Table(
        "id", "channel", "scene", "scans", "new followers", "new members", "unfollows 7d",
        "members", f"→ {event}", "precision",
    )  # fmt: skip
    for r in report.rows:
        table.add_row(
            str(r.channel_id), r.name, r.slug, str(r.scans), str(r.new_followers),
            str(r.new_members), str(r.unfollows_7d), str(r.arrived_members), str(r.conversions),
            "—" if r.precision is None else f"{r.precision:.1%}",
        )  # fmt: skip
    out.print(table)
