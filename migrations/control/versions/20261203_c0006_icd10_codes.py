"""ICD-10 diagnosis codes in schema ``shared`` (read by every tenant), loaded with the subset that
schemehost ships (:mod:`schemehost.tenants.insurance.claims.icd10`, decision 0312).

Revision ID: c0006
Revises: c0005
Create Date: 2026-12-03 10:20:00
"""

from alembic import op
import sqlalchemy as sa

revision = 'c0006'
down_revision = 'c0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    from schemehost.tenants.insurance.claims import icd10

    op.create_table('icd10_codes',
    sa.Column('code', sa.String(length=10), nullable=False),
    sa.Column('title', sa.String(length=255), nullable=False),
    sa.PrimaryKeyConstraint('code', name='pk_icd10_codes'),
    schema='shared'
    )
    # readable by every tenant role (the schema's default privileges grant it too, for the app's role)
    op.execute("GRANT SELECT ON shared.icd10_codes TO PUBLIC")
    icd10.load(op.get_bind(), icd10.subset())


def downgrade() -> None:
    op.drop_table('icd10_codes', schema='shared')
