"""Every setting the bot reads, from the environment or `.env`.

Each field here is listed, with a comment, in `.env.example`; a test keeps the
two in step. A wrong value is reported by the setting's name (see
`load_settings`), never as a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class SettingsError(Exception):
    """One or more settings are missing or have a wrong value; the message names them."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        # `NAME=` (as in .env.example) means "not set": use the default. Otherwise an empty
        # DISCORD_TEST_GUILD_ID is a bad integer and an empty DATABASE_PATH becomes Path(".").
        env_ignore_empty=True,
    )

    # --- Discord -------------------------------------------------------------
    discord_token: SecretStr | None = None
    discord_api_base_url: str = ""  # only for a local Discord stand-in
    discord_test_guild_id: int | None = None
    owner_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)

    # --- Storage -------------------------------------------------------------
    data_dir: Path = Path("data")
    database_path: Path | None = None  # default: DATA_DIR/bot.sqlite3
    db_busy_retry_seconds: float = Field(default=30.0, ge=0)  # how long to retry while another process locks the database
    # empty or sqlite:///file: SQLite (DATABASE_PATH); postgresql://user:password@host/db: PostgreSQL,
    # which several bot processes can share (see "Running at scale" in README.md)
    database_url: SecretStr | None = None
    job_lease_seconds: float = Field(default=30.0, ge=3)  # a dead process's jobs are taken over after this

    # --- Sharding (several processes) -------------------------------------------
    shard_count: int | None = Field(default=None, ge=1)  # empty: one process, Discord's recommended count
    shard_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)  # this process's shards; empty: all

    # --- Web server (callbacks, /healthz, media for providers) ---------------
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=8080, ge=0, le=65535)
    public_url: str = ""
    callback_secret: SecretStr | None = None
    callback_max_bytes: int = Field(default=1_000_000, ge=1024)
    # a day: longer than any job may run, and a result link is usually opened the day it is posted
    media_link_ttl_seconds: int = Field(default=24 * 3600, ge=60)
    # Inputs and results of finished jobs stay in DATA_DIR this long (remix buttons, result links); 0 = not kept.
    result_retention_days: float = Field(default=30.0, ge=0)
    web_keepalive_timeout_seconds: float = Field(default=15.0, gt=0, le=3600)  # also the deadline for headers
    web_body_timeout_seconds: float = Field(default=10.0, gt=0, le=600)
    metrics_token: SecretStr | None = None  # empty: /metrics needs no token

    # --- Providers -----------------------------------------------------------
    default_provider: str = ""  # empty: first provider with credentials, else simulator
    provider_failover: bool = False
    provider_max_concurrency: int = Field(default=4, ge=1)
    http_timeout_seconds: float = Field(default=60.0, gt=0)
    http_max_retries: int = Field(default=3, ge=0, le=10)
    poll_interval_seconds: float = Field(default=10.0, gt=0)
    poll_max_interval_seconds: float = Field(default=60.0, gt=0)
    callback_fallback_poll_seconds: float = Field(default=90.0, gt=0)
    job_timeout_minutes: float = Field(default=60.0, gt=0)
    # A provider's Retry-After up to this is slept on; a longer one reschedules the job instead.
    retry_after_max_sleep_seconds: float = Field(default=30.0, ge=0)

    simulator_delay_seconds: float = Field(default=5.0, ge=0)
    simulator_failure: Literal["", "content_policy", "outage", "bad_input", "balance"] = ""

    kling_access_key: SecretStr | None = None
    kling_secret_key: SecretStr | None = None
    kling_base_url: str = "https://api-singapore.klingai.com"
    kling_model: str = "kling-v2-6"

    goapi_api_key: SecretStr | None = None
    goapi_base_url: str = "https://api.goapi.ai"

    useapi_token: SecretStr | None = None
    useapi_email: str = ""
    useapi_base_url: str = "https://api.useapi.net/v1/kling"

    modelslab_api_key: SecretStr | None = None
    modelslab_base_url: str = "https://modelslab.com"

    # Input images: a memory limit of ours, checked from the header before decoding (bot/media.py).
    # At least 300×300, the smallest picture a provider takes.
    max_image_pixels: int = Field(default=40_000_000, ge=300 * 300)

    # Downloads (provider results; Discord attachments keep their own caps from bot/limits.py)
    result_max_bytes: int = Field(default=500_000_000, ge=1_000_000)
    download_timeout_seconds: float = Field(default=600.0, gt=0)
    download_stall_seconds: float = Field(default=30.0, gt=0)
    download_max_redirects: int = Field(default=5, ge=0, le=20)

    # --- Quotas and budgets (credits) ---------------------------------------
    user_daily_credits: int = Field(default=60, ge=0)
    guild_daily_credits: int = Field(default=0, ge=0)  # 0 = no guild budget
    global_daily_credits: int = Field(default=0, ge=0)  # 0 = no global budget
    max_active_jobs_per_user: int = Field(default=2, ge=1)
    guild_max_active_jobs: int = Field(default=0, ge=0)  # 0 = no per-server limit (/admin budget jobs overrides)

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("owner_ids", "shard_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        # Accept "1,2,3" as well as a JSON list.
        if isinstance(value, str):
            return [int(part) for part in value.replace(" ", "").split(",") if part]
        if isinstance(value, int):
            return [value]
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator(
        "public_url",
        "discord_api_base_url",
        "kling_base_url",
        "goapi_base_url",
        "useapi_base_url",
        "modelslab_base_url",
    )
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @model_validator(mode="after")
    def _shards_fit(self) -> Settings:
        if self.shard_ids and self.shard_count is None:
            raise ValueError("SHARD_IDS needs SHARD_COUNT")
        if self.shard_count is not None and any(i < 0 or i >= self.shard_count for i in self.shard_ids):
            raise ValueError(f"SHARD_IDS must each be below SHARD_COUNT ({self.shard_count})")
        return self

    @property
    def db_path(self) -> Path:
        return self.database_path or self.data_dir / "bot.sqlite3"

    @property
    def database(self) -> Path | str:
        """What the store opens: DATABASE_URL when set (a PostgreSQL or sqlite:/// URL), else the SQLite file."""
        url = self.database_url.get_secret_value().strip() if self.database_url else ""
        if not url:
            return self.db_path
        if not url.startswith(("sqlite:///", "postgresql://", "postgres://")):
            # Checked here, not by a validator: the URL is a secret (it holds a password), and
            # secrets are never echoed back in a validation message.
            raise SettingsError("Bad setting: DATABASE_URL: must start with sqlite:/// or postgresql://")
        return url


def load_settings(**overrides: object) -> Settings:
    """Read settings; raise SettingsError naming every bad setting by its env name."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = str(err["loc"][0]).upper() if err["loc"] else "?"
            given = err.get("input")
            shown = "" if isinstance(given, dict) or given is None else f" (got {given!r})"
            lines.append(f"{name}: {err['msg']}{shown}")
        raise SettingsError("Bad setting: " + "; ".join(lines)) from None
