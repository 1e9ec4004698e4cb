"""Members' jobs, registered by name."""

from __future__ import annotations
