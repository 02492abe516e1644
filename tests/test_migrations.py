"""The schema comes from the migrations, matches the models, and the app checks it."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from partnercenter.app import create_app
from partnercenter.core.db import make_engine
from partnercenter.core.errors import NotMigrated
from partnercenter.core.migrate import current_revision, head_revision
from partnercenter.core.settings import Settings
from partnercenter.models import comparable, metadata


class TestMigrations:
    def test_migrated_database_is_at_head_with_every_table(
        self, database_url: str
    ) -> None:
        engine = make_engine(database_url)
        assert current_revision(engine) == head_revision()
        tables = set(inspect(engine).get_table_names())
        assert set(metadata.tables) <= tables
        engine.dispose()

    def test_models_and_migrations_do_not_drift(self, database_url: str) -> None:
        engine = make_engine(database_url)
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection,
                opts={
                    "compare_type": True,
                    "compare_server_default": True,
                    "include_object": comparable(connection.dialect.name),
                },
            )
            differences = compare_metadata(context, metadata)
        engine.dispose()
        assert differences == [], "models changed without a migration: " + repr(
            differences
        )

    def test_app_refuses_an_unmigrated_database_and_names_the_fix(
        self, tmp_path: Path
    ) -> None:
        settings = Settings(
            database_url=f"sqlite:///{tmp_path}/empty.sqlite3",
            secret_key="x" * 32,
            data_dir=tmp_path,
        )
        with pytest.raises(NotMigrated, match="partnercenter db upgrade"):
            create_app(settings)
