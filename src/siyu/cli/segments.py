"""`siyu segments preview|create|list`: what the console's 人群 page does, for scripts. A
definition is a JSON file (README: "Segments"); exit 1 names the problem and its path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from siyu.cli.common import AsOption, WorkspaceOption, acting, choose_workspace, fail, out, setup

segments_app = typer.Typer(help="Segments (人群): count, store and list.", no_args_is_help=True)

FileArg = Annotated[Path, typer.Argument(help="the segment's definition (JSON)", exists=True)]


def _definition(file: Path) -> Any:
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        out.print(f"[red]{file}: not JSON ({exc})[/red]")
        raise typer.Exit(2) from exc


@segments_app.command("preview")
def preview(
    file: FileArg,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    workspace: WorkspaceOption = None,
    as_email: AsOption = None,
) -> None:
    """Count the members a definition selects now, and print the first 100 member numbers."""
    from siyu.audience import service
    from siyu.core.errors import SiyuError
    from siyu.security.enums import Permission

    definition = _definition(file)
    _, db = setup()
    try:
        workspace_id = choose_workspace(db, workspace)
        acting(db, workspace_id, as_email, Permission.segments_read)
        with db.session_scope() as session:
            found = service.preview(session, workspace_id, definition)
    except SiyuError as exc:
        raise fail(exc) from exc
    if as_json:
        typer.echo(json.dumps({"count": found.count, "members": found.members}))
        return
    out.print(f"{found.count} members; first: {' '.join(map(str, found.members)) or '—'}")


@segments_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="the segment's name")],
    file: FileArg,
    static: Annotated[bool, typer.Option(help="a snapshot, not kept up to date")] = False,
    rule_tag: Annotated[str | None, typer.Option(help="a tag kept equal to the segment")] = None,
    workspace: WorkspaceOption = None,
    as_email: AsOption = None,
) -> None:
    """Store a segment (a dynamic one is filled by the worker within a minute)."""
    from pydantic import ValidationError

    from siyu.audience import service
    from siyu.audience.enums import SegmentKind
    from siyu.audience.schemas import SegmentCreate
    from siyu.core.errors import SiyuError
    from siyu.security.enums import Permission

    definition = _definition(file)
    _, db = setup()
    try:
        data = SegmentCreate(
            name=name,
            definition=definition if isinstance(definition, dict) else {},
            kind=SegmentKind.static if static else SegmentKind.dynamic,
            rule_tag=rule_tag,
        )
    except ValidationError as exc:
        out.print(f"[red]{exc.errors()[0]['msg']}[/red]")
        raise typer.Exit(2) from exc
    try:
        workspace_id = choose_workspace(db, workspace)
        principal = acting(db, workspace_id, as_email, Permission.segments_manage)
        with db.session_scope() as session:
            segment = service.create_segment(session, principal, data)
    except SiyuError as exc:
        raise fail(exc) from exc
    out.print(f"[green]✓[/green] segment {segment.id} {segment.name} ({segment.kind.value})")


@segments_app.command("list")
def list_segments(
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    workspace: WorkspaceOption = None,
    as_email: AsOption = None,
) -> None:
    """The workspace's segments with their member counts as of their last refresh."""
    from siyu.audience import service
    from siyu.core.errors import SiyuError
    from siyu.security.enums import Permission

    _, db = setup()
    try:
        workspace_id = choose_workspace(db, workspace)
        acting(db, workspace_id, as_email, Permission.segments_read)
        with db.session_scope() as session:
            segments = service.list_segments(session, workspace_id)
    except SiyuError as exc:
        raise fail(exc) from exc
    if as_json:
        typer.echo(json.dumps([s.model_dump(mode="json") for s in segments], ensure_ascii=False))
        return
    table = Table("id", "name", "kind", "members", "rule tag", "refreshed")
    for s in segments:
        refreshed = s.refreshed_at.isoformat(timespec="seconds") if s.refreshed_at else "—"
        table.add_row(
            str(s.id), s.name, s.kind.value, str(s.member_count), s.rule_tag or "", refreshed
        )
    out.print(table)
