"""Registry imports and personal data, cheaper (decision 0137): the keys of a file's rows become one
array of their hashes on the import (``registry_imports.key_hashes``, one value per import instead
of one indexed row per file row), and each report row keeps its row's key
(``registry_import_problems.key``) so that erasure clears exactly the erased person's rows.
``registry_import_keys`` goes (it cost 8 s per 200,000 rows on a loaded machine).

Revision ID: t0015
Revises: t0014
Create Date: 2026-12-03 07:25:00
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = 't0015'
down_revision = 't0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index('ix_registry_import_keys_key', table_name='registry_import_keys')
    op.drop_table('registry_import_keys')
    op.add_column('registry_imports', sa.Column('key_hashes', postgresql.ARRAY(sa.Integer()), nullable=True))
    op.add_column('registry_import_problems', sa.Column('key', sa.String(length=100), nullable=True))
    op.create_index('ix_registry_import_problems_key', 'registry_import_problems', ['key'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_registry_import_problems_key', table_name='registry_import_problems')
    op.drop_column('registry_import_problems', 'key')
    op.drop_column('registry_imports', 'key_hashes')
    op.create_table('registry_import_keys',
    sa.Column('import_id', sa.BigInteger(), nullable=False),
    sa.Column('row', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['import_id'], ['registry_imports.id'],
                            name=op.f('fk_registry_import_keys_import_id_registry_imports'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('import_id', 'row', name=op.f('pk_registry_import_keys'))
    )
    op.create_index('ix_registry_import_keys_key', 'registry_import_keys', ['key'], unique=False)
