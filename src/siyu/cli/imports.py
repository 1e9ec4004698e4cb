"""`siyu import events|activities`: load history from files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

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

import_app = typer.Typer(help="Load history from files.", no_args_is_help=True)


@import_app.command("events")
def import_events(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True,
            dir_okay=False,
            readable=True,
            help="JSON Lines, one canonical event per line",
        ),
    ],
    report: Annotated[
        Path | None, typer.Option(help="write rejected lines here (JSON Lines)")
    ] = None,
    workspace: WorkspaceOption = None,
    as_email: AsOption = None,
) -> None:
    """Import events of any size: valid lines are kept, rejected ones reported by line number."""
    from siyu.identity import service as identity

    _settings, db = setup()
    workspace_id = choose_workspace(db, workspace)
    acting(db, workspace_id, as_email, Permission.events_ingest)
    progress = Progress(
        TextColumn("[bold]导入 import"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=not err.is_terminal,
    )
    with file.open("rb") as stream, progress:
        task = progress.add_task("import", total=file.stat().st_size)
        result = identity.import_stream(
            db,
            workspace_id,
            stream,
            after_chunk=lambda _session, _report: progress.update(task, completed=stream.tell()),
        )
    out.print(
        f"[green]imported {result.accepted}[/green] events, "
        f"{result.members_created} new members, "
        f"[{'red' if result.rejected else 'green'}]{len(result.rejected)} rejected[/]"
    )
    for error in result.rejected[:50]:
        out.print(f"  line {error.line}: {error.code}: {error.reason}")
    if len(result.rejected) > 50:
        out.print(
            f"  … {len(result.rejected) - 50} more"
            + (f" in {report}" if report else " (use --report FILE for all)")
        )
    if report is not None:
        with report.open("w", encoding="utf-8") as fh:
            for error in result.rejected:
                fh.write(json.dumps(error.model_dump(), ensure_ascii=False) + "\n")


@import_app.command("activities")
def import_activities(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, readable=True, help="a JSON list of activities"
        ),
    ],
    workspace: WorkspaceOption = None,
    as_email: AsOption = None,
) -> None:
    """Load past (or future) activity definitions: all of them, or none when one is invalid.
    Their events come with `siyu import events` (props.code names the activity)."""
    from siyu.community import service

    _settings, db = setup()
    workspace_id = choose_workspace(db, workspace)
    principal = acting(db, workspace_id, as_email, Permission.community_manage)
    try:
        raw = json.loads(file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        err.print(f"[red]community.import_not_json[/red]: {exc}")
        raise typer.Exit(1) from exc
    try:
        with db.session_scope() as session:
            result = service.import_activities(session, workspace_id, raw, actor=principal)
    except SiyuError as exc:
        for error in (exc.data or {}).get("errors", [])[:50] if isinstance(exc.data, dict) else []:
            err.print(f"  #{error['index']}: {error['reason']}")
        raise fail(exc) from exc
    out.print(
        f"[green]{result.created} created[/green], {result.updated} updated; "
        f"{result.themes} themes, {result.series} series, {result.groups} groups new"
    )
