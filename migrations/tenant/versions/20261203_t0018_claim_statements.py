"""Facility payment: statements batching valuated claims per facility and period.

Revision ID: t0018
Revises: t0017
Create Date: 2026-12-03 10:00:00
"""

from alembic import op
import sqlalchemy as sa

revision = 't0018'
down_revision = 't0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
