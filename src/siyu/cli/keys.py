"""`siyu keys generate|rotate|status`: fresh secrets for `.env`, and rotation of the data keys
that encrypt personal data at rest."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from siyu.cli.common import AsOption, WorkspaceOption, acting, choose_workspace, err, out, setup
from siyu.security.enums import Permission

if TYPE_CHECKING:
    from siyu.core.config import Settings

keys_app = typer.Typer(help="Secrets and encryption keys.", no_args_is_help=True)


@keys_app.command("generate")
def keys_generate() -> None:
    """Print a fresh set of secrets for `.env` (never reuse the development defaults)."""
    import secrets

    from siyu.core.crypto import generate_data_key

    sys.stdout.write(
        f"SIYU_SECRET_KEY={secrets.token_urlsafe(32)}\n"
        f"SIYU_DATA_KEYS=k{secrets.token_hex(3)}:{generate_data_key()}\n"
        f"SIYU_LOOKUP_KEY={secrets.token_urlsafe(32)}\n"
    )


def _write_data_keys(env_file: Path, spec: str) -> None:
    lines = env_file.read_text(encoding="utf-8").splitlines() if env_file.exists() else []
    kept = [line for line in lines if not line.startswith("SIYU_DATA_KEYS=")]
    env_file.write_text("\n".join([*kept, f"SIYU_DATA_KEYS={spec}"]) + "\n", encoding="utf-8")


def _add_data_key(settings: Settings, env_file: Path) -> Settings:
    """A new key first in SIYU_DATA_KEYS of `env_file` (the old ones stay, to decrypt)."""
    import secrets

    from pydantic import SecretStr

    from siyu.core.crypto import configure_crypto, generate_data_key

    current = settings.data_keys.get_secret_value()
    spec = f"k{secrets.token_hex(3)}:{generate_data_key()},{current}"
    _write_data_keys(env_file, spec)
    updated = settings.model_copy(update={"data_keys": SecretStr(spec)})
    configure_crypto(updated)
    return updated


@keys_app.command("rotate")
def keys_rotate(
    add_key: Annotated[
        bool, typer.Option(help="add a new data key first (else re-encrypt under the current)")
    ] = True,
    env_file: Annotated[
        Path, typer.Option(help="the file holding SIYU_DATA_KEYS, where the new key is written")
    ] = Path(".env"),
    batch: Annotated[int, typer.Option(min=1, max=100_000, help="values per transaction")] = 1000,
    workspace: WorkspaceOption = None,
    as_email: AsOption = None,
) -> None:
    """Add a data key and re-encrypt every encrypted column under it, online, in batches.

    Interrupted? Run it again: an unfinished rotation resumes where it stopped (no new key is
    added then). Other processes must be restarted with the new SIYU_DATA_KEYS before they
    read values written under it; old keys stay in the list until no value uses them.
    """
    import secrets

    import siyu.api.app  # noqa: F401 - every model, so that every encrypted column is found
    from siyu.core.crypto import cipher, generate_data_key
    from siyu.security import service as security

    settings, db = setup()
    principal = acting(db, choose_workspace(db, workspace), as_email, Permission.keys_rotate)
    with db.session_scope() as session:
        run = security.unfinished_rotation(session)
    resuming = run is not None and run.key_id == cipher().current
    if add_key and not resuming:
        if not env_file.exists() or "SIYU_DATA_KEYS=" not in env_file.read_text("utf-8"):
            err.print(
                f"[red]{env_file} holds no SIYU_DATA_KEYS[/red]: put the new key first in your "
                "configuration yourself, restart, then run `siyu keys rotate --no-add-key`. "
                f"A fresh key: k{secrets.token_hex(3)}:{generate_data_key()}"
            )
            raise typer.Exit(2)
        settings = _add_data_key(settings, env_file)
        out.print(
            f"new data key [bold]{cipher().current}[/bold] written first in {env_file}; "
            "restart the other siyu processes so that they know it"
        )
    with db.session_scope() as session:
        started = security.start_rotation(session, principal.actor)
        total = sum(security.rotation_totals(session).values())
    progress = Progress(
        TextColumn("[bold]轮换密钥 rotate"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,}"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[column]}"),
        console=err,
        disable=not err.is_terminal,
    )
    rewritten = 0
    with progress:
        task = progress.add_task("rotate", total=total, completed=started.rows_seen, column="")
        while True:
            with db.session_scope() as session:
                result = security.rotation_step(session, started.id, batch)
            if result.column is None:
                break
            rewritten += result.rewritten
            progress.update(task, advance=result.seen, column=result.column)
    with db.session_scope() as session:
        left = {k: v for k, v in security.rotation_pending(session).items() if v}
    out.print(
        f"[green]✓[/green] {rewritten:,} values re-encrypted under {started.key_id}"
        + (f"; [yellow]still under older keys[/yellow]: {left}" if left else "")
    )


@keys_app.command("status")
def keys_status() -> None:
    """How many values of each encrypted column are not under the current key."""
    import siyu.api.app  # noqa: F401 - every model
    from siyu.core.crypto import cipher
    from siyu.security import service as security

    _settings, db = setup()
    with db.session_scope() as session:
        pending = security.rotation_pending(session)
        totals = security.rotation_totals(session)
    table = Table("column", "values", f"not under {cipher().current}")
    for name in sorted(totals):
        table.add_row(name, f"{totals[name]:,}", f"{pending[name]:,}")
    out.print(table)
