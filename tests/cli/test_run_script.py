"""`make run`'s script as a person runs it: it ends with the console's address and the owner's
sign-in (a one-time password, replaced on the next run if nobody used it), and Ctrl-C (SIGINT
to the whole process group, as a terminal sends it) stops it with exit status 0; `make run`
itself, in a terminal, stops on Ctrl-C with status 0 and no `make: ***` line."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import signal
import socket
import subprocess
import termios
import threading
import time
from pathlib import Path

import httpx
import pytest

from siyu.core.config import Settings

ROOT = Path(__file__).resolve().parents[2]
BANNER_END = "Ctrl-C stops siyu."


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Run:
    """scripts/run.sh in its own process group, its output collected line by line."""

    def __init__(self, env: dict[str, str]) -> None:
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            ["bash", "scripts/run.sh"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own group: SIGINT reaches it as a terminal sends it
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, deadline_s: float) -> None:
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            if any(text in line for line in self.lines):
                return
            if self.proc.poll() is not None:
                self.reader.join(timeout=5)
                raise AssertionError("run.sh exited early:\n" + "\n".join(self.lines[-40:]))
            time.sleep(0.1)  # polling a starting process, not timing a result
        raise AssertionError(f"no {text!r} in time:\n" + "\n".join(self.lines[-40:]))

    def interrupt(self) -> int:
        os.killpg(self.proc.pid, signal.SIGINT)
        code = self.proc.wait(timeout=60)
        self.reader.join(timeout=5)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def _take_terminal() -> None:
    """In the child, after setsid: stdin (a pty's slave) becomes its controlling terminal."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class _Terminal:
    """A command in a terminal of its own (a pseudo-terminal), as a person runs it: Ctrl-C is
    typed, and the terminal sends SIGINT to whichever process group holds it."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.master, slave = pty.openpty()
        self.output = bytearray()
        self.proc = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdin=slave, stdout=slave, stderr=slave,
            start_new_session=True, preexec_fn=_take_terminal,  # noqa: PLW1509
        )  # fmt: skip
        os.close(slave)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # EIO: every process holding the terminal has exited
                return
            if not chunk:
                return
            self.output += chunk

    @property
    def text(self) -> str:
        return bytes(self.output).decode("utf-8", errors="replace")

    def wait_for(self, text: str, deadline_s: float) -> None:
        deadline = time.monotonic() + deadline_s
        while text not in self.text:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"no {text!r}:\n{self.text[-3000:]}")
            time.sleep(0.1)  # polling a starting process, not timing a result

    def ctrl_c(self) -> int:
        os.write(self.master, b"\x03")
        code = self.proc.wait(timeout=60)
        self.reader.join(timeout=5)
        return code

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        os.close(self.master)


@pytest.fixture
def run_env(base_settings: Settings, tmp_path: Path) -> dict[str, str]:
    port = _free_port()
    return {
        **os.environ,
        "SIYU_ENV": "development",
        "SIYU_SANDBOX": "true",
        "SIYU_SIMULATE": "false",  # the simulated week takes a minute: its banner is the same
        "SIYU_PORT": str(port),
        "SIYU_DATABASE_URL": f"sqlite:///{tmp_path / 'run.db'}",
        "SIYU_SECRET_KEY": base_settings.secret_key.get_secret_value(),
        "SIYU_DATA_KEYS": base_settings.data_keys.get_secret_value(),
        "SIYU_LOOKUP_KEY": base_settings.lookup_key.get_secret_value(),
        "SIYU_QUEUE_PATH": str(tmp_path / "queue.db"),
        "SIYU_DATA_DIR": str(tmp_path),
        "SIYU_ADMIN_EMAIL": "boss@example.com",
    }


def _banner(lines: list[str]) -> list[str]:
    end = max(i for i, line in enumerate(lines) if BANNER_END in line)
    start = max(i for i, line in enumerate(lines[:end]) if "siyu console:" in line)
    return lines[start : end + 1]


def test_run_ends_with_the_sign_in_and_stops_with_status_0_on_ctrl_c(
    run_env: dict[str, str],
) -> None:
    # given `make run` on a fresh database
    first = _Run(run_env)
    try:
        first.wait_for(BANNER_END, 120)
        # then its last words are the console's URL and the owner's one-time sign-in
        banner = _banner(first.lines)
        assert f"http://127.0.0.1:{run_env['SIYU_PORT']}/" in banner[0]
        found = re.search(r"boss@example\.com with the one-time password (\S+)", "\n".join(banner))
        assert found is not None, banner
        # when Ctrl-C is pressed, then it stops with exit status 0
        assert first.interrupt() == 0, "\n".join(first.lines[-20:])
    finally:
        first.kill()
    # given a second run while nobody used that password: a fresh one replaces it
    second = _Run(run_env)
    try:
        second.wait_for(BANNER_END, 120)
        again = re.search(r"one-time password (\S+)", "\n".join(_banner(second.lines)))
        assert again is not None
        assert again.group(1) != found.group(1)
        assert second.interrupt() == 0
    finally:
        second.kill()


def test_a_second_run_loads_the_saved_sandbox_world_and_does_not_replay_the_week(
    run_env: dict[str, str], tmp_path: Path
) -> None:
    # given a first run whose sandbox world gained two users, stopped with Ctrl-C
    sandbox = f"http://127.0.0.1:{run_env['SIYU_PORT']}/sandbox/sandbox-admin"
    first = _Run(run_env)
    try:
        first.wait_for(BANNER_END, 120)
        made = httpx.post(f"{sandbox}/users", json={"count": 2, "seed": 5}, timeout=10)
        assert made.status_code == 200
        assert first.interrupt() == 0, "\n".join(first.lines[-20:])
    finally:
        first.kill()
    saved = tmp_path / "sandbox-world.json"
    assert saved.exists()
    # when `make run` starts again, simulation on
    second = _Run({**run_env, "SIYU_SIMULATE": "true"})
    try:
        second.wait_for(BANNER_END, 120)
        users = httpx.get(f"{sandbox}/users", timeout=10).json()
        assert second.interrupt() == 0, "\n".join(second.lines[-20:])
    finally:
        second.kill()
    # then the world is the saved one and the simulated week was not replayed into it
    assert [(u["uid"], u["nickname"], u["phone"]) for u in users] == [
        (u["uid"], u["nickname"], u["phone"]) for u in made.json()
    ]
    assert any("sandbox world restored from" in line for line in second.lines)
    assert not any("simulating a week" in line for line in second.lines)


def test_make_run_in_a_terminal_stops_on_ctrl_c_with_status_0(run_env: dict[str, str]) -> None:
    # given `make run` in a terminal, up (set up already: its setup targets are not remade, and
    # no .env is written, the settings come from the environment)
    argv = ["make", "--no-print-directory", "-o", ".env", "-o", "install", "-o", "assets", "run"]
    terminal = _Terminal(argv, run_env)
    try:
        terminal.wait_for(BANNER_END, 120)
        # when Ctrl-C is typed
        code = terminal.ctrl_c()
        # then siyu stops, and make with it, with exit status 0 and no "make: ***" error
        assert code == 0, terminal.text[-3000:]
        assert "stopping siyu" in terminal.text
        assert "make: ***" not in terminal.text, terminal.text[-3000:]
    finally:
        terminal.close()
