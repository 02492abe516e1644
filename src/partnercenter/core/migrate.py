"""Running and checking the schema migrations from code (the CLI and the app use this)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from partnercenter.core.errors import NotMigrated

UPGRADE_COMMAND = "partnercenter db upgrade"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", "partnercenter:migrations")
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def head_revision() -> str | None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return script.get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def require_migrated(engine: Engine) -> None:
    """Refuse to go on unless the database is at the newest migration."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        state = "empty" if current is None else f"at revision {current}"
        raise NotMigrated(
            f"The database is {state}, but this version of Partner Center needs revision "
            f"{head}. Run `{UPGRADE_COMMAND}` (with the same PARTNERCENTER_DATABASE_URL) "
            "and start again."
        )
