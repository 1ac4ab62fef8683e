"""Registry: location tree (materialized path with a GIN index), health facilities, catalogue of items
and services, price lists and their lines.

Amounts are integers in the currency's minor unit (decision 0101); a location's ``path`` holds the ids
from its top-level ancestor down to itself (decision 0100).

Revision ID: t0003
Revises: t0002
Create Date: 2026-11-26 00:38:53.447619
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = 't0003'
down_revision = 't0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('catalogue_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('code', sa.String(length=50), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('type', sa.String(length=20), nullable=False),
    sa.Column('unit_price', sa.BigInteger(), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=True),
    sa.Column('care_type', sa.String(length=20), server_default='both', nullable=False),
    sa.Column('frequency_days', sa.SmallInteger(), nullable=True),
    sa.Column('patient_sex', sa.String(length=10), server_default='any', nullable=False),
    sa.Column('patient_age', sa.String(length=10), server_default='any', nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=True),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("(kind = 'item' AND type IN ('medicine', 'consumable', 'device')) OR (kind = 'service' AND type IN ('consultation', 'procedure', 'laboratory', 'imaging', 'delivery', 'admission', 'transport', 'other'))", name=op.f('ck_catalogue_entries_kind_type')),
    sa.CheckConstraint("care_type IN ('in_patient', 'out_patient', 'both')", name=op.f('ck_catalogue_entries_care_type')),
    sa.CheckConstraint("kind IN ('item', 'service')", name=op.f('ck_catalogue_entries_kind')),
    sa.CheckConstraint("patient_age IN ('any', 'adult', 'child')", name=op.f('ck_catalogue_entries_patient_age')),
    sa.CheckConstraint("patient_sex IN ('any', 'female', 'male')", name=op.f('ck_catalogue_entries_patient_sex')),
    sa.CheckConstraint('frequency_days > 0', name=op.f('ck_catalogue_entries_frequency_days')),
    sa.CheckConstraint('unit_price >= 0 AND (unit_price IS NULL) = (currency IS NULL)', name=op.f('ck_catalogue_entries_unit_price')),
    sa.CheckConstraint('valid_to >= valid_from', name=op.f('ck_catalogue_entries_validity')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_catalogue_entries')),
    sa.UniqueConstraint('code', name=op.f('uq_catalogue_entries_code'))
    )
    op.create_index('ix_catalogue_entries_kind_code', 'catalogue_entries', ['kind', 'code'], unique=False)
    op.create_table('locations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=50), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('level', sa.SmallInteger(), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('path', postgresql.ARRAY(sa.Integer()), nullable=False),
    sa.Column('male_population', sa.Integer(), nullable=True),
    sa.Column('female_population', sa.Integer(), nullable=True),
    sa.Column('other_population', sa.Integer(), nullable=True),
    sa.Column('families', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('(parent_id IS NULL) = (level = 0)', name=op.f('ck_locations_parent_level')),
    sa.CheckConstraint('cardinality(path) = level + 1 AND path[level + 1] = id', name=op.f('ck_locations_path')),
    sa.CheckConstraint('level >= 0 AND level < 8', name=op.f('ck_locations_level')),
    sa.CheckConstraint('male_population >= 0 AND female_population >= 0 AND other_population >= 0 AND families >= 0', name=op.f('ck_locations_population')),
    sa.ForeignKeyConstraint(['parent_id'], ['locations.id'], name=op.f('fk_locations_parent_id_locations'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_locations')),
    sa.UniqueConstraint('code', name=op.f('uq_locations_code'))
    )
    op.create_index(op.f('ix_locations_level'), 'locations', ['level'], unique=False)
    op.create_index(op.f('ix_locations_parent_id'), 'locations', ['parent_id'], unique=False)
    op.create_index('ix_locations_path', 'locations', ['path'], unique=False, postgresql_using='gin')
    op.create_table('health_facilities',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=50), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('level', sa.String(length=20), nullable=False),
    sa.Column('care_type', sa.String(length=20), nullable=False),
    sa.Column('location_id', sa.Integer(), nullable=False),
    sa.Column('contract_start', sa.Date(), nullable=True),
    sa.Column('contract_end', sa.Date(), nullable=True),
    sa.Column('status', sa.String(length=20), server_default='active', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("care_type IN ('in_patient', 'out_patient', 'both')", name=op.f('ck_health_facilities_care_type')),
    sa.CheckConstraint("level IN ('dispensary', 'health_centre', 'hospital')", name=op.f('ck_health_facilities_level')),
    sa.CheckConstraint("status IN ('active', 'inactive')", name=op.f('ck_health_facilities_status')),
    sa.CheckConstraint('contract_end >= contract_start', name=op.f('ck_health_facilities_contract_dates')),
    sa.ForeignKeyConstraint(['location_id'], ['locations.id'], name=op.f('fk_health_facilities_location_id_locations'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_health_facilities')),
    sa.UniqueConstraint('code', name=op.f('uq_health_facilities_code'))
    )
    op.create_index(op.f('ix_health_facilities_location_id'), 'health_facilities', ['location_id'], unique=False)
    op.create_table('price_lists',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=50), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('facility_id', sa.Integer(), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('valid_to >= valid_from', name=op.f('ck_price_lists_validity')),
    sa.ForeignKeyConstraint(['facility_id'], ['health_facilities.id'], name=op.f('fk_price_lists_facility_id_health_facilities'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_price_lists')),
    sa.UniqueConstraint('code', name=op.f('uq_price_lists_code'))
    )
    op.create_index(op.f('ix_price_lists_facility_id'), 'price_lists', ['facility_id'], unique=False)
    op.create_table('price_list_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('price_list_id', sa.Integer(), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('price', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('price >= 0', name=op.f('ck_price_list_lines_price')),
    sa.ForeignKeyConstraint(['entry_id'], ['catalogue_entries.id'], name=op.f('fk_price_list_lines_entry_id_catalogue_entries'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['price_list_id'], ['price_lists.id'], name=op.f('fk_price_list_lines_price_list_id_price_lists'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_price_list_lines')),
    sa.UniqueConstraint('price_list_id', 'entry_id', name=op.f('uq_price_list_lines_price_list_id_entry_id'))
    )
    op.create_index(op.f('ix_price_list_lines_entry_id'), 'price_list_lines', ['entry_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_price_list_lines_entry_id'), table_name='price_list_lines')
    op.drop_table('price_list_lines')
    op.drop_index(op.f('ix_price_lists_facility_id'), table_name='price_lists')
    op.drop_table('price_lists')
    op.drop_index(op.f('ix_health_facilities_location_id'), table_name='health_facilities')
    op.drop_table('health_facilities')
    op.drop_index('ix_locations_path', table_name='locations', postgresql_using='gin')
    op.drop_index(op.f('ix_locations_parent_id'), table_name='locations')
    op.drop_index(op.f('ix_locations_level'), table_name='locations')
    op.drop_table('locations')
    op.drop_index('ix_catalogue_entries_kind_code', table_name='catalogue_entries')
    op.drop_table('catalogue_entries')
