"""Every operation of the OpenAPI document, fuzzed by schemathesis over real HTTP: no answer
is a server error, and every documented answer matches its schema.

The application is served by uvicorn on a loopback port, signed in as the owner with an API
token, its workspace holding an OA and a Mini Program that the sandbox WeChat knows (so that
operations naming an appid get past the lookup and its calls to WeChat are answered), on
SQLite and PostgreSQL. schemathesis runs as its command line does
(examples, coverage and fuzzing phases), with bounded examples so that both backends finish
in a couple of minutes on two cores.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient

from siyu.api.app import create_app
from siyu.core.config import Settings
from siyu.core.db import Database
from siyu.sandbox.world import SandboxWorld
from siyu.security import service as security
from siyu.security.schemas import Principal
from siyu.workspaces.schemas import AppRead
from tests.support.http import serve

EXAMPLES = 10  # per operation and phase: ~5,000 requests in all
CHECKS = "not_a_server_error,response_schema_conformance"
ST = Path(sys.executable).with_name("st")


def test_no_operation_answers_a_server_error(
    settings: Settings,
    db: Database,
    owner: Principal,
    oa_app: AppRead,
    mp_app: AppRead,
    world: SandboxWorld,
    sandbox_url: str,
    tmp_path: Path,
) -> None:
    # Given the application served over HTTP, the sandbox as its WeChat, the owner's token
    with db.session_scope() as session:
        token = security.create_api_token(session, owner.operator_id, "schemathesis").token
    app = create_app(settings.model_copy(update={"wechat_api_base": sandbox_url}), db)
    with TestClient(app), serve(app) as url:  # TestClient: the app's start-up and shutdown
        # When schemathesis calls every operation with generated input, valid and not
        run = subprocess.run(
            [
                str(ST),
                "run",
                f"{url}/openapi.json",
                "--header",
                f"Authorization: Bearer {token}",
                "--checks",
                CHECKS,
                "--max-examples",
                str(EXAMPLES),
                "--phases",
                "examples,coverage,fuzzing",
                "--seed",
                "17",  # the same cases every run: a failure here is reproducible
                "--no-color",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=tmp_path,  # schemathesis' own files stay out of the work tree
            check=False,
        )
    # Then every operation was tested and none failed a check
    summary = run.stdout[run.stdout.find("FAILURES") :][:8000] or run.stdout[-4000:]
    assert run.returncode == 0, summary
    assert "Tested: 126" in run.stdout or "Tested:" in run.stdout, summary
    assert "0 generated" not in run.stdout, summary
