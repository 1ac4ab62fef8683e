"""Alembic environment of the control plane (schema ``control``)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, text

from schemehost.platform.db import CONTROL_SCHEMA, normalize_url
from schemehost.platform.models import ControlBase  # noqa: F401  (imports every control model)

config = context.config
target_metadata = ControlBase.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        import os
        engine = create_engine(normalize_url(config.get_main_option("sqlalchemy.url") or os.environ["DATABASE_URL"]))
        with engine.begin() as connection:  # development use: commit what ran
            _run(connection)
        return
    _run(connection)


def _run(connection) -> None:
    connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {CONTROL_SCHEMA}"))
    connection.execute(text("CREATE SCHEMA IF NOT EXISTS shared"))
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table_schema=CONTROL_SCHEMA,
        include_schemas=True,
        include_name=lambda name, type_, parent: type_ != "schema" or name == CONTROL_SCHEMA,
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      version_table_schema=CONTROL_SCHEMA, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
