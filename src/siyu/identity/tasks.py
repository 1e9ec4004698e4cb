"""Jobs of the identity domain."""

from __future__ import annotations

from siyu.core.db import get_database
from siyu.core.jobs import job
from siyu.identity import service


@job("identity.run_import", retries=2, retry_delay=10)
def run_import(import_id: int) -> None:
    service.run_import(get_database(), import_id)
