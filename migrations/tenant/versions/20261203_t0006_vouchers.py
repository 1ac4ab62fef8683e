"""Vouchers: programmes (services with tariff, count and order constraint; eligible facilities;
eligibility filter; budget ceiling), vouchers (random code with a Damm check digit, one live voucher
per person and programme) and the redemption ledger (unique voucher, service, occurrence).

Revision ID: t0006
Revises: t0005
Create Date: 2026-12-03 06:50:00.000000
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = 't0006'
down_revision = 't0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('voucher_programmes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=50), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('validity_days', sa.Integer(), nullable=False),
    sa.Column('eligibility', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('budget_ceiling', sa.BigInteger(), nullable=True),
    sa.Column('status', sa.String(length=20), server_default='active', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('active', 'closed')", name=op.f('ck_voucher_programmes_status')),
    sa.CheckConstraint('budget_ceiling IS NULL OR budget_ceiling >= 0', name=op.f('ck_voucher_programmes_budget_ceiling')),
    sa.CheckConstraint('validity_days > 0', name=op.f('ck_voucher_programmes_validity_days')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_voucher_programmes')),
    sa.UniqueConstraint('code', name=op.f('uq_voucher_programmes_code'))
    )
    op.create_table('voucher_programme_services',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('programme_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.SmallInteger(), nullable=False),
    sa.Column('code', sa.String(length=50), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('tariff', sa.BigInteger(), nullable=False),
    sa.Column('count', sa.SmallInteger(), nullable=False),
    sa.Column('requires_code', sa.String(length=50), nullable=True),
    sa.Column('requires_count', sa.SmallInteger(), nullable=True),
    sa.CheckConstraint('(requires_code IS NULL) = (requires_count IS NULL) AND (requires_count IS NULL OR requires_count >= 1)', name=op.f('ck_voucher_programme_services_requires')),
    sa.CheckConstraint('count BETWEEN 1 AND 100', name=op.f('ck_voucher_programme_services_count')),
    sa.CheckConstraint('tariff >= 0', name=op.f('ck_voucher_programme_services_tariff')),
    sa.ForeignKeyConstraint(['programme_id'], ['voucher_programmes.id'], name=op.f('fk_voucher_programme_services_programme_id_voucher_programmes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_voucher_programme_services')),
    sa.UniqueConstraint('programme_id', 'code', name=op.f('uq_voucher_programme_services_programme_id_code'))
    )
    op.create_index(op.f('ix_voucher_programme_services_programme_id'), 'voucher_programme_services', ['programme_id'], unique=False)
    op.create_table('voucher_programme_facilities',
    sa.Column('programme_id', sa.Integer(), nullable=False),
    sa.Column('facility_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['facility_id'], ['health_facilities.id'], name=op.f('fk_voucher_programme_facilities_facility_id_health_facilities'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['programme_id'], ['voucher_programmes.id'], name=op.f('fk_voucher_programme_facilities_programme_id_voucher_programmes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('programme_id', 'facility_id', name=op.f('pk_voucher_programme_facilities'))
    )
    op.create_index(op.f('ix_voucher_programme_facilities_facility_id'), 'voucher_programme_facilities', ['facility_id'], unique=False)
    op.create_table('vouchers',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('programme_id', sa.Integer(), nullable=False),
    sa.Column('individual_id', sa.BigInteger(), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=20), server_default='issued', nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('issued_by', sa.String(length=254), nullable=True),
    sa.Column('expires_on', sa.Date(), nullable=False),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancel_reason', sa.Text(), nullable=True),
    sa.Column('replaces_id', sa.BigInteger(), nullable=True),
    sa.CheckConstraint("code ~ '^[0-9]{16}$'", name=op.f('ck_vouchers_code')),
    sa.CheckConstraint("status IN ('issued', 'partially_redeemed', 'redeemed', 'expired', 'cancelled')", name=op.f('ck_vouchers_status')),
    sa.ForeignKeyConstraint(['individual_id'], ['individuals.id'], name=op.f('fk_vouchers_individual_id_individuals'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['programme_id'], ['voucher_programmes.id'], name=op.f('fk_vouchers_programme_id_voucher_programmes'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['replaces_id'], ['vouchers.id'], name=op.f('fk_vouchers_replaces_id_vouchers'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vouchers')),
    sa.UniqueConstraint('code', name=op.f('uq_vouchers_code'))
    )
    op.create_index(op.f('ix_vouchers_expires_on'), 'vouchers', ['expires_on'], unique=False)
    op.create_index(op.f('ix_vouchers_individual_id'), 'vouchers', ['individual_id'], unique=False)
    op.create_index(op.f('ix_vouchers_programme_id'), 'vouchers', ['programme_id'], unique=False)
    op.create_index(op.f('ix_vouchers_replaces_id'), 'vouchers', ['replaces_id'], unique=False)
    op.create_index('ux_vouchers_live_holder', 'vouchers', ['programme_id', 'individual_id'], unique=True, postgresql_where=sa.text("status IN ('issued', 'partially_redeemed')"))
    op.create_table('voucher_redemptions',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('voucher_id', sa.BigInteger(), nullable=False),
    sa.Column('service_id', sa.Integer(), nullable=False),
    sa.Column('occurrence', sa.SmallInteger(), nullable=False),
    sa.Column('facility_id', sa.Integer(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('redeemed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('redeemed_by', sa.String(length=254), nullable=True),
    sa.Column('idempotency_key', sa.String(length=100), nullable=True),
    sa.CheckConstraint('amount >= 0', name=op.f('ck_voucher_redemptions_amount')),
    sa.CheckConstraint('occurrence >= 1', name=op.f('ck_voucher_redemptions_occurrence')),
    sa.ForeignKeyConstraint(['facility_id'], ['health_facilities.id'], name=op.f('fk_voucher_redemptions_facility_id_health_facilities'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['service_id'], ['voucher_programme_services.id'], name=op.f('fk_voucher_redemptions_service_id_voucher_programme_services'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['voucher_id'], ['vouchers.id'], name=op.f('fk_voucher_redemptions_voucher_id_vouchers'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_voucher_redemptions')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_voucher_redemptions_idempotency_key')),
    sa.UniqueConstraint('voucher_id', 'service_id', 'occurrence', name=op.f('uq_voucher_redemptions_voucher_id_service_id_occurrence'))
    )
    op.create_index(op.f('ix_voucher_redemptions_facility_id'), 'voucher_redemptions', ['facility_id'], unique=False)
    op.create_index(op.f('ix_voucher_redemptions_service_id'), 'voucher_redemptions', ['service_id'], unique=False)
    op.create_index(op.f('ix_voucher_redemptions_voucher_id'), 'voucher_redemptions', ['voucher_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_voucher_redemptions_voucher_id'), table_name='voucher_redemptions')
    op.drop_index(op.f('ix_voucher_redemptions_service_id'), table_name='voucher_redemptions')
    op.drop_index(op.f('ix_voucher_redemptions_facility_id'), table_name='voucher_redemptions')
    op.drop_table('voucher_redemptions')
    op.drop_index('ux_vouchers_live_holder', table_name='vouchers', postgresql_where=sa.text("status IN ('issued', 'partially_redeemed')"))
    op.drop_index(op.f('ix_vouchers_replaces_id'), table_name='vouchers')
    op.drop_index(op.f('ix_vouchers_programme_id'), table_name='vouchers')
    op.drop_index(op.f('ix_vouchers_individual_id'), table_name='vouchers')
    op.drop_index(op.f('ix_vouchers_expires_on'), table_name='vouchers')
    op.drop_table('vouchers')
    op.drop_index(op.f('ix_voucher_programme_facilities_facility_id'), table_name='voucher_programme_facilities')
    op.drop_table('voucher_programme_facilities')
    op.drop_index(op.f('ix_voucher_programme_services_programme_id'), table_name='voucher_programme_services')
    op.drop_table('voucher_programme_services')
    op.drop_table('voucher_programmes')
