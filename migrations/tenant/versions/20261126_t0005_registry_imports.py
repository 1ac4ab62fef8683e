"""Registry imports: one row per uploaded file, the original file in chunks (kept for audit), and
the problems of its report.

Revision ID: t0005
Revises: t0004
Create Date: 2026-11-26 01:12:33.189293
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = 't0005'
down_revision = 't0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('registry_imports',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('format', sa.String(length=10), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('dry_run', sa.Boolean(), nullable=False),
    sa.Column('valid_only', sa.Boolean(), nullable=False),
    sa.Column('options', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('status', sa.String(length=20), server_default='queued', nullable=False),
    sa.Column('job_id', sa.BigInteger(), nullable=True),
    sa.Column('counts', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('created_by', sa.String(length=254), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("format IN ('csv', 'xlsx')", name=op.f('ck_registry_imports_format')),
    sa.CheckConstraint("kind IN ('locations', 'facilities', 'households', 'individuals', 'prices')", name=op.f('ck_registry_imports_kind')),
    sa.CheckConstraint("status IN ('queued', 'running', 'checked', 'rejected', 'done', 'failed')", name=op.f('ck_registry_imports_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_registry_imports'))
    )
    op.create_table('registry_import_chunks',
    sa.Column('import_id', sa.BigInteger(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['import_id'], ['registry_imports.id'], name=op.f('fk_registry_import_chunks_import_id_registry_imports'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('import_id', 'seq', name=op.f('pk_registry_import_chunks'))
    )
    op.create_table('registry_import_problems',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('import_id', sa.BigInteger(), nullable=False),
    sa.Column('row', sa.Integer(), nullable=False),
    sa.Column('column', sa.String(length=100), nullable=True),
    sa.Column('value', sa.Text(), nullable=True),
    sa.Column('code', sa.String(length=50), nullable=False),
    sa.Column('params', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.ForeignKeyConstraint(['import_id'], ['registry_imports.id'], name=op.f('fk_registry_import_problems_import_id_registry_imports'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_registry_import_problems'))
    )
    op.create_index(op.f('ix_registry_import_problems_import_id'), 'registry_import_problems', ['import_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_registry_import_problems_import_id'), table_name='registry_import_problems')
    op.drop_table('registry_import_problems')
    op.drop_table('registry_import_chunks')
    op.drop_table('registry_imports')
