"""Entries in the worker: the arrival subscribers must be on the bus of the process that runs
the push-processing jobs, so importing this module (listed in `siyu.worker.TASK_MODULES`)
installs them."""

from __future__ import annotations

from siyu.entries import arrivals

arrivals.install()
