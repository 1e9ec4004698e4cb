"""`siyu leads list|claim|score`: the console's 线索 pages for scripts, acting as an operator
(`--as EMAIL`; a salesperson sees only the pool and their own leads)."""

from __future__ import annotations

import json
from typing import Annotated, Literal

import typer
from rich.table import Table

from siyu.cli.common import AsOption, WorkspaceOption, acting, choose_workspace, fail, out, setup

leads_app = typer.Typer(help="Sales leads (线索): list, claim, score.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="print JSON")]


@leads_app.command("list")
def list_leads(
    view: Annotated[str, typer.Option(help="pool, mine or all")] = "mine",
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
    as_email: AsOption = None,
) -> None:
    """The pool (公海), your leads, or all leads (with leads.manage), best scores first."""
    from siyu.audience import service
    from siyu.core.errors import SiyuError
    from siyu.security.enums import Permission

    if view not in ("pool", "mine", "all"):
        out.print("[red]--view must be pool, mine or all[/red]")
        raise typer.Exit(2)
    chosen: Literal["pool", "mine", "all"] = view  # type: ignore[assignment]
    _, db = setup()
    try:
        workspace_id = choose_workspace(db, workspace)
        principal = acting(db, workspace_id, as_email, Permission.leads_read)
        with db.session_scope() as session:
            page = service.leads.list_leads(session, principal, view=chosen, limit=200)
    except SiyuError as exc:
        raise fail(exc) from exc
    if as_json:
        typer.echo(json.dumps(page.model_dump(mode="json"), ensure_ascii=False))
        return
    table = Table("id", "学号", "score", "status", "owner", "next follow-up")
    for lead in page.items:
        nxt = lead.next_follow_up_at.isoformat(timespec="minutes") if lead.next_follow_up_at else ""
        table.add_row(
            str(lead.id), str(lead.number), str(lead.score), lead.status.value,
            lead.owner_name or "公海", nxt,
        )  # fmt: skip
    out.print(table)
    out.print(f"{page.total} leads")


@leads_app.command("claim")
def claim(
    lead_id: Annotated[int, typer.Argument(help="the lead's id", min=1, max=2**63 - 1)],
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
    as_email: AsOption = None,
) -> None:
    """Claim a lead from the pool (within your daily cap)."""
    from siyu.audience import service
    from siyu.core.errors import SiyuError
    from siyu.security.enums import Permission

    _, db = setup()
    try:
        workspace_id = choose_workspace(db, workspace)
        principal = acting(db, workspace_id, as_email, Permission.leads_claim)
        with db.session_scope() as session:
            lead = service.leads.claim_lead(session, principal, lead_id)
    except SiyuError as exc:
        raise fail(exc) from exc
    if as_json:
        typer.echo(json.dumps(lead.model_dump(mode="json"), ensure_ascii=False))
        return
    out.print(
        f"[green]✓[/green] lead {lead.id} (member {lead.number}, score {lead.score}) is yours"
    )


@leads_app.command("score")
def score(
    member: Annotated[
        int | None, typer.Option(help="print this member's score (学号) instead", min=1)
    ] = None,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
    as_email: AsOption = None,
) -> None:
    """Score the workspace now (new leads are made and assigned); or show a member's score
    and the rules it came from."""
    from siyu.audience import service
    from siyu.core.errors import SiyuError
    from siyu.security.enums import Permission

    _, db = setup()
    try:
        workspace_id = choose_workspace(db, workspace)
        principal = acting(db, workspace_id, as_email, Permission.leads_manage)
        with db.session_scope() as session:
            if member is not None:
                found = service.leads.member_score(session, workspace_id, member)
                payload = found.model_dump(mode="json")
                text = f"member {found.number}: {found.score} " + ", ".join(
                    f"{r.rule} {r.points:+d}" for r in found.reasons
                )
            else:
                result = service.leads.score_now(session, principal)
                payload = result.model_dump(mode="json")
                text = (
                    f"{result.scored} members scored; {result.leads_created} new leads, "
                    f"{result.assigned} assigned"
                )
    except SiyuError as exc:
        raise fail(exc) from exc
    if as_json:
        typer.echo(json.dumps(payload, ensure_ascii=False))
        return
    out.print(text)
