"""Settings from the environment and `.env`, validated once at start (SPEC.md, "Running it")."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
TOKEN_RE = re.compile(r"^\d{3,}:[A-Za-z0-9_-]{20,}$")


class SettingsError(Exception):
    """A setting we cannot run with; the message is one line saying what to set."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    bot_token: str = ""
    bot_api_base_url: str = "https://api.telegram.org/bot"
    database_url: str = "sqlite:///timebank.sqlite3"
    webhook_url: str | None = None
    port: int = 8080
    webhook_secret: str | None = None
    default_language: str = "en"
    bot_admins: Annotated[frozenset[int], NoDecode] = frozenset()
    log_level: str = "INFO"

    @field_validator("bot_admins", mode="before")
    @classmethod
    def _split_admins(cls, value: object) -> object:
        # "1,2 3" in the environment; a list when built in code.
        if isinstance(value, str):
            return frozenset(int(part) for part in re.split(r"[,\s]+", value.strip()) if part)
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _known_level(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().upper() not in LOG_LEVELS:
            raise ValueError(f"use one of {', '.join(LOG_LEVELS)} (got {value!r})")
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("webhook_url", "webhook_secret", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @property
    def database_path(self) -> Path:
        return database_path(self.database_url)


def database_path(url: str) -> Path:
    """`sqlite:///relative.db` or `sqlite:////absolute/path.db` → a filesystem path."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or len(url) == len(prefix):
        raise SettingsError(
            f"DATABASE_URL must look like sqlite:///timebank.sqlite3 (got {url!r}); set it to a SQLite file path."
        )
    return Path(url[len(prefix):])


def load_settings(*, require_token: bool = True, **overrides: object) -> Settings:
    """Read and check the settings; raise SettingsError with one clear line otherwise."""
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        err = exc.errors()[0]
        name = str(err["loc"][0]).upper() if err["loc"] else "a setting"
        raise SettingsError(f"{name} is not valid: {err['msg']}.") from None
    if require_token and not settings.bot_token:
        raise SettingsError(
            "BOT_TOKEN is not set: create a bot with @BotFather in Telegram, then set BOT_TOKEN=<the token it "
            "gives> in the environment or in .env."
        )
    if require_token and not TOKEN_RE.match(settings.bot_token):
        raise SettingsError(
            "BOT_TOKEN does not look like a bot token (it should look like 123456789:AAE...); copy it again "
            "from @BotFather."
        )
    if settings.default_language.split("-")[0].lower() != settings.default_language:
        raise SettingsError("DEFAULT_LANGUAGE must be a language code such as en or es.")
    database_path(settings.database_url)
    return settings
