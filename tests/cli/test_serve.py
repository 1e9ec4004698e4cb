"""`siyu serve` serves over real HTTP with its embedded worker, and stops on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from siyu.core.config import Settings
from siyu.migrations import upgrade


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, proc: subprocess.Popen[bytes], deadline: float) -> httpx.Response:
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "exited"
        try:
            return httpx.get(url, timeout=1)
        except httpx.TransportError:
            time.sleep(0.1)  # polling a starting server, not timing a result
    raise AssertionError(f"{url} did not answer in time")


def _env(base_settings: Settings, tmp_path: Path, **extra: str) -> dict[str, str]:
    """What `siyu serve` reads, for a database in `tmp_path`."""
    return {
        **{k: v for k, v in os.environ.items() if k not in ("SIYU_PORT", "SIYU_PUBLIC_URL")},
        "SIYU_ENV": "test",
        "SIYU_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}",
        "SIYU_SECRET_KEY": base_settings.secret_key.get_secret_value(),
        "SIYU_DATA_KEYS": base_settings.data_keys.get_secret_value(),
        "SIYU_LOOKUP_KEY": base_settings.lookup_key.get_secret_value(),
        "SIYU_QUEUE_PATH": str(tmp_path / "queue.db"),
        "SIYU_DATA_DIR": str(tmp_path),
        **extra,
    }


@contextmanager
def _serving(env: dict[str, str], cwd: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """`siyu serve` on a free port, answering; killed on the way out if it still runs."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "siyu.cli", "serve", "--port", str(port)],
        env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        wait_until_up(f"http://127.0.0.1:{port}/healthz", proc, time.monotonic() + 30)
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _stderr(proc: subprocess.Popen[bytes]) -> str:
    assert proc.stderr is not None
    return proc.stderr.read().decode()


def test_serve_answers_and_stops_on_sigterm(base_settings: Settings, tmp_path: Path) -> None:
    env = _env(base_settings, tmp_path)
    upgrade(env["SIYU_DATABASE_URL"])
    with _serving(env, tmp_path) as (proc, port):
        health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert health.json() == {"status": "ok", "database": "sqlite"}
        login = httpx.get(f"http://127.0.0.1:{port}/login", timeout=5)
        assert login.status_code == 200
        proc.send_signal(signal.SIGTERM)
        # Uvicorn shuts down gracefully, then re-raises the signal it caught.
        assert proc.wait(timeout=20) in (0, -signal.SIGTERM)
        assert "Application shutdown complete" in _stderr(proc)


def test_serve_stops_on_ctrl_c_with_status_0(base_settings: Settings, tmp_path: Path) -> None:
    # given `siyu serve` up; when Ctrl-C reaches it (SIGINT), then it stops with status 0
    env = _env(base_settings, tmp_path)
    upgrade(env["SIYU_DATABASE_URL"])
    with _serving(env, tmp_path) as (proc, _port):
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
        assert "Traceback" not in _stderr(proc)


def test_serve_on_another_port_moves_the_demo_merchants_notify_url_to_it(
    base_settings: Settings, tmp_path: Path
) -> None:
    # given `bootstrap --demo` without SIYU_PORT (its merchant's notify URL names port 8000)
    from sqlalchemy import select

    from siyu.core.db import Database
    from siyu.wechat.pay.models import PayMerchant

    env = _env(base_settings, tmp_path, SIYU_SANDBOX="true", SIYU_ADMIN_EMAIL="boss@example.com")
    url = env["SIYU_DATABASE_URL"]
    upgrade(url)
    boot = subprocess.run(
        [sys.executable, "-m", "siyu.cli", "bootstrap", "--demo"],
        env=env, cwd=tmp_path, capture_output=True, check=False,
    )  # fmt: skip
    assert boot.returncode == 0, boot.stderr.decode()
    database = Database(url)

    def notify_urls() -> dict[str, str]:
        with database.session_scope() as session:
            rows = session.execute(select(PayMerchant.mchid, PayMerchant.notify_url))
            return {str(mchid): str(url) for mchid, url in rows}

    (mchid, before), *_ = notify_urls().items()
    assert before == f"http://127.0.0.1:8000/wechat/pay/notify/{mchid}"
    # when `siyu serve --port P` starts
    try:
        with _serving(env, tmp_path) as (proc, port):
            # then WeChat Pay is told to notify port P, and the sandbox knows the same merchant
            assert notify_urls() == {mchid: f"http://127.0.0.1:{port}/wechat/pay/notify/{mchid}"}
            known = httpx.get(
                f"http://127.0.0.1:{port}/sandbox/sandbox-admin/pay/merchants/{mchid}"
            )
            assert known.status_code == 200
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=20) in (0, -signal.SIGTERM)
    finally:
        database.dispose()
    # and the sandbox's world was saved at shutdown, with that merchant in it
    saved = json.loads((tmp_path / "sandbox-world.json").read_text(encoding="utf-8"))
    assert list(saved["pay"]["merchants"]) == [mchid]
