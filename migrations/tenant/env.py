"""Alembic environment applied to every tenant schema.

The caller (``schemehost.provisioning.migrate``) hands over a connection
already inside a transaction with ``SET LOCAL search_path`` set to the tenant
schema — the one allowed use of ``search_path`` — and the schema name; the
version table lives inside that schema. Operations are written unqualified.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine, text

from schemehost.platform.db import normalize_url
from schemehost.tenants.models import unscoped_metadata

config = context.config
target_metadata = unscoped_metadata()


def _configure(connection, schema: str) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table_schema=schema,
        transactional_ddl=True,
        include_name=lambda name, type_, parent: not (type_ == "table" and name == "alembic_version"),
    )


if context.is_offline_mode():
    schema = config.attributes.get("schema") or context.get_x_argument(as_dictionary=True).get("schema", "tenant_x")
    # provisioning.migrate.fresh_schema_script runs the script inside its own transaction
    context.configure(url="postgresql://", target_metadata=target_metadata, version_table_schema=schema,
                      literal_binds=True, as_sql=True,
                      transactional_ddl=not config.attributes.get("no_transaction", False))
    with context.begin_transaction():
        context.run_migrations()
else:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection, config.attributes["schema"])
        with context.begin_transaction():
            context.run_migrations()
    else:
        # development only: autogenerate against a scratch schema
        schema = "tenant_autogen"
        engine = create_engine(normalize_url(os.environ["DATABASE_URL"]))
        with engine.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {schema}"))
            conn.execute(text(f"SET LOCAL search_path TO {schema}"))
            _configure(conn, schema)
            context.run_migrations()
