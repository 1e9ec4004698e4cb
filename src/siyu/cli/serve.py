"""`siyu migrate`, `bootstrap`, `serve` and `worker`: set a deployment up and run it; with
SIYU_SANDBOX, the demo apps and merchant and the sandbox WeChat wired to them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from siyu.cli.common import choose_workspace, out, setup

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from fastapi import FastAPI
    from sqlalchemy.orm import Session

    from siyu.core.db import Database


def migrate() -> None:
    """Bring the database schema up to date (SQLite file or PostgreSQL)."""
    from siyu.migrations import upgrade

    settings, _db = setup()
    upgrade(settings.database_url)
    out.print(f"[green]✓[/green] database at head ({settings.database_url.split('@')[-1]})")


def _demo_apps(db: Database, workspace_id: int) -> None:
    """A service account and a mini program with fresh credentials, for the sandbox WeChat."""
    import secrets

    from siyu.workspaces import service as workspaces
    from siyu.workspaces.enums import AppKind
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
    from siyu.community import service

    with db.session_scope() as session:
        created = service.create_demo_matrix(session, workspace_id)
    if created is not None:
        out.print(f"demo activity: {created.code} “{created.title}” (open, deposit ¥9.90)")


def _demo_merchant(session: Session, workspace_id: int) -> None:
    """A WeChat Pay merchant with fresh keys; `serve` introduces it to the sandbox, whose
    platform key then replaces the placeholder."""
    import secrets

    from siyu.core.config import get_settings
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


def bootstrap(
    demo: Annotated[bool, typer.Option(help="also register a demo OA and MP (sandbox)")] = False,
    signin_file: Annotated[
        Path | None,
        typer.Option(
            help=(
                "write the owner's sign-in here (for `make run` to show again); an unused "
                "one-time password is replaced by a fresh one"
            )
        ),
    ] = None,
) -> None:
    """Create the first workspace and its owner; print a one-time password if one was made."""
    from siyu.security import service as security

    settings, db = setup()
    workspace_id = choose_workspace(db, None)
    if demo:
        _demo_apps(db, workspace_id)
        _demo_community(db, workspace_id)
    password = settings.admin_password.get_secret_value() if settings.admin_password else None
    with db.session_scope() as session:
        result = security.bootstrap_owner(session, workspace_id, settings.admin_email, password)
    one_time = result.password
    if not result.created:
        out.print("owner exists already; nothing to do")
        if signin_file is not None:
            one_time = _fresh_one_time(db, workspace_id, settings.admin_email)
    elif result.password:
        out.print(f"[bold]owner created[/bold]: {result.owner_email}")
        out.print(
            f"[bold yellow]one-time password: {result.password}[/bold yellow] "
            "(shown once; you choose your own at the first sign-in)"
        )
    else:
        out.print(
            f"[bold]owner created[/bold]: {result.owner_email} (password from SIYU_ADMIN_PASSWORD)"
        )
    if signin_file is not None:
        signin_file.write_text(_signin_lines(settings.admin_email, one_time, password is not None))


def _fresh_one_time(db: Database, workspace_id: int, email: str) -> str | None:
    """A new one-time password for an owner who never used theirs (it scrolled away on an
    earlier run); None when they set their own, which stays theirs."""
    from siyu.security import service as security

    with db.session_scope() as session:
        owner = security.get_operator_by_email(session, email)
        if owner is None or not owner.password_one_time or owner.disabled_at is not None:
            return None
        actor = security.principal_for_cli(session, owner.workspace_id)
        return security.reset_password(session, actor, owner.id).one_time_password


def _signin_lines(email: str, one_time: str | None, configured: bool) -> str:
    if one_time is not None:
        return (
            f"sign in as {email} with the one-time password {one_time}\n"
            "(you choose your own password at once; 首次登录后请设置自己的密码)\n"
        )
    if configured:
        return f"sign in as {email} with the password in SIYU_ADMIN_PASSWORD\n"
    return (
        f"sign in as {email} with the password you chose\n"
        f"(forgot it? .venv/bin/siyu operators reset-password {email})\n"
    )


def serve(
    host: Annotated[str | None, typer.Option(help="address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="port to listen on")] = None,
    worker: Annotated[bool, typer.Option(help="run job consumer threads in this process")] = True,
) -> None:
    """Serve the API and the console, with an embedded job worker."""
    import uvicorn

    from siyu.api.app import create_app
    from siyu.core.config import Settings

    settings, db = setup()
    host, port = host or settings.host, port or settings.port
    # The port served is the one the application names itself by (a merchant's default notify
    # URL is built from settings.host and settings.port), not SIYU_PORT's default.
    settings = settings.model_copy(update={"host": host, "port": port})
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"  # noqa: S104
    default_base = Settings.model_fields["wechat_api_base"].default
    if settings.sandbox and settings.wechat_api_base == default_base:
        settings = settings.model_copy(update={"wechat_api_base": f"{url}/sandbox"})
    default_pay = Settings.model_fields["wechat_pay_api_base"].default
    if settings.sandbox and settings.wechat_pay_api_base == default_pay:
        settings = settings.model_copy(update={"wechat_pay_api_base": f"{url}/sandbox"})
    application = create_app(settings, db, embedded_worker=worker)
    if settings.sandbox:
        if settings.public_url is None:
            _follow_port(db, url)
        from siyu.sandbox.snapshot import FILE_NAME

        _wire_sandbox(application, db, url, settings.data_dir / FILE_NAME)
        out.print(f"sandbox WeChat: {url}/sandbox (siyu's gateway calls it)")
    out.print(f"siyu console: {url}/")
    try:
        uvicorn.run(application, host=host, port=port, log_level="info", access_log=False)
    except KeyboardInterrupt:
        # Uvicorn shut down gracefully on Ctrl-C, then re-raised it: a stop asked for, not a
        # crash, so the exit status is 0 (and `make run` prints no "Error").
        out.print("siyu stopped")


def _follow_port(db: Database, url: str) -> None:
    """Merchants whose default notify URL names this machine on another port (registered by
    `bootstrap` before `serve --port P`) get this server's: WeChat Pay must reach it."""
    from siyu.wechat.pay import service as pay

    with db.session_scope() as session:
        for merchant in pay.follow_local_base(session, url):
            out.print(f"merchant {merchant.mchid}: notify URL now {merchant.notify_url}")


def _wire_sandbox(application: FastAPI, db: Database, url: str, state_file: Path) -> FastAPI:
    """Mount the sandbox WeChat (its world loaded from `state_file` if a previous run saved
    one) and register every OA and MP of siyu with it."""
    from siyu.sandbox.app import mount_sandbox
    from siyu.sandbox.snapshot import SnapshotError
    from siyu.sandbox.world import AccountSpec
    from siyu.workspaces import service as workspaces

    try:
        sandbox = mount_sandbox(application, siyu_url=url, state_file=state_file)
    except SnapshotError as exc:
        out.print(f"[red]{exc}[/red]: move it away to start the sandbox with a new world")
        raise typer.Exit(1) from exc
    _stop_with(application, sandbox)
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
                mode="plain"
                if cred.push_mode == "plaintext"
                else ("secure" if cred.push_mode == "secure" else "compatible"),
                linked_mps=linked if app.kind != "mp" else [],
                unionid_scope=f"workspace-{app.workspace_id}",
            )
        )
    _wire_sandbox_pay(sandbox, db, apps)
    return sandbox


def _stop_with(application: FastAPI, sandbox: FastAPI) -> None:
    """Stop the mounted sandbox (its world saved) when siyu's app shuts down: a mounted app's
    own lifespan never runs, and after SIGTERM uvicorn ends the process by re-raising the
    signal, so code after `uvicorn.run` would not run."""
    from contextlib import asynccontextmanager

    from siyu.sandbox.app import stop_ticking

    inner = application.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[Any]:
        async with inner(app) as state:
            yield state
        stop_ticking(sandbox)

    application.router.lifespan_context = lifespan


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


def worker(
    workers: Annotated[int, typer.Option(help="worker threads in this process")] = 4,
) -> None:
    """Run a job worker (start several, on several machines, with SIYU_REDIS_URL)."""
    from siyu.worker import consumer, lane_consumer

    settings, _db = setup()
    calls = lane_consumer(settings.wechat_threads)  # WeChat's calls: threads of their own
    calls.start()
    try:
        consumer(workers).run()
    finally:
        calls.stop(graceful=True)
