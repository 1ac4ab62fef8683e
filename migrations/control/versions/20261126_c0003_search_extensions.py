"""Search extensions in schema ``shared``: pg_trgm (similar names) and unaccent (accent-free text).

Tenant schemas use them schema-qualified (``shared.gin_trgm_ops``, ``shared.similarity``);
schema ``shared`` is readable by every tenant role (c0001).

Revision ID: c0003
Revises: c0002
Create Date: 2026-11-26 01:20:00
"""

from alembic import op

revision = 'c0003'
down_revision = 'c0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA shared")
    op.execute("CREATE EXTENSION IF NOT EXISTS unaccent SCHEMA shared")


def downgrade() -> None:
    op.execute("DROP EXTENSION IF EXISTS unaccent")
    op.execute("DROP EXTENSION IF EXISTS pg_trgm")
