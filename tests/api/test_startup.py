"""What the application does once, when a server process starts."""

from __future__ import annotations

import gc

from fastapi.testclient import TestClient

from siyu.api.app import create_app
from siyu.core.config import Settings
from siyu.core.db import Database


def test_start_up_puts_its_heap_out_of_the_collectors_sight(
    settings: Settings, db: Database
) -> None:
    # Full collections would walk the start-up objects again and again, pausing every request.
    with TestClient(create_app(settings, db)) as client:
        assert client.get("/healthz").status_code == 200
        assert gc.get_freeze_count() > 10_000
