"""`siyu --help` stays fast: listing the commands imports no web stack, job queue, sandbox or
domain service; each command imports what it needs when it runs."""

from __future__ import annotations

import subprocess
import sys

HEAVY = (
    "fastapi",
    "uvicorn",
    "huey",
    "httpx",
    "siyu.wiring",
    "siyu.api",
    "siyu.sandbox.app",
    "siyu.identity.service",
    "siyu.community.service",
    "siyu.reach.service",
    "siyu.entries.service",
    "siyu.wechat.pay.service",
)


def test_importing_the_root_command_imports_nothing_heavy() -> None:
    # Given a fresh interpreter (this one has imported everything already)
    probe = (
        "import sys, siyu.cli.main\n"
        f"heavy = {HEAVY!r}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy or m in heavy"
        " or any(m.startswith(h + '.') for h in heavy)))\n"
    )
    # When it imports the root command, as `siyu --help` does
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    # Then none of the heavy modules came with it
    assert loaded.stdout.strip() == "[]"
