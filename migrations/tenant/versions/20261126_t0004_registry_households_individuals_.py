"""Registry people: households, individuals (search columns, identifiers), probable-duplicate flags,
consents; the scheme-number counter.

Revision ID: t0004
Revises: t0003
Create Date: 2026-11-26 01:08:43.612876
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = 't0004'
down_revision = 't0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('households',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('external_id', sa.String(length=100), nullable=True),
    sa.Column('head_id', sa.BigInteger(), nullable=True),
    sa.Column('location_id', sa.Integer(), nullable=False),
    sa.Column('address', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=20), server_default='active', nullable=False),
    sa.Column('extra', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('active', 'inactive')", name=op.f('ck_households_status')),
    sa.ForeignKeyConstraint(['location_id'], ['locations.id'], name=op.f('fk_households_location_id_locations'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_households')),
    sa.UniqueConstraint('external_id', name=op.f('uq_households_external_id'))
    )
    op.create_index(op.f('ix_households_head_id'), 'households', ['head_id'], unique=False)
    op.create_index(op.f('ix_households_location_id'), 'households', ['location_id'], unique=False)
    op.create_table('individuals',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('external_id', sa.String(length=100), nullable=True),
    sa.Column('household_id', sa.BigInteger(), nullable=True),
    sa.Column('relationship', sa.String(length=20), nullable=True),
    sa.Column('given_name', sa.String(length=100), nullable=False),
    sa.Column('family_name', sa.String(length=100), nullable=False),
    sa.Column('other_names', sa.String(length=100), nullable=True),
    sa.Column('name_search', sa.String(length=302), nullable=False),
    sa.Column('sex', sa.String(length=10), nullable=False),
    sa.Column('birth_date', sa.Date(), nullable=False),
    sa.Column('birth_date_estimated', sa.Boolean(), server_default='false', nullable=False),
    sa.Column('national_id', sa.String(length=50), nullable=True),
    sa.Column('scheme_number', sa.String(length=50), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=True),
    sa.Column('location_id', sa.Integer(), nullable=False),
    sa.Column('photo', sa.LargeBinary(), nullable=True),
    sa.Column('status', sa.String(length=20), server_default='active', nullable=False),
    sa.Column('extra', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('erased_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("relationship IS NULL OR relationship IN ('head', 'spouse', 'child', 'parent', 'sibling', 'grandchild', 'other_relative', 'not_related')", name=op.f('ck_individuals_relationship')),
    sa.CheckConstraint("sex IN ('female', 'male', 'other')", name=op.f('ck_individuals_sex')),
    sa.CheckConstraint("status IN ('active', 'inactive', 'deceased', 'erased')", name=op.f('ck_individuals_status')),
    sa.ForeignKeyConstraint(['household_id'], ['households.id'], name=op.f('fk_individuals_household_id_households'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['location_id'], ['locations.id'], name=op.f('fk_individuals_location_id_locations'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_individuals')),
    sa.UniqueConstraint('external_id', name=op.f('uq_individuals_external_id')),
    sa.UniqueConstraint('scheme_number', name=op.f('uq_individuals_scheme_number'))
    )
    op.create_foreign_key('fk_households_head_id_individuals', 'households', 'individuals', ['head_id'], ['id'],
                          ondelete='SET NULL', deferrable=True, initially='IMMEDIATE')
    op.execute("CREATE SEQUENCE scheme_number_seq")
    op.create_index('ix_individuals_birth_date', 'individuals', ['birth_date'], unique=False)
    op.create_index('ix_individuals_active_members', 'individuals', ['household_id', 'birth_date'], unique=False,
                    postgresql_where=sa.text("status = 'active'"))
    op.create_index(op.f('ix_individuals_household_id'), 'individuals', ['household_id'], unique=False)
    op.create_index(op.f('ix_individuals_location_id'), 'individuals', ['location_id'], unique=False)
    op.create_index('ix_individuals_name_search', 'individuals', ['name_search'], unique=False, postgresql_using='gin', postgresql_ops={'name_search': 'shared.gin_trgm_ops'})
    op.create_index('ix_individuals_phone', 'individuals', ['phone'], unique=False, postgresql_where=sa.text('phone IS NOT NULL'))
    op.create_index('uq_individuals_national_id', 'individuals', ['national_id'], unique=True, postgresql_where=sa.text('national_id IS NOT NULL'))
    op.create_table('consents',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('individual_id', sa.BigInteger(), nullable=False),
    sa.Column('purpose', sa.String(length=100), nullable=False),
    sa.Column('given', sa.Boolean(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('recorded_by', sa.String(length=254), nullable=True),
    sa.Column('evidence', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['individual_id'], ['individuals.id'], name=op.f('fk_consents_individual_id_individuals'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consents'))
    )
    op.create_index(op.f('ix_consents_individual_id'), 'consents', ['individual_id'], unique=False)
    op.create_table('duplicate_flags',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('individual_id', sa.BigInteger(), nullable=False),
    sa.Column('candidate_id', sa.BigInteger(), nullable=False),
    sa.Column('reasons', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('score', sa.Double(), nullable=False),
    sa.Column('status', sa.String(length=20), server_default='open', nullable=False),
    sa.Column('decided_by', sa.String(length=254), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('open', 'merged', 'dismissed')", name=op.f('ck_duplicate_flags_status')),
    sa.CheckConstraint('individual_id <> candidate_id', name=op.f('ck_duplicate_flags_distinct')),
    sa.ForeignKeyConstraint(['candidate_id'], ['individuals.id'], name=op.f('fk_duplicate_flags_candidate_id_individuals'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['individual_id'], ['individuals.id'], name=op.f('fk_duplicate_flags_individual_id_individuals'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_duplicate_flags')),
    sa.UniqueConstraint('individual_id', 'candidate_id', name=op.f('uq_duplicate_flags_individual_id_candidate_id'))
    )
    op.create_index(op.f('ix_duplicate_flags_candidate_id'), 'duplicate_flags', ['candidate_id'], unique=False)
    op.create_index(op.f('ix_duplicate_flags_individual_id'), 'duplicate_flags', ['individual_id'], unique=False)
    op.create_index('ix_duplicate_flags_open', 'duplicate_flags', ['id'], unique=False, postgresql_where=sa.text("status = 'open'"))


def downgrade() -> None:
    op.drop_index('ix_duplicate_flags_open', table_name='duplicate_flags', postgresql_where=sa.text("status = 'open'"))
    op.drop_index(op.f('ix_duplicate_flags_individual_id'), table_name='duplicate_flags')
    op.drop_index(op.f('ix_duplicate_flags_candidate_id'), table_name='duplicate_flags')
    op.drop_table('duplicate_flags')
    op.drop_index(op.f('ix_consents_individual_id'), table_name='consents')
    op.drop_table('consents')
    op.drop_index('uq_individuals_national_id', table_name='individuals', postgresql_where=sa.text('national_id IS NOT NULL'))
    op.drop_index('ix_individuals_phone', table_name='individuals', postgresql_where=sa.text('phone IS NOT NULL'))
    op.drop_index('ix_individuals_name_search', table_name='individuals', postgresql_using='gin', postgresql_ops={'name_search': 'shared.gin_trgm_ops'})
    op.drop_index(op.f('ix_individuals_location_id'), table_name='individuals')
    op.drop_index(op.f('ix_individuals_household_id'), table_name='individuals')
    op.drop_index('ix_individuals_active_members', table_name='individuals',
                  postgresql_where=sa.text("status = 'active'"))
    op.drop_index('ix_individuals_birth_date', table_name='individuals')
    op.drop_constraint('fk_households_head_id_individuals', 'households', type_='foreignkey')
    op.execute("DROP SEQUENCE scheme_number_seq")
    op.drop_table('individuals')
    op.drop_index(op.f('ix_households_location_id'), table_name='households')
    op.drop_index(op.f('ix_households_head_id'), table_name='households')
    op.drop_table('households')
