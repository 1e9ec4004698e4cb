"""Settings refuse the development secrets outside development."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from siyu.core.config import Settings
from siyu.core.crypto import generate_data_key


def test_production_refuses_default_secrets() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(env="production", _env_file=None)
    message = str(caught.value)
    assert "SIYU_SECRET_KEY" in message
    assert "SIYU_DATA_KEYS" in message
    assert "SIYU_LOOKUP_KEY" in message


def test_production_names_only_the_secret_left_default() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(
            env="production",
            secret_key="x" * 40,
            data_keys=f"k1:{generate_data_key()}",
            _env_file=None,
        )
    assert "SIYU_LOOKUP_KEY" in str(caught.value)
    assert "SIYU_SECRET_KEY" not in str(caught.value)


def test_development_accepts_defaults() -> None:
    settings = Settings(env="development", _env_file=None)
    assert settings.is_sqlite
    assert settings.secure_cookies is False


def test_environment_variables_configure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIYU_ENV", "development")
    monkeypatch.setenv("SIYU_DATABASE_URL", "postgresql://u@h/db")
    monkeypatch.setenv("SIYU_PORT", "9000")
    settings = Settings(_env_file=None)
    assert settings.database_url == "postgresql://u@h/db"
    assert settings.port == 9000
    assert not settings.is_sqlite


def test_out_of_range_port_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIYU_ENV", "development")
    monkeypatch.setenv("SIYU_PORT", "70000")
    with pytest.raises(ValidationError, match="port"):
        Settings(_env_file=None)
