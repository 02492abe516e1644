"""Settings, read from ``PARTNERCENTER_*`` environment variables and an optional file.

The file named by ``PARTNERCENTER_CONFIG_FILE`` (``KEY=value`` lines, same names as the
environment) is read first; the environment overrides it.
"""

from __future__ import annotations

import os
import secrets
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any

import platformdirs
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "PARTNERCENTER_"
SECRET_KEY_FILE = "secret_key"  # noqa: S105 - a file name, not a secret


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"
    TEST = "test"


class LogFormat(StrEnum):
    CONSOLE = "console"
    JSON = "json"


def _default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("partnercenter", appauthor=False))


class Settings(BaseSettings):
    """Every setting of the product; ``partnercenter settings`` prints them with their help."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    data_dir: Path = Field(
        default_factory=_default_data_dir,
        description="Folder for the SQLite file, the generated secret key and uploads.",
    )
    database_url: str = Field(
        default="",
        description="SQLAlchemy URL. Empty: a SQLite file in the data folder. "
        "Production: postgresql+psycopg://user:password@host/dbname.",
    )
    secret_key: str = Field(
        default="",
        description="Derives the keys that sign CSRF tokens and encrypt API secret keys. "
        "Empty: generated once and kept in the data folder, so the server and the CLI agree.",
        repr=False,
    )
    base_url: str = Field(
        default="http://127.0.0.1:8000",
        description="The public address of the console, used in links sent by email.",
    )
    smtp_url: str = Field(
        default="",
        description="smtp://user:password@host:port (smtp+starttls://… to upgrade the "
        "connection, smtps://… for TLS from the start) to send email. Empty: mail is kept in "
        "the demo mailbox page instead.",
        repr=False,
    )
    mail_from: str = Field(
        default="Partner Center <no-reply@partnercenter.invalid>",
        description="Sender address of outgoing email.",
    )
    locale: str = Field(
        default="zh-CN", description="Default language of the console: zh-CN or en."
    )
    display_timezone: str = Field(
        default="Asia/Shanghai",
        description="Time zone in which times are shown; they are stored in UTC.",
    )
    currency: str = Field(default="CNY", description="Currency of new accounts.")
    environment: Environment = Field(
        default=Environment.DEVELOPMENT,
        description="development, production or test; production turns on secure cookies.",
    )
    log_format: LogFormat | None = Field(
        default=None,
        description="console or json. Empty: json in production, console otherwise.",
    )
    log_level: str = Field(default="INFO", description="Lowest level that is logged.")
    embedded_worker: bool | None = Field(
        default=None,
        description="Run the worker inside the server process. Empty: on for SQLite, "
        "off for PostgreSQL (run `partnercenter worker` beside the servers).",
    )
    login_max_failures: int = Field(
        default=5,
        description="Failed sign-ins of one account before its sign-in is paused; one "
        "address may fail four times as often (several people behind one office address).",
    )
    login_lock_minutes: int = Field(
        default=15, description="How long sign-in stays paused after too many failures."
    )
    session_hours: int = Field(
        default=12, description="How long a console session lasts without activity."
    )
    signature_window_minutes: int = Field(
        default=15,
        description="How far the X-Sdk-Date of a signed API request may be from now.",
    )
    bss_rate_limit: int = Field(
        default=10,
        ge=0,
        description="Requests per second one organisation may send to one operation of the "
        "BSS-compatible API; 0 turns flow control off. Counted in the database, so the "
        "limit holds across every server process.",
    )
    bss_duplicate_guard: bool = Field(
        default=True,
        description="Refuse a signed write to the BSS-compatible API that arrives again "
        "byte for byte (same key, same signature) within the signature window.",
    )
    max_request_kb: int = Field(
        default=8192,
        ge=64,
        description="The largest request body the server takes, in KB; a larger one is "
        "refused with 413 (at once when its Content-Length says so). A batch of 10,000 "
        "allocations is about 1 MB, a console upload at most 2 MB.",
    )
    batch_streams: int = Field(
        default=2,
        ge=1,
        le=8,
        description="Chunks of one batch run at the same time on PostgreSQL, each on its "
        "own connection, when the order they run in cannot change an outcome; 1 runs them "
        "one after another. About the cores the database server can give one batch.",
    )
    fast_path_pool_size: int = Field(
        default=16,
        description="Connections kept for single allocations and reclaims on PostgreSQL.",
    )

    @field_validator("locale")
    @classmethod
    def _known_locale(cls, value: str) -> str:
        from partnercenter.core.i18n import normalise_locale

        return normalise_locale(value)

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'partnercenter.sqlite3'}"

    @cached_property
    def resolved_secret_key(self) -> str:
        if self.secret_key:
            return self.secret_key
        return _load_or_create_secret(self.data_dir)

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def runs_embedded_worker(self) -> bool:
        if self.embedded_worker is not None:
            return self.embedded_worker
        return self.is_sqlite

    @property
    def resolved_log_format(self) -> LogFormat:
        if self.log_format is not None:
            return self.log_format
        if self.environment is Environment.PRODUCTION:
            return LogFormat.JSON
        return LogFormat.CONSOLE

    @property
    def secure_cookies(self) -> bool:
        return self.environment is Environment.PRODUCTION

    def described(self) -> list[tuple[str, str, Any]]:
        """Name, help text and current value of every setting, secrets masked."""
        rows = []
        for name, field in type(self).model_fields.items():
            value: Any = getattr(self, name)
            if field.repr is False and value:
                value = "********"
            rows.append((ENV_PREFIX + name.upper(), field.description or "", value))
        return rows


def load_settings() -> Settings:
    """The settings of this process: the environment, over the optional settings file.

    The file is named by ``PARTNERCENTER_CONFIG_FILE`` at the moment of the call, and holds
    ``PARTNERCENTER_NAME=value`` lines.
    """
    config_file = os.environ.get(f"{ENV_PREFIX}CONFIG_FILE")
    if config_file and not Path(config_file).is_file():
        raise FileNotFoundError(
            f"{ENV_PREFIX}CONFIG_FILE names a missing file: {config_file}"
        )
    return Settings(_env_file=config_file or None)


def _load_or_create_secret(data_dir: Path) -> str:
    path = data_dir / SECRET_KEY_FILE
    if path.exists():
        return path.read_text().strip()

    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    # Create with owner-only rights, and lose cleanly to a concurrent creator.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key
