"""`siyu members show|erase|export`: look a member up, erase their personal data, or print
everything siyu holds about them."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.table import Table

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

members_app = typer.Typer(help="Look members up.", no_args_is_help=True)


@members_app.command("show")
def members_show(
    number: Annotated[int, typer.Argument(help="the member number (学号)")],
    events: Annotated[int, typer.Option(help="how many timeline events to show")] = 20,
    workspace: WorkspaceOption = None,
    as_email: AsOption = None,
) -> None:
    """Show a member's identities and timeline; exit status 1 when there is no such member."""
    from siyu.identity import service as identity
    from siyu.workspaces import service as workspaces

    _settings, db = setup()
    workspace_id = choose_workspace(db, workspace)
    principal = acting(db, workspace_id, as_email, Permission.members_read)
    try:
        with db.session_scope() as session:
            member = identity.view_member_by_number(session, principal, number)
            timeline = identity.get_timeline(
                session, workspace_id, member.merged_into_id or member.id, limit=events
            )
            apps = {a.appid: a.name for a in workspaces.list_apps(session, workspace_id)}
    except SiyuError as exc:
        raise fail(exc) from exc
    status = "" if member.merged_into_id is None else f" (merged into #{member.merged_into_id})"
    out.print(
        f"[bold]学号 {member.number}[/bold]  id {member.id}  since "
        f"{member.created_at:%Y-%m-%d %H:%M} UTC{status}"
    )
    ids = Table("kind", "app", "value", title="identities")
    for ident in member.identities:
        ids.add_row(
            ident.kind,
            apps.get(ident.appid or "", ident.appid or ""),
            ident.phone_masked or ident.value or "—",
        )
    out.print(ids)
    tl = Table("time (UTC)", "event", "app", "channel", "props", title="timeline")
    for item in timeline.items:
        tl.add_row(
            f"{item.ts:%Y-%m-%d %H:%M:%S}",
            item.event,
            item.appid or "",
            item.channel or "",
            json.dumps(item.props, ensure_ascii=False)[:60],
        )
    out.print(tl)


@members_app.command("erase")
def members_erase(
    number: Annotated[int, typer.Argument(help="the member number (学号)")],
    yes: Annotated[bool, typer.Option("--yes", help="do it (erasure cannot be undone)")] = False,
    workspace: WorkspaceOption = None,
    as_email: AsOption = None,
) -> None:
    """Erase a member's personal data in every table (counts and amounts stay); print the proof."""
    import siyu.api.app  # noqa: F401 - every model, so that every table is erased
    from siyu.identity import service as identity

    _settings, db = setup()
    workspace_id = choose_workspace(db, workspace)
    principal = acting(db, workspace_id, as_email, Permission.members_erase)
    if not yes:
        err.print("erasure cannot be undone: add --yes to erase")
        raise typer.Exit(2)
    try:
        with db.session_scope() as session:
            member = identity.get_member_by_number(session, workspace_id, number)
            proof = identity.erase_member(
                session, workspace_id, member.id, actor=principal.actor, via="staff"
            )
    except SiyuError as exc:
        raise fail(exc) from exc
    sys.stdout.write(proof.model_dump_json(indent=2) + "\n")


@members_app.command("export")
def members_export(
    number: Annotated[int, typer.Argument(help="the member number (学号)")],
    workspace: WorkspaceOption = None,
    as_email: AsOption = None,
) -> None:
    """Print everything siyu holds about a member as JSON (their access request)."""
    import siyu.api.app  # noqa: F401 - every model
    from siyu.identity import service as identity

    _settings, db = setup()
    workspace_id = choose_workspace(db, workspace)
    principal = acting(db, workspace_id, as_email, Permission.members_export)
    try:
        with db.session_scope() as session:
            member = identity.get_member_by_number(session, workspace_id, number)
            data = identity.export_member(session, workspace_id, member.id, actor=principal)
    except SiyuError as exc:
        raise fail(exc) from exc
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


JsonOption = Annotated[bool, typer.Option("--json", help="print JSON")]
_TIER_NAMES = {
    "new": "新客",
    "active": "活跃",
    "dormant": "沉睡",
    "churned": "流失",
    "returning": "回流",
}


@members_app.command("tier")
def members_tier(
    number: Annotated[int, typer.Argument(help="the member number (学号)")],
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
    as_email: AsOption = None,
) -> None:
    """Print a member's lifecycle tier (new, active, dormant, churned, returning)."""
    from siyu.audience import service as audience

    _settings, db = setup()
    workspace_id = choose_workspace(db, workspace)
    principal = acting(db, workspace_id, as_email, Permission.members_read)
    try:
        with db.session_scope() as session:
            tier = audience.member_tier(session, principal, number)
    except SiyuError as exc:
        raise fail(exc) from exc
    if as_json:
        sys.stdout.write(tier.model_dump_json() + "\n")
        return
    since = f" since {tier.since:%Y-%m-%d %H:%M} UTC" if tier.since else " (not computed yet)"
    out.print(f"学号 {tier.member_number}: {tier.tier.value} {_TIER_NAMES[tier.tier.value]}{since}")


@members_app.command("rfm")
def members_rfm(
    number: Annotated[int, typer.Argument(help="the member number (学号)")],
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
    as_email: AsOption = None,
) -> None:
    """Print a member's RFM figures, scores (1–5) and cell."""
    from siyu.audience import service as audience

    _settings, db = setup()
    workspace_id = choose_workspace(db, workspace)
    principal = acting(db, workspace_id, as_email, Permission.members_read)
    try:
        with db.session_scope() as session:
            rfm = audience.member_rfm(session, principal, number)
    except SiyuError as exc:
        raise fail(exc) from exc
    if as_json:
        sys.stdout.write(rfm.model_dump_json() + "\n")
        return
    if not rfm.buyer or rfm.cell is None:
        out.print(f"学号 {rfm.member_number}: no payments (无消费记录)")
        return
    out.print(
        f"学号 {rfm.member_number}: {rfm.cell.value}  R{rfm.r} F{rfm.f} M{rfm.m}  "
        f"last paid {rfm.recency_days} days ago, {rfm.frequency} orders, net {rfm.monetary} fen"
    )
