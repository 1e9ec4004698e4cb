"""`siyu serve` serves over real HTTP with its embedded worker, and stops on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
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


def test_serve_answers_and_stops_on_sigterm(base_settings: Settings, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    upgrade(url)
    port = free_port()
    env = {
        **os.environ,
        "SIYU_ENV": "test",
        "SIYU_DATABASE_URL": url,
        "SIYU_SECRET_KEY": base_settings.secret_key.get_secret_value(),
        "SIYU_DATA_KEYS": base_settings.data_keys.get_secret_value(),
        "SIYU_LOOKUP_KEY": base_settings.lookup_key.get_secret_value(),
        "SIYU_QUEUE_PATH": str(tmp_path / "queue.db"),
        "SIYU_DATA_DIR": str(tmp_path),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "siyu.cli", "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        health = wait_until_up(f"http://127.0.0.1:{port}/healthz", proc, time.monotonic() + 30)
        assert health.json() == {"status": "ok", "database": "sqlite"}
        login = httpx.get(f"http://127.0.0.1:{port}/login", timeout=5)
        assert login.status_code == 200
        proc.send_signal(signal.SIGTERM)
        # Uvicorn shuts down gracefully, then re-raises the signal it caught.
        assert proc.wait(timeout=20) in (0, -signal.SIGTERM)
        assert proc.stderr is not None
        assert "Application shutdown complete" in proc.stderr.read().decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_serve_stops_on_ctrl_c_with_status_0(base_settings: Settings, tmp_path: Path) -> None:
    # given `siyu serve` up; when Ctrl-C reaches it (SIGINT), then it stops with status 0
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    upgrade(url)
    port = free_port()
    env = {
        **os.environ,
        "SIYU_ENV": "test",
        "SIYU_DATABASE_URL": url,
        "SIYU_SECRET_KEY": base_settings.secret_key.get_secret_value(),
        "SIYU_DATA_KEYS": base_settings.data_keys.get_secret_value(),
        "SIYU_LOOKUP_KEY": base_settings.lookup_key.get_secret_value(),
        "SIYU_QUEUE_PATH": str(tmp_path / "queue.db"),
        "SIYU_DATA_DIR": str(tmp_path),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "siyu.cli", "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/healthz", proc, time.monotonic() + 30)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
        assert proc.stderr is not None
        assert "Traceback" not in proc.stderr.read().decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
