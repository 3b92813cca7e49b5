"""Settings from the environment and `.env`, validated once at start (SPEC.md, "Running it").

pydantic-settings reads them (the project's design card); the checks that need more than one
setting, and where the ledger lives, are plain functions below.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
TOKEN_RE = re.compile(r"^\d{3,}:[A-Za-z0-9_-]{20,}$")
# What Telegram accepts as a webhook's secret_token (setWebhook): 1-256 of these characters.
WEBHOOK_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
DEFAULT_API = "https://api.telegram.org/bot"
ENV_FILE = ".env"


class SettingsError(Exception):
    """A setting we cannot run with; the message is one line saying what to set."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=ENV_FILE, extra="ignore", case_sensitive=False)

    bot_token: str = Field(default="", repr=False)  # never in a log line
    bot_api_base_url: str = DEFAULT_API
    database_url: str = "sqlite:///timebank.sqlite3"
    webhook_url: str | None = None
    port: int = 8080
    webhook_secret: str | None = Field(default=None, repr=False)
    default_language: str = "en"
    bot_admins: Annotated[frozenset[int], NoDecode] = frozenset()
    log_level: str = "INFO"

    @field_validator("bot_admins", mode="before")
    @classmethod
    def _split_admins(cls, value: object) -> object:
        # "1,2 3" in the environment; a set or list when built in code.
        if isinstance(value, str):
            try:
                return frozenset(int(part) for part in re.split(r"[,\s]+", value.strip()) if part)
            except ValueError:
                raise ValueError(f"use Telegram user ids separated by commas (got {value!r})") from None
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

    @property
    def secret_token(self) -> str:
        """The secret Telegram sends with each webhook call: WEBHOOK_SECRET, else one derived from the token.

        Derived, it is the same at every start and on every machine, and nobody without the
        token can forge it, so a webhook is never left open when WEBHOOK_SECRET is unset.
        """
        if self.webhook_secret:
            return self.webhook_secret
        return hashlib.sha256(f"timebank webhook secret:{self.bot_token}".encode()).hexdigest()


def database_path(url: str) -> Path:
    """`sqlite:///relative.db` or `sqlite:////absolute/path.db` → a filesystem path."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or len(url) == len(prefix):
        raise SettingsError(
            f"DATABASE_URL must look like sqlite:///timebank.sqlite3 (got {url!r}); set it to a SQLite file path."
        )
    return Path(url[len(prefix):])


def load_settings(*, require_token: bool = True, **overrides: object) -> Settings:
    """Read and check the settings (environment, then .env); raise SettingsError with one clear line otherwise."""
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        err = exc.errors()[0]
        name = str(err["loc"][0]).upper() if err["loc"] else "a setting"
        message = str(err["msg"]).removeprefix("Value error, ")
        raise SettingsError(f"{name} is not valid: {message}.") from None
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
    if settings.webhook_secret is not None and not WEBHOOK_SECRET_RE.match(settings.webhook_secret):
        refused = sorted({c for c in settings.webhook_secret if not re.match(r"[A-Za-z0-9_-]", c)})
        what = f"it has {' '.join(repr(c) for c in refused)}" if refused else "it is longer than 256 characters"
        raise SettingsError(
            f"WEBHOOK_SECRET may only use A-Z, a-z, 0-9, _ and - (1 to 256 characters), as Telegram requires, "
            f"and {what}; make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'."
        )
    if settings.webhook_url is not None:
        url = settings.webhook_url
        if not re.match(r"^https?://[^/\s]+", url):
            raise SettingsError(f"WEBHOOK_URL must be the bot's public address, such as https://timebank.example.org "
                                f"(got {url!r}); unset it to use long polling.")
        if not url.startswith("https://") and settings.bot_api_base_url == DEFAULT_API:
            raise SettingsError(f"WEBHOOK_URL must start with https:// (Telegram only calls HTTPS webhooks; got "
                                f"{url!r}); unset it to use long polling.")
    if not 0 < settings.port < 65536:
        raise SettingsError(f"PORT must be a port number between 1 and 65535 (got {settings.port}).")
    database_path(settings.database_url)
    return settings


# ---------------------------------------------------------------- where the ledger lives

# Platforms that run the bot in a container whose own filesystem is thrown away at every deploy
# or restart. Each is named by an environment variable it always sets.
PLATFORMS = (
    ("DYNO", "Heroku (or Dokku)"),
    ("K_SERVICE", "Google Cloud Run"),
    ("AWS_LAMBDA_FUNCTION_NAME", "AWS Lambda"),
    ("FLY_APP_NAME", "Fly.io"),
    ("RENDER_SERVICE_ID", "Render"),
    ("RAILWAY_SERVICE_ID", "Railway"),
)
# Platforms with no persistent disk at all: a mount there is not one either. (Heroku has none
# either, but Dokku, which sets the same DYNO, mounts real disks.)
NO_DISKS = {"AWS Lambda"}
# Filesystems that live in memory or in the container's own layer: gone with the container.
EPHEMERAL_FS = {"tmpfs", "ramfs", "overlay", "aufs", "squashfs", "devtmpfs"}


@dataclass(frozen=True)
class Mount:
    point: str
    fstype: str


def mount_of(path: Path, mountinfo: str) -> Mount | None:
    """The mount that holds `path`, from the text of /proc/self/mountinfo (None when unknown)."""
    best: Mount | None = None
    target = str(path)
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) < 7 or "-" not in fields[6:]:
            continue
        # mount ID, parent ID, major:minor, root, mount point, options, optional fields..., "-", fstype, source
        point = fields[4].replace("\\040", " ")
        fstype = fields[fields.index("-", 6) + 1]
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) >= len(best.point)):
            best = Mount(point, fstype)
    return best


def on_persistent_volume(mount: Mount | None) -> bool | None:
    """True for a mount of its own that outlives the container, False for the container's own
    filesystem or memory, None when the mounts cannot be read."""
    if mount is None:
        return None
    return mount.point != "/" and mount.fstype not in EPHEMERAL_FS


def check_persistent(path: Path, environ: Mapping[str, str] | None = None, mountinfo: str | None = None) -> str:
    """Refuse (SettingsError) a database that a disk-less platform would throw away; otherwise say where it is.

    Returns a short description of where the database lives, for the start-up log line.
    """
    environ = os.environ if environ is None else environ
    if mountinfo is None:
        try:
            mountinfo = Path("/proc/self/mountinfo").read_text()
        except OSError:
            mountinfo = ""
    folder = path.resolve().parent
    mount = mount_of(folder, mountinfo)
    persistent = on_persistent_volume(mount)
    platform = next((name for variable, name in PLATFORMS if environ.get(variable)), None)
    if platform is not None and (platform in NO_DISKS or persistent is False):
        raise SettingsError(
            f"the database {path.resolve()} is not on a persistent volume and this is {platform} "
            f"({next(v for v, n in PLATFORMS if n == platform)} is set), whose own filesystem is wiped at every "
            "deploy and restart: the ledger would be lost. Mount a volume (README: Deploy) and set "
            "DATABASE_URL=sqlite:////data/timebank.sqlite3 on it."
        )
    if persistent:
        assert mount is not None
        return f"on the volume mounted at {mount.point}"
    if persistent is False and (Path("/.dockerenv").exists() or Path("/run/.containerenv").exists()):
        return "inside the container's own filesystem: it is lost when the container is replaced; mount a volume"
    return "on this machine's disk"
