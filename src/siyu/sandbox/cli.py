"""`siyu sandbox`: serve the sandbox WeChat alone, or play simulated users against siyu."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

if TYPE_CHECKING:
    from siyu.sandbox.simulate import Summary

# The sandbox's modules (and FastAPI, uvicorn) are imported when a command runs, not when
# `siyu --help` lists this group.

app = typer.Typer(
    help="The sandbox WeChat: WeChat's OA/MP APIs and simulated users, on this machine.",
    invoke_without_command=True,
)
out = Console()


@app.callback()
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8001,
    siyu: Annotated[str | None, typer.Option(help="siyu's URL, for MP logins.")] = None,
    state_file: Annotated[
        Path | None,
        typer.Option(help="Keep the world in this JSON file across restarts (default: none)."),
    ] = None,
) -> None:
    """Serve WeChat's paths (/cgi-bin, /sns, /wxa) and /sandbox-admin, standalone."""
    if ctx.invoked_subcommand is not None:
        return
    import uvicorn

    from siyu.sandbox.app import create_sandbox_app, start_ticking
    from siyu.sandbox.snapshot import SnapshotError
    from siyu.sandbox.world import SandboxWorld

    try:
        sandbox = create_sandbox_app(SandboxWorld(), siyu_url=siyu, state_file=state_file)
    except SnapshotError as exc:
        raise typer.BadParameter(str(exc), param_hint="--state-file") from exc
    # Served alone, Pay settles refunds and retries notifications on its own, as when mounted;
    # the app's shutdown stops it and saves the world.
    start_ticking(sandbox)
    uvicorn.run(sandbox, host=host, port=port)


@app.command("saved-world")
def saved_world() -> None:
    """Whether `siyu serve` saved a sandbox world with users (exit 0) or not (exit 1).

    `make run` replays the simulated week only into a new world: the saved one has had it.
    """
    from siyu.core.config import get_settings
    from siyu.sandbox.snapshot import FILE_NAME, saved_users

    path = get_settings().data_dir / FILE_NAME
    users = saved_users(path)
    if not users:
        out.print(f"no sandbox world with users at {path}")
        raise typer.Exit(1)
    out.print(f"sandbox world restored from {path}: {users} simulated users")


@app.command()
def simulate(
    *,
    users: Annotated[int, typer.Option(min=1, help="How many simulated users.")] = 50,
    days: Annotated[int, typer.Option(min=1, max=365, help="Days of activity.")] = 7,
    siyu: Annotated[str, typer.Option(help="siyu's base URL.")] = "http://127.0.0.1:8000",
    sandbox: Annotated[
        str | None, typer.Option(help="The sandbox's URL (default: siyu's URL + /sandbox).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Same seed, same scenario.")] = 7,
    live: Annotated[bool, typer.Option(help="Act now instead of replaying past days.")] = False,
    campaign: Annotated[
        bool, typer.Option(help="Also enroll (and pay) in siyu's open activity and check in.")
    ] = False,
) -> None:
    """Play users who follow, message, click, scan and log in, as real pushes to siyu."""
    from siyu.sandbox.app import MOUNT_PREFIX
    from siyu.sandbox.simulate import simulate_remote

    sandbox_url = sandbox or siyu.rstrip("/") + MOUNT_PREFIX
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeRemainingColumn(), console=out) as bar:
        task = bar.add_task("simulated users acting", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        try:
            summary = simulate_remote(
                sandbox_url,
                users,
                days,
                siyu,
                progress,
                seed=seed,
                backfill=not live,
                campaign=campaign,
            )
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from exc
    _report(summary)


def _report(summary: Summary) -> None:
    table = Table("action", "count")
    for kind, count in sorted(summary.by_kind.items()):
        table.add_row(kind, str(count))
    out.print(table)
    out.print(f"{summary.ok}/{summary.actions} actions delivered")
    for failure in summary.failures[:10]:
        out.print(f"[yellow]{failure.kind} {failure.uid} {failure.appid}: {failure.error}")
