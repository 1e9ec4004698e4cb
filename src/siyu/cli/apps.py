"""`siyu apps add|list|push-mode`: register and list the OA, MP, H5 and external apps of a workspace
(`apps link` is in `siyu.cli.entries`)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from siyu.cli import entries
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
from siyu.core.errors import SiyuError
from siyu.security.enums import Permission

apps_app = typer.Typer(
    help="Register and list the OA, MP, H5 and external apps of a workspace.", no_args_is_help=True
)
# Linking an OA to an MP is an entries rule, so the command lives with entries'; it is listed
# first, as it always was.
apps_app.command("link")(entries.apps_link)

KINDS = {
    "oa-service": "oa_service",
    "oa-subscription": "oa_subscription",
    "mp": "mp",
    "h5": "h5",
    "external": "external",
}


@apps_app.command("add")
def apps_add(
    kind: Annotated[str, typer.Argument(help="oa-service, oa-subscription, mp, h5 or external")],
    appid: Annotated[str, typer.Argument(help="the appid (wx… for OA and MP)")],
    name: Annotated[str, typer.Option(help="a name operators recognise")],
    entity: Annotated[
        str | None, typer.Option(help="the legal entity (主体) owning the app")
    ] = None,
    individual: Annotated[bool, typer.Option(help="the entity is an individual business")] = False,
    secret: Annotated[str | None, typer.Option(help="AppSecret (stored encrypted)")] = None,
    token: Annotated[str | None, typer.Option(help="push Token (stored encrypted)")] = None,
    aes_key: Annotated[str | None, typer.Option(help="EncodingAESKey, 43 characters")] = None,
    push_mode: Annotated[
        str | None,
        typer.Option(
            help="plaintext, compatible or secure, as set in WeChat's console "
            "(default: secure with an EncodingAESKey, else plaintext)"
        ),
    ] = None,
    workspace: WorkspaceOption = None,
    as_email: AsOption = None,
) -> None:
    """Register an app."""
    from pydantic import ValidationError

    from siyu.workspaces import service as workspaces
    from siyu.workspaces.enums import EntityKind
    from siyu.workspaces.schemas import AppCreate

    if kind not in KINDS:
        err.print(f"[red]unknown kind {kind!r}[/red]; use one of {', '.join(KINDS)}")
        raise typer.Exit(2)
    _settings, db = setup()
    try:
        data = AppCreate.model_validate(
            {
                "kind": KINDS[kind],
                "appid": appid,
                "name": name,
                "entity": entity,
                "entity_kind": EntityKind.individual_business
                if individual
                else EntityKind.enterprise,
                "secret": secret,
                "token": token,
                "aes_key": aes_key,
                "push_mode": push_mode,
            }
        )
    except ValidationError as exc:
        for e in exc.errors():
            err.print(f"[red]invalid[/red] {'.'.join(map(str, e['loc'])) or 'app'}: {e['msg']}")
        raise typer.Exit(2) from exc
    try:
        workspace_id = choose_workspace(db, workspace)
        principal = acting(db, workspace_id, as_email, Permission.apps_manage)
        with db.session_scope() as session:
            created = workspaces.add_app(session, workspace_id, data, actor=principal)
    except SiyuError as exc:
        raise fail(exc) from exc
    out.print(f"[green]✓[/green] {created.kind} {created.appid} “{created.name}” (id {created.id})")


@apps_app.command("push-mode")
def apps_push_mode(
    appid: Annotated[str, typer.Argument(help="the app's appid")],
    mode: Annotated[str, typer.Argument(help="plaintext, compatible or secure")],
    workspace: WorkspaceOption = None,
    as_email: AsOption = None,
) -> None:
    """Record the push mode (消息加解密方式) chosen in WeChat's console."""
    from siyu.workspaces import service as workspaces
    from siyu.workspaces.enums import PushMode

    if mode not in PushMode.__members__:
        err.print(f"[red]unknown push mode {mode!r}[/red]; use one of {', '.join(PushMode)}")
        raise typer.Exit(2)
    _settings, db = setup()
    try:
        workspace_id = choose_workspace(db, workspace)
        principal = acting(db, workspace_id, as_email, Permission.apps_manage)
        with db.session_scope() as session:
            app = workspaces.set_push_mode(
                session, workspace_id, appid, PushMode(mode), actor=principal
            )
    except SiyuError as exc:
        raise fail(exc) from exc
    out.print(f"[green]✓[/green] {app.appid} push mode {app.push_mode}")


@apps_app.command("list")
def apps_list(workspace: WorkspaceOption = None) -> None:
    """List the apps of a workspace."""
    from siyu.workspaces import service as workspaces

    _settings, db = setup()
    workspace_id = choose_workspace(db, workspace)
    with db.session_scope() as session:
        rows = workspaces.list_apps(session, workspace_id)
    table = Table("id", "kind")
    table.add_column("appid", min_width=18, no_wrap=True)  # never cut: it is what one copies
    for header in ("name", "secret", "token", "aes key", "push mode"):
        table.add_column(header)
    for row in rows:
        table.add_row(
            str(row.id),
            row.kind,
            row.appid,
            row.name,
            *("✓" if flag else "—" for flag in (row.has_secret, row.has_token, row.has_aes_key)),
            row.push_mode,
        )
    out.print(table)
