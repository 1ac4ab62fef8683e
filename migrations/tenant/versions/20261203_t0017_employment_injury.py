"""Employment-injury insurance: employers as policy holders, their workers, work incidents.

Revision ID: t0017
Revises: t0016
Create Date: 2026-12-03 10:00:00
"""

from alembic import op
import sqlalchemy as sa

revision = 't0017'
down_revision = 't0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
