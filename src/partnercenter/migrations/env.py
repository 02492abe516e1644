"""Alembic environment: runs the migrations on the connection or URL it is given."""

from alembic import context
from sqlalchemy import Connection

from partnercenter.core.db import make_engine
from partnercenter.models import comparable, metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        compare_server_default=True,
        include_object=comparable(connection.dialect.name),
    )
    with context.begin_transaction():
        context.run_migrations()


given: Connection | None = config.attributes.get("connection")
if given is not None:
    _run(given)
else:
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()
