"""`siyu demo community`: what the demo of `make run` replays that the sandbox cannot."""

from __future__ import annotations

from typing import Annotated

import typer

from siyu.cli.common import WorkspaceOption, choose_workspace, err, fail, out, setup
from siyu.core.errors import SiyuError

demo_app = typer.Typer(help="The demo of `make run` (sandbox only).", no_args_is_help=True)


@demo_app.command("community")
def demo_community(
    seed: Annotated[int, typer.Option(help="Same seed, same demo.")] = 8,
    workspace: WorkspaceOption = None,
) -> None:
    """Replay what the sandbox cannot: the demo activity's past days of check-ins (siyu takes a
    check-in for its own today) and the previous activity as history, for the review."""
    from siyu.community import service

    settings, db = setup()
    if not settings.sandbox:
        err.print("[red]demo.sandbox_only[/red]: the demo runs with SIYU_SANDBOX=true only")
        raise typer.Exit(2)
    workspace_id = choose_workspace(db, workspace)
    try:
        with db.session_scope() as session:
            current = service.get_activity_by_code(session, workspace_id, service.DEMO_CURRENT)
            checkins = service.replay_demo_checkins(session, workspace_id, current, seed)
            history = service.replay_demo_history(session, workspace_id, seed)
    except SiyuError as exc:
        raise fail(exc) from exc
    out.print(
        f"demo: {checkins} past check-ins in {service.DEMO_CURRENT}; "
        f"{history} members in the history of {service.DEMO_PREVIOUS}"
    )
