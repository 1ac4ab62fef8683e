"""Registry imports and personal data (decision 0137): ``registry_import_keys`` (the key of every
row of an individuals or households file, so that erasing a person finds the files and report rows
that hold them) and ``registry_imports.purged_at`` / ``purge_reason`` (the original file and the
report's values dropped, on erasure or past the tenant's retention period; the import row stays).

Revision ID: t0012
Revises: t0011
Create Date: 2026-12-03 07:00:00
"""

from alembic import op
import sqlalchemy as sa

revision = 't0012'
down_revision = 't0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('registry_imports', sa.Column('purged_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('registry_imports', sa.Column('purge_reason', sa.String(length=20), nullable=True))
    op.create_table('registry_import_keys',
    sa.Column('import_id', sa.BigInteger(), nullable=False),
    sa.Column('row', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['import_id'], ['registry_imports.id'],
                            name=op.f('fk_registry_import_keys_import_id_registry_imports'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('import_id', 'row', name=op.f('pk_registry_import_keys'))
    )
    op.create_index('ix_registry_import_keys_key', 'registry_import_keys', ['key'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_registry_import_keys_key', table_name='registry_import_keys')
    op.drop_table('registry_import_keys')
    op.drop_column('registry_imports', 'purge_reason')
    op.drop_column('registry_imports', 'purged_at')
