"""Cash transfers: what enrolment jobs, payment points and reports need.

Revision ID: t0019
Revises: t0018
Create Date: 2026-12-03 10:00:00
"""

from alembic import op
import sqlalchemy as sa

revision = 't0019'
down_revision = 't0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
