"""Settings changed for one test, installed where jobs read them as the application installs its
own, with no WeChat token cached from an earlier configuration."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from siyu.core.config import Settings, install_settings
from siyu.wechat import tokens


@contextmanager
def installed(settings: Settings, **update: Any) -> Iterator[Settings]:
    """`settings` with `update`, installed (and a gateway per configuration: no token of an
    earlier world); `settings` installed again after."""
    changed = settings.model_copy(update=update)
    install_settings(changed)
    tokens._shared.clear()
    try:
        yield changed
    finally:
        install_settings(settings)
        tokens._shared.clear()
