"""Settings from `SIYU_` variables and `.env`; default secrets refused outside development."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Development-only values: anyone can read them here, so production refuses them.
DEFAULT_SECRET_KEY = "development-secret-key-do-not-use-in-production"  # noqa: S105
DEFAULT_DATA_KEYS = "dev1:c2l5dS1kZXZlbG9wbWVudC1vbmx5LWRhdGEta2V5ISE"
DEFAULT_LOOKUP_KEY = "development-lookup-key-do-not-use-in-production"


class Settings(BaseSettings):
    """Everything an operator can configure; see README "Configuration"."""

    model_config = SettingsConfigDict(
        env_prefix="SIYU_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    env: Literal["development", "test", "production"] = "production"
    database_url: str = "sqlite:///var/siyu.db"
    redis_url: str | None = None
    data_dir: Path = Path("var")
    queue_path: Path = Path("var/queue.db")
    # On Redis: a worker whose heartbeat is older than this is dead and its running jobs go
    # back to the queue; shorter recovers sooner, longer tolerates longer pauses.
    queue_lease_seconds: float = Field(default=10, ge=1, le=600)
    secret_key: SecretStr = SecretStr(DEFAULT_SECRET_KEY)
    data_keys: SecretStr = Field(
        default=SecretStr(DEFAULT_DATA_KEYS),
        description="Comma-separated `key_id:base64url(32 bytes)`; the first encrypts new values.",
    )
    lookup_key: SecretStr = SecretStr(DEFAULT_LOOKUP_KEY)
    admin_email: str = "owner@siyu.local"
    admin_password: SecretStr | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    worker_threads: int = Field(default=2, ge=1, le=64)
    # Threads per worker process for the jobs that call WeChat (their own lane, core.jobs).
    wechat_threads: int = Field(default=2, ge=1, le=64)
    cookie_secure: bool | None = None
    session_hours: int = Field(default=12, ge=1, le=24 * 30)
    log_json: bool | None = None
    display_timezone: str = "Asia/Shanghai"
    # WeChat's API host; the sandbox's URL in development and tests. Nothing else differs.
    wechat_api_base: str = "https://api.weixin.qq.com"
    # Seconds the gateway waits for WeChat's answer before it counts the call as unanswered.
    wechat_timeout_s: float = Field(default=10, ge=0.5, le=60)
    push_reply_budget_ms: int = Field(default=2000, ge=0, le=4500)
    # A push whose signed timestamp is further than this from now, either way, is refused as
    # a replay (or a clock gone wrong). WeChat waits 5 s for an answer and retries three times
    # (https://developers.weixin.qq.com/doc/service/en/guide/product/message/Receiving_standard_messages.html),
    # so its last retry comes some 20 s after the first try: 300 s leaves room for that and
    # for clocks a few minutes apart. WeChat documents no window of its own (fact sheet §1.3).
    push_timestamp_window_s: int = Field(default=300, ge=30, le=86_400)
    # Ask user/info for a new OA follower's UnionID (joins them to their MP member). Off for
    # accounts not bound to an Open Platform account: the call would only spend quota.
    fetch_follower_unionid: bool = True
    mp_session_hours: int = Field(default=24 * 7, ge=1, le=24 * 90)
    # WeChat Pay v3's host (backup: api2.mch.weixin.qq.com); the sandbox's URL in development.
    wechat_pay_api_base: str = "https://api.mch.weixin.qq.com"
    # Refund calls per second per merchant: WeChat Pay allows 150 (fact sheet §5); 0 lifts
    # the pace (the sandbox, whose limits are not WeChat's, in benchmarks).
    wechat_pay_refund_qps: int = Field(default=150, ge=0, le=10_000)
    # siyu's address as WeChat reaches it (Pay's notify_url); default http://host:port.
    public_url: str | None = None
    # How long a Pay order may be paid (time_expire); WeChat allows 1 minute to 90 days.
    pay_order_minutes: int = Field(default=120, ge=1, le=90 * 24 * 60)
    # Check-in photos from the Mini Program (JPEG, PNG, GIF, WebP) up to this size.
    checkin_image_max_bytes: int = Field(default=5 * 1024 * 1024, ge=1024, le=20 * 1024 * 1024)
    # Serve the sandbox WeChat inside `siyu serve` under /sandbox (development and demos).
    sandbox: bool = False
    # The platform's OA ↔ MP association limits (fact sheet §4; WeChat changes them, so they
    # are settings): MPs one OA may link, of its own entity and of others; new links per
    # month; OAs one MP may be linked to; MPs one entity may register (an individual
    # business fewer).
    entries_oa_same_entity_mps: int = Field(default=10, ge=0)
    entries_oa_other_entity_mps: int = Field(default=3, ge=0)
    entries_oa_links_per_month: int = Field(default=13, ge=0)
    entries_mp_oas: int = Field(default=500, ge=0)
    entries_entity_mps: int = Field(default=50, ge=0)
    entries_individual_business_mps: int = Field(default=5, ge=0)
    # Permanent parametric QR codes per OA (fact sheet §2.3), and the share of it at which
    # creating one warns that the account is running out.
    entries_permanent_qr_cap: int = Field(default=100_000, ge=0)
    entries_permanent_qr_warn_ratio: float = Field(default=0.9, gt=0, le=1)
    # The analytics store: empty for DuckDB in `data_dir/analytics.duckdb` (embedded, no
    # server); `duckdb:///path`, `chdb:///path` (ClickHouse in-process) or
    # `clickhouse://user:password@host:8123/database` (a ClickHouse server or cluster, over HTTP).
    analytics_url: str = ""
    # A report query running longer than this is stopped with a message (seconds).
    analytics_query_budget_s: float = Field(default=10, gt=0, le=600)

    @model_validator(mode="after")
    def _refuse_default_secrets(self) -> Settings:
        if self.env == "development":
            return self
        defaults = {
            "SIYU_SECRET_KEY": (self.secret_key, DEFAULT_SECRET_KEY),
            "SIYU_DATA_KEYS": (self.data_keys, DEFAULT_DATA_KEYS),
            "SIYU_LOOKUP_KEY": (self.lookup_key, DEFAULT_LOOKUP_KEY),
        }
        weak = [
            name
            for name, (value, default) in defaults.items()
            if value.get_secret_value() == default
        ]
        if weak:
            raise ValueError(
                f"{', '.join(weak)} still hold the development defaults; set real secrets "
                "(`siyu keys generate` prints a set) or SIYU_ENV=development on a laptop"
            )
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def secure_cookies(self) -> bool:
        return self.cookie_secure if self.cookie_secure is not None else self.env == "production"

    @property
    def json_logs(self) -> bool:
        return self.log_json if self.log_json is not None else self.env != "development"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()


_installed: Settings | None = None


def install_settings(settings: Settings) -> None:
    """Make these the settings jobs see (the application's, which may not come from the env)."""
    global _installed  # noqa: PLW0603 - one application per process, installed at start-up
    _installed = settings


def current_settings() -> Settings:
    """The installed settings, or the environment's."""
    return _installed or get_settings()
