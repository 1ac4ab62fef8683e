"""Voucher reimbursement: facilities' claims (redemptions of a period batched, a sample flagged for
verification, approved, paid) and each redemption's claim and verification.

Revision ID: t0011
Revises: t0010
Create Date: 2026-12-03 06:55:00.000000
"""

from alembic import op
import sqlalchemy as sa

revision = 't0011'
down_revision = 't0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('voucher_claims',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('facility_id', sa.Integer(), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('claimed', sa.BigInteger(), nullable=False),
    sa.Column('redemptions', sa.Integer(), nullable=False),
    sa.Column('approved_amount', sa.BigInteger(), nullable=True),
    sa.Column('status', sa.String(length=20), server_default='verifying', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('created_by', sa.String(length=254), nullable=True),
    sa.Column('approved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('approved_by', sa.String(length=254), nullable=True),
    sa.Column('paid_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('paid_by', sa.String(length=254), nullable=True),
    sa.Column('payment_reference', sa.String(length=100), nullable=True),
    sa.CheckConstraint("status IN ('verifying', 'approved', 'paid')", name=op.f('ck_voucher_claims_status')),
    sa.CheckConstraint('period_end >= period_start', name=op.f('ck_voucher_claims_period')),
    sa.ForeignKeyConstraint(['facility_id'], ['health_facilities.id'], name=op.f('fk_voucher_claims_facility_id_health_facilities'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_voucher_claims'))
    )
    op.create_index(op.f('ix_voucher_claims_facility_id'), 'voucher_claims', ['facility_id'], unique=False)
    op.add_column('voucher_redemptions', sa.Column('claim_id', sa.BigInteger(), nullable=True))
    op.add_column('voucher_redemptions', sa.Column('verification', sa.String(length=20), nullable=True))
    op.create_index(op.f('ix_voucher_redemptions_claim_id'), 'voucher_redemptions', ['claim_id'], unique=False)
    op.create_foreign_key(op.f('fk_voucher_redemptions_claim_id_voucher_claims'), 'voucher_redemptions', 'voucher_claims', ['claim_id'], ['id'], ondelete='RESTRICT')
    op.create_check_constraint(op.f('ck_voucher_redemptions_verification'), 'voucher_redemptions',
                               "verification IS NULL OR verification IN ('flagged', 'confirmed', 'rejected')")


def downgrade() -> None:
    op.drop_constraint(op.f('ck_voucher_redemptions_verification'), 'voucher_redemptions', type_='check')
    op.drop_constraint(op.f('fk_voucher_redemptions_claim_id_voucher_claims'), 'voucher_redemptions', type_='foreignkey')
    op.drop_index(op.f('ix_voucher_redemptions_claim_id'), table_name='voucher_redemptions')
    op.drop_column('voucher_redemptions', 'verification')
    op.drop_column('voucher_redemptions', 'claim_id')
    op.drop_index(op.f('ix_voucher_claims_facility_id'), table_name='voucher_claims')
    op.drop_table('voucher_claims')
