"""Helpers tests import (plain functions and classes); fixtures live in `tests/fixtures/`."""
