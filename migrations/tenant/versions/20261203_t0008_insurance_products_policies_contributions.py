"""Insurance: product versions with their covered items and services, policies and the individuals
they insure, contributions (receipt number unique in the tenant), and the ``insurance_usage`` view of
what insurees used (empty until claims exist; the claims module replaces it).

Revision ID: t0008
Revises: t0007
Create Date: 2026-12-03 06:50:00
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = 't0008'
down_revision = 't0007'
branch_labels = None
depends_on = None

#: What insurees used of an item or service under a policy: one row per claimed line once claims exist.
USAGE_VIEW = """
CREATE VIEW insurance_usage AS
SELECT NULL::bigint AS policy_id, NULL::bigint AS individual_id, NULL::integer AS entry_id,
       NULL::date AS used_on, NULL::integer AS quantity, NULL::bigint AS amount
WHERE false
"""


def upgrade() -> None:
    op.create_table('insurance_products',
    sa.Column('id', sa.Integer(), sa.Identity(always=False), nullable=False),
    sa.Column('code', sa.String(length=50), nullable=False),
    sa.Column('version', sa.SmallInteger(), server_default='1', nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.Column('insurance_period_months', sa.SmallInteger(), nullable=False),
    sa.Column('max_members', sa.SmallInteger(), nullable=True),
    sa.Column('lump_sum', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('threshold', sa.SmallInteger(), server_default='0', nullable=False),
    sa.Column('premium_adult', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('premium_child', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('adult_age', sa.SmallInteger(), server_default='18', nullable=False),
    sa.Column('registration_lump_sum', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('registration_fee', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('assembly_lump_sum', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('assembly_fee', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('enrolment_discount_percent', sa.Numeric(precision=5, scale=2), server_default='0', nullable=False),
    sa.Column('enrolment_discount_days', sa.SmallInteger(), server_default='0', nullable=False),
    sa.Column('renewal_discount_percent', sa.Numeric(precision=5, scale=2), server_default='0', nullable=False),
    sa.Column('renewal_discount_days', sa.SmallInteger(), server_default='0', nullable=False),
    sa.Column('cycle_starts', postgresql.ARRAY(sa.String(length=5)), server_default='{}', nullable=False),
    sa.Column('grace_period_days', sa.SmallInteger(), server_default='0', nullable=False),
    sa.Column('waiting_period_days', sa.SmallInteger(), server_default='0', nullable=False),
    sa.Column('copayment_percent', sa.Numeric(precision=5, scale=2), server_default='0', nullable=False),
    sa.Column('cost_sharing', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('renewal_reminder_days', sa.SmallInteger(), server_default='30', nullable=False),
    sa.Column('renewal_grace_days', sa.SmallInteger(), server_default='0', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('copayment_percent BETWEEN 0 AND 100 AND enrolment_discount_percent BETWEEN 0 AND 100 AND renewal_discount_percent BETWEEN 0 AND 100', name=op.f('ck_insurance_products_percents')),
    sa.CheckConstraint('insurance_period_months BETWEEN 1 AND 120', name=op.f('ck_insurance_products_period')),
    sa.CheckConstraint('lump_sum >= 0 AND premium_adult >= 0 AND premium_child >= 0 AND registration_lump_sum >= 0 AND registration_fee >= 0 AND assembly_lump_sum >= 0 AND assembly_fee >= 0', name=op.f('ck_insurance_products_amounts')),
    sa.CheckConstraint('valid_to >= valid_from', name=op.f('ck_insurance_products_validity')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_insurance_products')),
    sa.UniqueConstraint('code', 'version', name='uq_insurance_products_code_version')
    )
    op.create_table('insurance_product_coverage',
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('limit_count', sa.Integer(), nullable=True),
    sa.Column('limit_amount', sa.BigInteger(), nullable=True),
    sa.Column('copayment_percent', sa.Numeric(precision=5, scale=2), nullable=True),
    sa.CheckConstraint('copayment_percent BETWEEN 0 AND 100', name=op.f('ck_insurance_product_coverage_copayment')),
    sa.CheckConstraint('limit_count >= 0 AND limit_amount >= 0', name=op.f('ck_insurance_product_coverage_limits')),
    sa.ForeignKeyConstraint(['entry_id'], ['catalogue_entries.id'], name=op.f('fk_insurance_product_coverage_entry_id_catalogue_entries'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['product_id'], ['insurance_products.id'], name=op.f('fk_insurance_product_coverage_product_id_insurance_products'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('product_id', 'entry_id', name=op.f('pk_insurance_product_coverage'))
    )
    op.create_index(op.f('ix_insurance_product_coverage_entry_id'), 'insurance_product_coverage', ['entry_id'], unique=False)
    op.create_table('insurance_policies',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('household_id', sa.BigInteger(), nullable=False),
    sa.Column('previous_id', sa.BigInteger(), nullable=True),
    sa.Column('stage', sa.String(length=10), nullable=False),
    sa.Column('status', sa.String(length=10), server_default='idle', nullable=False),
    sa.Column('enrol_date', sa.Date(), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('expiry_date', sa.Date(), nullable=False),
    sa.Column('effective_date', sa.Date(), nullable=True),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('paid', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('adults', sa.SmallInteger(), nullable=False),
    sa.Column('children', sa.SmallInteger(), nullable=False),
    sa.Column('breakdown', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('activated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('activation_forced', sa.Boolean(), server_default='false', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("stage IN ('new', 'renewal')", name=op.f('ck_insurance_policies_stage')),
    sa.CheckConstraint("status IN ('idle', 'ready', 'active', 'suspended', 'expired')", name=op.f('ck_insurance_policies_status')),
    sa.CheckConstraint('expiry_date >= start_date', name=op.f('ck_insurance_policies_period')),
    sa.CheckConstraint('value >= 0 AND paid >= 0', name=op.f('ck_insurance_policies_amounts')),
    sa.ForeignKeyConstraint(['household_id'], ['households.id'], name=op.f('fk_insurance_policies_household_id_households'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['previous_id'], ['insurance_policies.id'], name=op.f('fk_insurance_policies_previous_id_insurance_policies'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['product_id'], ['insurance_products.id'], name=op.f('fk_insurance_policies_product_id_insurance_products'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_insurance_policies'))
    )
    op.create_index(op.f('ix_insurance_policies_household_id'), 'insurance_policies', ['household_id'], unique=False)
    op.create_index(op.f('ix_insurance_policies_product_id'), 'insurance_policies', ['product_id'], unique=False)
    op.create_index('ix_insurance_policies_status_expiry', 'insurance_policies', ['status', 'expiry_date'], unique=False)
    op.create_table('insurance_contributions',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('policy_id', sa.BigInteger(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('paid_on', sa.Date(), nullable=False),
    sa.Column('payer', sa.String(length=200), nullable=True),
    sa.Column('method', sa.String(length=10), nullable=False),
    sa.Column('receipt_no', sa.String(length=50), nullable=False),
    sa.Column('overpayment', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('recorded_by', sa.String(length=254), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("method IN ('cash', 'bank', 'mobile', 'gateway')", name=op.f('ck_insurance_contributions_method')),
    sa.CheckConstraint('amount > 0 AND overpayment >= 0', name=op.f('ck_insurance_contributions_amounts')),
    sa.ForeignKeyConstraint(['policy_id'], ['insurance_policies.id'], name=op.f('fk_insurance_contributions_policy_id_insurance_policies'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_insurance_contributions')),
    sa.UniqueConstraint('receipt_no', name=op.f('uq_insurance_contributions_receipt_no'))
    )
    op.create_index(op.f('ix_insurance_contributions_policy_id'), 'insurance_contributions', ['policy_id'], unique=False)
    op.create_table('insurance_policy_members',
    sa.Column('policy_id', sa.BigInteger(), nullable=False),
    sa.Column('individual_id', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['individual_id'], ['individuals.id'], name=op.f('fk_insurance_policy_members_individual_id_individuals'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['policy_id'], ['insurance_policies.id'], name=op.f('fk_insurance_policy_members_policy_id_insurance_policies'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('policy_id', 'individual_id', name=op.f('pk_insurance_policy_members'))
    )
    op.create_index(op.f('ix_insurance_policy_members_individual_id'), 'insurance_policy_members', ['individual_id'], unique=False)
    op.execute(USAGE_VIEW)


def downgrade() -> None:
    op.execute("DROP VIEW insurance_usage")
    op.drop_index(op.f('ix_insurance_policy_members_individual_id'), table_name='insurance_policy_members')
    op.drop_table('insurance_policy_members')
    op.drop_index(op.f('ix_insurance_contributions_policy_id'), table_name='insurance_contributions')
    op.drop_table('insurance_contributions')
    op.drop_index('ix_insurance_policies_status_expiry', table_name='insurance_policies')
    op.drop_index(op.f('ix_insurance_policies_product_id'), table_name='insurance_policies')
    op.drop_index(op.f('ix_insurance_policies_household_id'), table_name='insurance_policies')
    op.drop_table('insurance_policies')
    op.drop_index(op.f('ix_insurance_product_coverage_entry_id'), table_name='insurance_product_coverage')
    op.drop_table('insurance_product_coverage')
    op.drop_table('insurance_products')
