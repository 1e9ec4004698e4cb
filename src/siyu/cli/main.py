"""`siyu` commands. Each command is an entrypoint: it owns its transactions."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from fastapi import FastAPI
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from siyu.cli import entries as entries_cli
from siyu.core.config import Settings, get_settings
from siyu.core.crypto import configure_crypto, generate_data_key
from siyu.core.db import Database, database_for
from siyu.core.errors import Forbidden, SiyuError
from siyu.core.jobs import configure_queue
from siyu.core.logging import configure_logging
from siyu.sandbox import cli as sandbox_cli
from siyu.security.models import Role
from siyu.security.permissions import Permission, allows
from siyu.security.schemas import Principal

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

app = typer.Typer(
    help="siyu (私域): private-domain operations for the WeChat ecosystem.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
apps_app = typer.Typer(
    help="Register and list the OA, MP, H5 and external apps of a workspace.", no_args_is_help=True
)
import_app = typer.Typer(help="Load history from files.", no_args_is_help=True)
members_app = typer.Typer(help="Look members up.", no_args_is_help=True)
keys_app = typer.Typer(help="Secrets and encryption keys.", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens for scripts.", no_args_is_help=True)
operators_app = typer.Typer(help="Operators and their roles.", no_args_is_help=True)
report_app = typer.Typer(help="Reviews (复盘) of campaigns.", no_args_is_help=True)
pay_app = typer.Typer(
    help="WeChat Pay: reconciliation and the order/refund sweep.", no_args_is_help=True
)
app.add_typer(apps_app, name="apps")
app.add_typer(import_app, name="import")
app.add_typer(members_app, name="members")
app.add_typer(keys_app, name="keys")
app.add_typer(tokens_app, name="tokens")
app.add_typer(operators_app, name="operators")
app.add_typer(pay_app, name="pay")
app.add_typer(report_app, name="report")
autoreply_app = typer.Typer(help="Auto-reply rules: add and test.", no_args_is_help=True)
app.add_typer(autoreply_app, name="autoreply")
app.add_typer(sandbox_cli.app, name="sandbox")
demo_app = typer.Typer(help="The demo of `make run` (sandbox only).", no_args_is_help=True)
app.add_typer(demo_app, name="demo")
app.add_typer(entries_cli.menus_app, name="menus")
app.add_typer(entries_cli.channels_app, name="channels")
apps_app.command("link")(entries_cli.apps_link)

out = Console()
err = Console(stderr=True)

KINDS = {
    "oa-service": "oa_service",
    "oa-subscription": "oa_subscription",
    "mp": "mp",
    "h5": "h5",
    "external": "external",
}


def _setup() -> tuple[Settings, Database]:
    try:
        settings = get_settings()
        configure_crypto(settings)
    except ValueError as exc:
        err.print(f"[red]配置错误 / configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc
    configure_logging(settings)
    configure_queue(settings)
    from siyu.wechat.pay.flows import configure_pay

    configure_pay(settings)
    return settings, database_for(settings)


def _workspace_id(db: Database, workspace: int | None) -> int:
    from siyu.workspaces import service as workspaces

    with db.session_scope() as session:
        if workspace is not None:
            return workspaces.get_workspace(session, workspace).id
        return workspaces.ensure_default_workspace(session).id


def _fail(exc: SiyuError) -> typer.Exit:
    err.print(f"[red]{exc.code}[/red]: {exc.message}")
    return typer.Exit(1)


AsOption = Annotated[
    str | None,
    typer.Option("--as", help="act as this operator, with their role (default: the owner)"),
]


def _acting(db: Database, workspace_id: int, as_email: str | None, *needs: Permission) -> Principal:
    """Who the command acts as, refused (exit 1) unless their role grants `needs`."""
    from siyu.security import service as security

    with db.session_scope() as session:
        if as_email is None:
            principal = security.principal_for_cli(session, workspace_id)
        else:
            operator = security.get_operator_by_email(session, as_email)
            if operator is None or operator.disabled_at is not None:
                err.print(f"[red]no active operator {as_email}[/red]")
                raise typer.Exit(1)
            principal = security.principal_for_cli(session, operator.workspace_id).model_copy(
                update={
                    "operator_id": operator.id,
                    "email": operator.email,
                    "name": operator.name,
                    "role": operator.role,
                }
            )
    try:
        for permission in needs:
            security.require_permission(principal, permission)
    except SiyuError as exc:
        raise _fail(exc) from exc
    return principal


@app.command()
def migrate() -> None:
    """Bring the database schema up to date (SQLite file or PostgreSQL)."""
    from siyu.migrations import upgrade

    settings, _db = _setup()
    upgrade(settings.database_url)
    out.print(f"[green]✓[/green] database at head ({settings.database_url.split('@')[-1]})")


def _demo_apps(db: Database, workspace_id: int) -> None:
    """A service account and a mini program with fresh credentials, for the sandbox WeChat."""
    import secrets

    from siyu.workspaces import service as workspaces
    from siyu.workspaces.models import AppKind
    from siyu.workspaces.schemas import AppCreate

    with db.session_scope() as session:
        if workspaces.list_apps(session, workspace_id):
            return
        for kind, name in ((AppKind.oa_service, "示例服务号"), (AppKind.mp, "打卡小程序")):
            created = workspaces.add_app(
                session,
                workspace_id,
                AppCreate(
                    kind=kind,
                    appid="wx" + secrets.token_hex(8),
                    name=name,
                    entity="示例教育",
                    secret=secrets.token_hex(16),
                    token=secrets.token_hex(8),
                    aes_key=secrets.token_urlsafe(48).replace("-", "a").replace("_", "b")[:43],
                ),
            )
            out.print(f"demo app: {created.kind} {created.appid} “{created.name}”")
        _demo_merchant(session, workspace_id)


def _demo_community(db: Database, workspace_id: int) -> None:
    """A theme, a series, a past activity (history) and an open one, for sandbox users."""
    from siyu.community import demo

    with db.session_scope() as session:
        created = demo.create_matrix(session, workspace_id)
    if created is not None:
        out.print(f"demo activity: {created.code} “{created.title}” (open, deposit ¥9.90)")


def _demo_merchant(session: Session, workspace_id: int) -> None:
    """A WeChat Pay merchant with fresh keys; `serve` introduces it to the sandbox, whose
    platform key then replaces the placeholder."""
    import secrets

    from siyu.wechat import paycrypto
    from siyu.wechat.pay import service as pay
    from siyu.wechat.pay.schemas import MerchantCreate

    settings = get_settings()
    key = paycrypto.generate_private_key()
    merchant = pay.add_merchant(
        session,
        workspace_id,
        MerchantCreate(
            mchid=f"19{secrets.randbelow(10**8):08d}",
            name="示例商户",
            apiv3_key=secrets.token_hex(16),
            private_key=paycrypto.private_pem(key),
            cert_serial_no=secrets.token_hex(20).upper(),
            platform_public_key=paycrypto.public_pem(key),
            platform_public_key_id="PUB_KEY_ID_PLACEHOLDER",
        ),
        default_notify_base=settings.public_url or f"http://{settings.host}:{settings.port}",
    )
    out.print(f"demo merchant: {merchant.mchid} “{merchant.name}”")


@app.command()
def bootstrap(
    demo: Annotated[bool, typer.Option(help="also register a demo OA and MP (sandbox)")] = False,
) -> None:
    """Create the first workspace and its owner; print a one-time password if one was made."""
    from siyu.security import service as security

    settings, db = _setup()
    workspace_id = _workspace_id(db, None)
    if demo:
        _demo_apps(db, workspace_id)
        _demo_community(db, workspace_id)
    password = settings.admin_password.get_secret_value() if settings.admin_password else None
    with db.session_scope() as session:
        result = security.bootstrap_owner(session, workspace_id, settings.admin_email, password)
    if not result.created:
        out.print("owner exists already; nothing to do")
    elif result.password:
        out.print(f"[bold]owner created[/bold]: {result.owner_email}")
        out.print(
            f"[bold yellow]one-time password: {result.password}[/bold yellow] "
            "(shown once; change it after signing in)"
        )
    else:
        out.print(
            f"[bold]owner created[/bold]: {result.owner_email} (password from SIYU_ADMIN_PASSWORD)"
        )


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="port to listen on")] = None,
    worker: Annotated[bool, typer.Option(help="run job consumer threads in this process")] = True,
) -> None:
    """Serve the API and the console, with an embedded job worker."""
    import uvicorn

    from siyu.api.app import create_app

    settings, db = _setup()
    host, port = host or settings.host, port or settings.port
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"  # noqa: S104
    default_base = Settings.model_fields["wechat_api_base"].default
    if settings.sandbox and settings.wechat_api_base == default_base:
        settings = settings.model_copy(update={"wechat_api_base": f"{url}/sandbox"})
    default_pay = Settings.model_fields["wechat_pay_api_base"].default
    if settings.sandbox and settings.wechat_pay_api_base == default_pay:
        settings = settings.model_copy(update={"wechat_pay_api_base": f"{url}/sandbox"})
    application = create_app(settings, db, embedded_worker=worker)
    if settings.sandbox:
        _wire_sandbox(application, db, url)
        out.print(f"sandbox WeChat: {url}/sandbox (siyu's gateway calls it)")
    out.print(f"siyu console: {url}/")
    uvicorn.run(application, host=host, port=port, log_level="info", access_log=False)


def _wire_sandbox(application: FastAPI, db: Database, url: str) -> None:
    """Mount the sandbox WeChat and register every OA and MP of siyu with it."""
    from siyu.sandbox.app import mount_sandbox
    from siyu.sandbox.world import AccountSpec
    from siyu.workspaces import service as workspaces

    sandbox = mount_sandbox(application, siyu_url=url)
    with db.session_scope() as session:
        apps = [
            app
            for ws in workspaces.list_workspaces(session)
            for app in workspaces.list_apps(session, ws.id)
        ]
        credentials = {a.appid: workspaces.get_app_credentials(session, a.appid) for a in apps}
    for app in apps:
        cred = credentials[app.appid]
        if app.kind not in ("oa_service", "oa_subscription", "mp") or not cred.secret:
            continue
        linked = [a.appid for a in apps if a.kind == "mp" and a.workspace_id == app.workspace_id]
        sandbox.state.world.register(
            AccountSpec(
                appid=app.appid,
                secret=cred.secret,
                kind=app.kind,
                name=app.name,
                token=cred.token or "",
                aes_key=cred.aes_key or "",
                push_url=f"{url}/wechat/push/{app.appid}",
                mode="secure" if cred.aes_key else "plain",
                linked_mps=linked if app.kind != "mp" else [],
                unionid_scope=f"workspace-{app.workspace_id}",
            )
        )
    _wire_sandbox_pay(sandbox, db, apps)


def _wire_sandbox_pay(sandbox: FastAPI, db: Database, apps: list[Any]) -> None:
    """Introduce siyu's merchants to the sandbox's Pay and take its platform key in return."""
    from siyu.sandbox.pay import MerchantSpec
    from siyu.wechat import paycrypto
    from siyu.wechat.pay import service as pay

    with db.session_scope() as session:
        merchants = pay.list_merchants(session)
        keys = {m.id: pay.merchant_keys(session, m.id, "") for m in merchants}
    for merchant in merchants:
        secret = keys[merchant.id]
        mps = [a.appid for a in apps if a.kind == "mp" and a.workspace_id == merchant.workspace_id]
        registered = sandbox.state.pay.register(
            MerchantSpec(
                mchid=merchant.mchid,
                name=merchant.name,
                apiv3_key=secret.apiv3_key,
                merchant_public_key=paycrypto.public_pem(
                    paycrypto.load_private_key(secret.private_key)
                ),
                cert_serial_no=merchant.cert_serial_no,
                appids=mps,
            )
        )
        with db.session_scope() as session:
            pay.set_platform_key(
                session,
                merchant.mchid,
                sandbox.state.pay.platform_public_key(),
                registered.platform_key_id,
            )


@app.command()
def worker(
    workers: Annotated[int, typer.Option(help="worker threads in this process")] = 4,
) -> None:
    """Run a job worker (start several, on several machines, with SIYU_REDIS_URL)."""
    from siyu.worker import consumer

    _setup()
    consumer(workers).run()


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
    workspace: Annotated[int | None, typer.Option(help="workspace id (default: the first)")] = None,
    as_email: AsOption = None,
) -> None:
    """Register an app."""
    from pydantic import ValidationError

    from siyu.security import service as security
    from siyu.workspaces import service as workspaces
    from siyu.workspaces.models import EntityKind
    from siyu.workspaces.schemas import AppCreate

    if kind not in KINDS:
        err.print(f"[red]unknown kind {kind!r}[/red]; use one of {', '.join(KINDS)}")
        raise typer.Exit(2)
    _settings, db = _setup()
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
            }
        )
    except ValidationError as exc:
        for e in exc.errors():
            err.print(f"[red]invalid[/red] {'.'.join(map(str, e['loc'])) or 'app'}: {e['msg']}")
        raise typer.Exit(2) from exc
    try:
        workspace_id = _workspace_id(db, workspace)
        principal = _acting(db, workspace_id, as_email, Permission.apps_manage)
        with db.session_scope() as session:
            created = workspaces.add_app(session, workspace_id, data)
            security.record_audit(
                session,
                principal,
                "app.added",
                target_type="app",
                target_id=created.id,
                detail={"kind": created.kind.value},
            )
    except SiyuError as exc:
        raise _fail(exc) from exc
    out.print(f"[green]✓[/green] {created.kind} {created.appid} “{created.name}” (id {created.id})")


@apps_app.command("list")
def apps_list(
    workspace: Annotated[int | None, typer.Option(help="workspace id (default: the first)")] = None,
) -> None:
    """List the apps of a workspace."""
    from siyu.workspaces import service as workspaces

    _settings, db = _setup()
    workspace_id = _workspace_id(db, workspace)
    with db.session_scope() as session:
        rows = workspaces.list_apps(session, workspace_id)
    table = Table("id", "kind", "appid", "name", "secret", "token", "aes key")
    for row in rows:
        table.add_row(
            str(row.id),
            row.kind,
            row.appid,
            row.name,
            *("✓" if flag else "—" for flag in (row.has_secret, row.has_token, row.has_aes_key)),
        )
    out.print(table)


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
    workspace: Annotated[int | None, typer.Option(help="workspace id (default: the first)")] = None,
    as_email: AsOption = None,
) -> None:
    """Import events of any size: valid lines are kept, rejected ones reported by line number."""
    from siyu.identity.ingest import chunked, pipelined_import, read_lines

    _settings, db = _setup()
    workspace_id = _workspace_id(db, workspace)
    _acting(db, workspace_id, as_email, Permission.events_ingest)
    progress = Progress(
        TextColumn("[bold]导入 import"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=not err.is_terminal,
    )
    with (
        file.open("rb") as stream,
        progress,
        pipelined_import(db, workspace_id) as importer,
    ):
        task = progress.add_task("import", total=file.stat().st_size)
        for chunk in chunked(read_lines(stream)):
            with db.session_scope() as session:
                importer.import_chunk(session, chunk)
            progress.update(task, completed=stream.tell())
    result = importer.report
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
    workspace: Annotated[int | None, typer.Option(help="workspace id (default: the first)")] = None,
    as_email: AsOption = None,
) -> None:
    """Load past (or future) activity definitions: all of them, or none when one is invalid.
    Their events come with `siyu import events` (props.code names the activity)."""
    from siyu.community.imports import import_activities as load
    from siyu.security import service as security

    _settings, db = _setup()
    workspace_id = _workspace_id(db, workspace)
    principal = _acting(db, workspace_id, as_email, Permission.community_manage)
    try:
        raw = json.loads(file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        err.print(f"[red]community.import_not_json[/red]: {exc}")
        raise typer.Exit(1) from exc
    try:
        with db.session_scope() as session:
            result = load(session, workspace_id, raw)
            security.record_audit(
                session,
                principal,
                "community.activities_imported",
                workspace_id=workspace_id,
                detail=result.model_dump(),
            )
    except SiyuError as exc:
        for error in (exc.data or {}).get("errors", [])[:50] if isinstance(exc.data, dict) else []:
            err.print(f"  #{error['index']}: {error['reason']}")
        raise _fail(exc) from exc
    out.print(
        f"[green]{result.created} created[/green], {result.updated} updated; "
        f"{result.themes} themes, {result.series} series, {result.groups} groups new"
    )


@report_app.command("activity")
def report_activity(
    code: Annotated[str, typer.Argument(help="the activity's code")],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    previous: Annotated[
        str | None, typer.Option(help="compare with this activity (default: the series' last)")
    ] = None,
    active_after_days: Annotated[int, typer.Option(min=0, max=365)] = 7,
    workspace: Annotated[int | None, typer.Option(help="workspace id (default: the first)")] = None,
    as_email: AsOption = None,
) -> None:
    """The review (复盘) of an activity: enrollments, money, check-ins, completion, retention."""
    from siyu.community import review

    _settings, db = _setup()
    workspace_id = _workspace_id(db, workspace)
    _acting(db, workspace_id, as_email, Permission.community_read)
    try:
        with db.session_scope() as session:
            result = review.activity_review(
                session,
                workspace_id,
                code,
                previous=previous,
                active_after_days=active_after_days,
            )
    except SiyuError as exc:
        raise _fail(exc) from exc
    if as_json:
        sys.stdout.write(result.model_dump_json(indent=2) + "\n")
        return
    table = Table(title=f"{result.code} {result.title} ({result.starts_on} – {result.ends_on})")
    table.add_column("指标 metric")
    table.add_column("值 value", justify="right")
    rows = [
        ("报名 enrollments", str(result.enrollments)),
        ("渠道 by channel", ", ".join(f"{k} {v}" for k, v in result.by_channel.items())),
        ("收款 paid (¥)", f"{result.paid_total / 100:.2f}"),
        ("退款 refunded (¥)", f"{result.refunded_total / 100:.2f}"),
        ("完成 completed", f"{result.completed} ({result.completion_rate:.0%})"),
        (f"{result.active_after_days} 天后活跃 active after", str(result.active_after)),
        ("群内 in group", str(result.group_members)),
    ]
    if result.retention is not None:
        r = result.retention
        rows += [
            (f"来自 from {r.previous}", f"{r.re_enrolled} ({r.re_enrollment_rate:.0%})"),
            ("留存未报名 stayed", f"{r.stayed} (群 group {r.stayed_in_group})"),
            ("流失 lost", str(r.lost)),
        ]
    for name, value in rows:
        table.add_row(name, value)
    out.print(table)


@demo_app.command("community")
def demo_community(
    seed: Annotated[int, typer.Option(help="Same seed, same demo.")] = 8,
    workspace: Annotated[int | None, typer.Option(help="workspace id (default: the first)")] = None,
) -> None:
    """Replay what the sandbox cannot: the demo activity's past days of check-ins (siyu takes a
    check-in for its own today) and the previous activity as history, for the review."""
    from siyu.community import demo, service

    settings, db = _setup()
    if not settings.sandbox:
        err.print("[red]demo.sandbox_only[/red]: the demo runs with SIYU_SANDBOX=true only")
        raise typer.Exit(2)
    workspace_id = _workspace_id(db, workspace)
    try:
        with db.session_scope() as session:
            current = service.get_activity_by_code(session, workspace_id, demo.CURRENT)
            checkins = demo.replay_checkins(session, workspace_id, current, seed)
            history = demo.replay_history(session, workspace_id, seed)
    except SiyuError as exc:
        raise _fail(exc) from exc
    out.print(
        f"demo: {checkins} past check-ins in {demo.CURRENT}; "
        f"{history} members in the history of {demo.PREVIOUS}"
    )


@members_app.command("show")
def members_show(
    number: Annotated[int, typer.Argument(help="the member number (学号)")],
    events: Annotated[int, typer.Option(help="how many timeline events to show")] = 20,
    workspace: Annotated[int | None, typer.Option(help="workspace id (default: the first)")] = None,
    as_email: AsOption = None,
) -> None:
    """Show a member's identities and timeline; exit status 1 when there is no such member."""
    from siyu.identity import service as identity
    from siyu.security import service as security
    from siyu.workspaces import service as workspaces

    _settings, db = _setup()
    workspace_id = _workspace_id(db, workspace)
    principal = _acting(db, workspace_id, as_email, Permission.members_read)
    try:
        with db.session_scope() as session:
            member = security.present_member(
                identity.get_member_by_number(session, workspace_id, number), principal
            )
            security.ensure_member_visible(session, principal, member.id)
            security.record_audit(
                session, principal, "member.viewed", target_type="member", target_id=member.id
            )
            timeline = identity.get_timeline(
                session, workspace_id, member.merged_into_id or member.id, limit=events
            )
            apps = {a.appid: a.name for a in workspaces.list_apps(session, workspace_id)}
    except SiyuError as exc:
        raise _fail(exc) from exc
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


@keys_app.command("generate")
def keys_generate() -> None:
    """Print a fresh set of secrets for `.env` (never reuse the development defaults)."""
    import secrets

    sys.stdout.write(
        f"SIYU_SECRET_KEY={secrets.token_urlsafe(32)}\n"
        f"SIYU_DATA_KEYS=k{secrets.token_hex(3)}:{generate_data_key()}\n"
        f"SIYU_LOOKUP_KEY={secrets.token_urlsafe(32)}\n"
    )


@tokens_app.command("create")
def tokens_create(
    email: Annotated[str, typer.Option(help="the operator the token acts as")],
    name: Annotated[str, typer.Option(help="what the token is for")],
) -> None:
    """Create an API token (printed once)."""
    from siyu.security import service as security

    _settings, db = _setup()
    try:
        with db.session_scope() as session:
            operator = security.get_operator_by_email(session, email)
            if operator is None:
                err.print(f"[red]no operator {email}[/red]")
                raise typer.Exit(1)
            if not allows(operator.role, Permission.tokens_create):
                raise Forbidden("security.forbidden", f"a {operator.role} may not hold API tokens")
            token = security.create_api_token(session, operator.id, name)
    except SiyuError as exc:
        raise _fail(exc) from exc
    sys.stdout.write(token.token + "\n")


# --- keys: rotation ------------------------------------------------------------------------


def _write_data_keys(env_file: Path, spec: str) -> None:
    lines = env_file.read_text(encoding="utf-8").splitlines() if env_file.exists() else []
    kept = [line for line in lines if not line.startswith("SIYU_DATA_KEYS=")]
    env_file.write_text("\n".join([*kept, f"SIYU_DATA_KEYS={spec}"]) + "\n", encoding="utf-8")


def _add_data_key(settings: Settings, env_file: Path) -> Settings:
    """A new key first in SIYU_DATA_KEYS of `env_file` (the old ones stay, to decrypt)."""
    import secrets

    from pydantic import SecretStr

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
    workspace: Annotated[int | None, typer.Option(help="workspace id (default: the first)")] = None,
    as_email: AsOption = None,
) -> None:
    """Add a data key and re-encrypt every encrypted column under it, online, in batches.

    Interrupted? Run it again: an unfinished rotation resumes where it stopped (no new key is
    added then). Other processes must be restarted with the new SIYU_DATA_KEYS before they
    read values written under it; old keys stay in the list until no value uses them.
    """
    import secrets

    import siyu.api.app  # noqa: F401 - every model, so that every encrypted column is found
    from siyu.core.crypto import cipher
    from siyu.security import rotation

    settings, db = _setup()
    principal = _acting(db, _workspace_id(db, workspace), as_email, Permission.keys_rotate)
    with db.session_scope() as session:
        run = rotation.unfinished(session)
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
        started = rotation.start(session, principal.actor)
        total = sum(rotation.totals(session).values())
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
                result = rotation.step(session, started.id, batch)
            if result.column is None:
                break
            rewritten += result.rewritten
            progress.update(task, advance=result.seen, column=result.column)
    with db.session_scope() as session:
        left = {k: v for k, v in rotation.pending(session).items() if v}
    out.print(
        f"[green]✓[/green] {rewritten:,} values re-encrypted under {started.key_id}"
        + (f"; [yellow]still under older keys[/yellow]: {left}" if left else "")
    )


@keys_app.command("status")
def keys_status() -> None:
    """How many values of each encrypted column are not under the current key."""
    import siyu.api.app  # noqa: F401 - every model
    from siyu.core.crypto import cipher
    from siyu.security import rotation

    _settings, db = _setup()
    with db.session_scope() as session:
        pending = rotation.pending(session)
        totals = rotation.totals(session)
    table = Table("column", "values", f"not under {cipher().current}")
    for name in sorted(totals):
        table.add_row(name, f"{totals[name]:,}", f"{pending[name]:,}")
    out.print(table)


# --- operators -----------------------------------------------------------------------------


@operators_app.command("list")
def operators_list(
    workspace: Annotated[int | None, typer.Option(help="workspace id (default: the first)")] = None,
    as_email: AsOption = None,
) -> None:
    """List the operators of a workspace with their roles."""
    from siyu.security import service as security

    _settings, db = _setup()
    workspace_id = _workspace_id(db, workspace)
    _acting(db, workspace_id, as_email, Permission.operators_manage)
    with db.session_scope() as session:
        rows = security.list_operators(session, workspace_id)
    table = Table("id", "email", "name", "role", "status")
    for row in rows:
        status = f"disabled {row.disabled_at:%Y-%m-%d}" if row.disabled_at else "active"
        table.add_row(str(row.id), row.email, row.name, row.role.value, status)
    out.print(table)


@operators_app.command("add")
def operators_add(
    email: Annotated[str, typer.Argument(help="the operator's email (their sign-in)")],
    role: Annotated[Role, typer.Option(help="what they may see and do")] = Role.operator,
    name: Annotated[str, typer.Option(help="the name shown in the console")] = "",
    workspace: Annotated[int | None, typer.Option(help="workspace id (default: the first)")] = None,
    as_email: AsOption = None,
) -> None:
    """Add an operator; a one-time password is printed."""
    import secrets

    from siyu.security import service as security

    _settings, db = _setup()
    workspace_id = _workspace_id(db, workspace)
    principal = _acting(db, workspace_id, as_email, Permission.operators_manage)
    password = secrets.token_urlsafe(12)
    try:
        with db.session_scope() as session:
            created = security.add_operator(
                session, principal, email, password, name=name, role=role
            )
    except SiyuError as exc:
        raise _fail(exc) from exc
    out.print(f"[green]✓[/green] {created.email} ({created.role.value}), id {created.id}")
    out.print(f"[bold yellow]one-time password: {password}[/bold yellow]")


@operators_app.command("role")
def operators_role(
    email: Annotated[str, typer.Argument(help="the operator")],
    role: Annotated[Role, typer.Argument(help="the new role")],
    as_email: AsOption = None,
) -> None:
    """Change an operator's role."""
    from siyu.security import service as security

    _settings, db = _setup()
    with db.session_scope() as session:
        target = security.get_operator_by_email(session, email)
    if target is None:
        err.print(f"[red]no operator {email}[/red]")
        raise typer.Exit(1)
    principal = _acting(db, target.workspace_id, as_email, Permission.operators_manage)
    try:
        with db.session_scope() as session:
            changed = security.change_role(session, principal, target.id, role)
    except SiyuError as exc:
        raise _fail(exc) from exc
    out.print(f"[green]✓[/green] {changed.email} is now {changed.role.value}")


@operators_app.command("disable")
def operators_disable(
    email: Annotated[str, typer.Argument(help="the operator")],
    as_email: AsOption = None,
) -> None:
    """Disable an operator: their sessions end and their API tokens are revoked."""
    from siyu.security import service as security

    _settings, db = _setup()
    with db.session_scope() as session:
        target = security.get_operator_by_email(session, email)
    if target is None:
        err.print(f"[red]no operator {email}[/red]")
        raise typer.Exit(1)
    principal = _acting(db, target.workspace_id, as_email, Permission.operators_manage)
    try:
        with db.session_scope() as session:
            security.disable_operator(session, principal, target.id)
    except SiyuError as exc:
        raise _fail(exc) from exc
    out.print(f"[green]✓[/green] {email} disabled; sessions ended, tokens revoked")


# --- members: erasure and export -----------------------------------------------------------


@members_app.command("erase")
def members_erase(
    number: Annotated[int, typer.Argument(help="the member number (学号)")],
    yes: Annotated[bool, typer.Option("--yes", help="do it (erasure cannot be undone)")] = False,
    workspace: Annotated[int | None, typer.Option(help="workspace id (default: the first)")] = None,
    as_email: AsOption = None,
) -> None:
    """Erase a member's personal data in every table (counts and amounts stay); print the proof."""
    import siyu.api.app  # noqa: F401 - every model, so that every table is erased
    from siyu.identity import service as identity
    from siyu.security import erasure

    _settings, db = _setup()
    workspace_id = _workspace_id(db, workspace)
    principal = _acting(db, workspace_id, as_email, Permission.members_erase)
    if not yes:
        err.print("erasure cannot be undone: add --yes to erase")
        raise typer.Exit(2)
    try:
        with db.session_scope() as session:
            member = identity.get_member_by_number(session, workspace_id, number)
            proof = erasure.erase_member(
                session, workspace_id, member.id, actor=principal.actor, via="staff"
            )
    except SiyuError as exc:
        raise _fail(exc) from exc
    sys.stdout.write(proof.model_dump_json(indent=2) + "\n")


@members_app.command("export")
def members_export(
    number: Annotated[int, typer.Argument(help="the member number (学号)")],
    workspace: Annotated[int | None, typer.Option(help="workspace id (default: the first)")] = None,
    as_email: AsOption = None,
) -> None:
    """Print everything siyu holds about a member as JSON (their access request)."""
    import siyu.api.app  # noqa: F401 - every model
    from siyu.identity import service as identity
    from siyu.security import erasure
    from siyu.security import service as security

    _settings, db = _setup()
    workspace_id = _workspace_id(db, workspace)
    principal = _acting(db, workspace_id, as_email, Permission.members_export)
    try:
        with db.session_scope() as session:
            member = identity.get_member_by_number(session, workspace_id, number)
            data = erasure.export_member(session, workspace_id, member.id)
            security.record_audit(
                session, principal, "member.exported", target_type="member", target_id=member.id
            )
    except SiyuError as exc:
        raise _fail(exc) from exc
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


@pay_app.command("reconcile")
def pay_reconcile(
    day: Annotated[
        str | None, typer.Option("--date", help="the Beijing date (YYYY-MM-DD); default yesterday")
    ] = None,
) -> None:
    """Compare siyu's payments and refunds of a day with each merchant's trade bill."""
    from datetime import date, timedelta

    from siyu.core import clock
    from siyu.wechat.pay import flows
    from siyu.wechat.pay import service as pay

    _settings, db = _setup()
    try:
        wanted = (
            date.fromisoformat(day)
            if day
            else (clock.now().astimezone(pay.BEIJING) - timedelta(days=1)).date()
        )
    except ValueError as exc:
        raise typer.BadParameter("use YYYY-MM-DD", param_hint="--date") from exc
    with db.session_scope() as session:
        merchants = pay.list_merchants(session)
    if not merchants:
        err.print("[yellow]no WeChat Pay merchant is configured[/yellow]")
        raise typer.Exit(1)
    differing = 0
    for merchant in merchants:
        try:
            result = flows.reconcile_day(db, flows.clients(), merchant.id, wanted)
        except SiyuError as exc:
            raise _fail(exc) from exc
        table = Table(f"{merchant.mchid} {wanted}", "number", "problem", "siyu", "merchant")
        for diff in result.differences:
            table.add_row(
                diff["kind"],
                diff["number"],
                diff["problem"],
                str(diff["siyu"]),
                str(diff["merchant"]),
            )
        out.print(
            f"{merchant.mchid}: {result.payments} payments, {result.refunds} refunds in the bill; "
            f"{len(result.differences)} differences"
        )
        if result.differences:
            out.print(table)
        differing += len(result.differences)
    if differing:
        raise typer.Exit(3)


@pay_app.command("sweep")
def pay_sweep() -> None:
    """Query late orders and refunds now and resend due refunds (the job does it every minute)."""
    from siyu.wechat.pay import flows

    _settings, db = _setup()
    done = flows.sweep(db, flows.clients())
    out.print(", ".join(f"{k}={v}" for k, v in vars(done).items()))


# --- reach: auto-replies and notices ---------------------------------------------------------


@autoreply_app.command("add")
def autoreply_add(
    appid: Annotated[str, typer.Argument(help="the OA or MP appid")],
    keyword: Annotated[list[str], typer.Option("--keyword", help="a keyword (repeatable)")],
    reply_text: Annotated[str, typer.Option("--reply-text", help="the text to answer")],
    match: Annotated[str, typer.Option("--match", help="exact, contains or regex")] = "exact",
    priority: Annotated[int, typer.Option(help="lower answers first")] = 100,
    tag: Annotated[str | None, typer.Option(help="tag the member on a match")] = None,
    workspace: Annotated[int | None, typer.Option(help="workspace id (default: the first)")] = None,
    as_email: AsOption = None,
) -> None:
    """Add a keyword rule answering with a text."""
    from pydantic import ValidationError

    from siyu.autoreply import service as autoreply
    from siyu.autoreply.schemas import ReplyIn, RuleCreate

    _settings, db = _setup()
    workspace_id = _workspace_id(db, workspace)
    principal = _acting(db, workspace_id, as_email, Permission.autoreply_manage)
    try:
        body = RuleCreate(
            appid=appid,
            match=match,
            keywords=keyword,
            priority=priority,
            reply=ReplyIn(type="text", content=reply_text),
            tag=tag,
        )
        with db.session_scope() as session:
            rule = autoreply.add_rule(session, workspace_id, body, principal)
    except ValidationError as exc:
        err.print(f"[red]autoreply.invalid_rule[/red]: {exc.errors()[0]['msg']}")
        raise typer.Exit(1) from exc
    except SiyuError as exc:
        raise _fail(exc) from exc
    out.print(f"rule {rule.id}: {rule.match} {', '.join(rule.keywords)} → {reply_text}")


@autoreply_app.command("test")
def autoreply_test(
    appid: Annotated[str, typer.Argument(help="the OA or MP appid")],
    message: Annotated[str, typer.Argument(help="what the user writes")],
    workspace: Annotated[int | None, typer.Option(help="workspace id (default: the first)")] = None,
    as_email: AsOption = None,
) -> None:
    """Print the rule a message hits and its reply, or that none does (exit 3)."""
    from siyu.autoreply import service as autoreply

    _settings, db = _setup()
    workspace_id = _workspace_id(db, workspace)
    _acting(db, workspace_id, as_email, Permission.autoreply_manage)
    try:
        with db.session_scope() as session:
            result = autoreply.explain_message(session, workspace_id, appid, message)
    except SiyuError as exc:
        raise _fail(exc) from exc
    if result.rule is None or result.reply is None:
        out.print("no rule matches / 没有规则命中")
        raise typer.Exit(3)
    reply = result.reply
    shown = reply.get("content") or reply.get("title") or reply.get("media_id") or ""
    out.print(f"rule {result.rule.id} ({result.rule.name}, priority {result.rule.priority})")
    out.print(f"reply {reply['type']}: {shown}")


@app.command()
def notify(
    number: Annotated[int, typer.Argument(help="the member number (学号)")],
    template_key: Annotated[str, typer.Argument(help="the notice's template key")],
    data: Annotated[str, typer.Option("--data", help='the values as JSON: {"course": "晨读"}')],
    category: Annotated[str, typer.Option(help="transaction, service, activity…")] = "service",
    urgency: Annotated[str, typer.Option(help="urgent, normal or low")] = "normal",
    dedupe_key: Annotated[str | None, typer.Option("--dedupe-key")] = None,
    workspace: Annotated[int | None, typer.Option(help="workspace id (default: the first)")] = None,
    as_email: AsOption = None,
) -> None:
    """Send a notice by intent: print the channel chosen, or why it was held or dropped."""
    from siyu.identity import service as identity
    from siyu.reach import service

    _settings, db = _setup()
    workspace_id = _workspace_id(db, workspace)
    principal = _acting(db, workspace_id, as_email, Permission.reach_send)
    try:
        values = json.loads(data)
    except ValueError as exc:
        err.print(f"[red]reach.invalid_data[/red]: --data is not JSON ({exc})")
        raise typer.Exit(1) from exc
    if not isinstance(values, dict) or urgency not in ("urgent", "normal", "low"):
        err.print(
            "[red]reach.invalid_data[/red]: --data is a JSON object; urgency urgent|normal|low"
        )
        raise typer.Exit(1)
    try:
        with db.session_scope() as session:
            member = identity.get_member_by_number(session, workspace_id, number)
            intent = service.Intent(
                member_id=member.id,
                template_key=template_key,
                data={str(k): str(v) for k, v in values.items()},
                category=category,
                urgency=urgency,
                dedupe_key=dedupe_key,
            )
            sent = service.notify(session, workspace_id, intent, principal)
    except SiyuError as exc:
        raise _fail(exc) from exc
    if sent.channel:
        out.print(f"send {sent.id}: {sent.status} via {sent.channel}")
    else:
        until = f" until {sent.hold_until.isoformat()}" if sent.hold_until else ""
        out.print(f"send {sent.id}: {sent.status} ({sent.reason}){until}")
        if sent.status == "dropped":
            raise typer.Exit(3)
