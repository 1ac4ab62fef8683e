"""Payments: gateways (settings and encrypted keys), control-number bills, payment notifications
(one per gateway transaction id), daily reconciliations, mobile-money disbursements.

Revision ID: t0007
Revises: t0006
Create Date: 2026-12-03 06:40:00
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = 't0007'
down_revision = 't0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('payment_gateways',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('base_url', sa.String(length=500), nullable=False),
    sa.Column('sp_code', sa.String(length=40), nullable=False),
    sa.Column('signature', sa.String(length=20), nullable=False),
    sa.Column('timeout_s', sa.Integer(), server_default='10', nullable=False),
    sa.Column('active', sa.Boolean(), server_default='true', nullable=False),
    sa.Column('options', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('secret', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("kind IN ('control_number', 'mobile_money')", name=op.f('ck_payment_gateways_kind')),
    sa.CheckConstraint("signature IN ('rsa-sha256', 'rsa-sha1', 'hmac-sha256')", name=op.f('ck_payment_gateways_signature')),
    sa.CheckConstraint('timeout_s BETWEEN 1 AND 120', name=op.f('ck_payment_gateways_timeout_s')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_gateways')),
    sa.UniqueConstraint('code', name=op.f('uq_payment_gateways_code'))
    )
    op.create_table('payment_bills',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('gateway_id', sa.Integer(), nullable=False),
    sa.Column('reference', sa.String(length=40), nullable=False),
    sa.Column('payable_kind', sa.String(length=40), nullable=True),
    sa.Column('payable_ref', sa.String(length=100), nullable=True),
    sa.Column('payer_name', sa.String(length=200), nullable=False),
    sa.Column('payer_phone', sa.String(length=20), nullable=True),
    sa.Column('payer_email', sa.String(length=254), nullable=True),
    sa.Column('description', sa.String(length=200), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('payment_option', sa.String(length=10), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('items', postgresql.JSONB(astext_type=sa.Text()), server_default='[]', nullable=False),
    sa.Column('status', sa.String(length=20), server_default='pending', nullable=False),
    sa.Column('control_number', sa.String(length=40), nullable=True),
    sa.Column('paid_amount', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('gateway_status', sa.String(length=10), nullable=True),
    sa.Column('submit_attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('last_error', sa.String(length=300), nullable=True),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('paid_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_by', sa.String(length=254), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("payment_option IN ('full', 'partial', 'exact')", name=op.f('ck_payment_bills_payment_option')),
    sa.CheckConstraint("status IN ('pending', 'submitted', 'issued', 'partially_paid', 'paid', 'rejected', 'expired', 'cancelled')", name=op.f('ck_payment_bills_status')),
    sa.CheckConstraint('amount > 0', name=op.f('ck_payment_bills_amount')),
    sa.CheckConstraint('paid_amount >= 0', name=op.f('ck_payment_bills_paid_amount')),
    sa.ForeignKeyConstraint(['gateway_id'], ['payment_gateways.id'], name=op.f('fk_payment_bills_gateway_id_payment_gateways')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_bills')),
    sa.UniqueConstraint('control_number', name=op.f('uq_payment_bills_control_number')),
    sa.UniqueConstraint('reference', name=op.f('uq_payment_bills_reference'))
    )
    op.create_index(op.f('ix_payment_bills_gateway_id'), 'payment_bills', ['gateway_id'], unique=False)
    op.create_index('ix_payment_bills_payable', 'payment_bills', ['payable_kind', 'payable_ref'], unique=False)
    op.create_table('payment_disbursements',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('gateway_id', sa.Integer(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=80), nullable=False),
    sa.Column('payable_kind', sa.String(length=40), nullable=True),
    sa.Column('payable_ref', sa.String(length=100), nullable=True),
    sa.Column('recipient_phone', sa.String(length=20), nullable=False),
    sa.Column('recipient_name', sa.String(length=200), nullable=True),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('status', sa.String(length=20), server_default='pending', nullable=False),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('provider_txn_id', sa.String(length=60), nullable=True),
    sa.Column('result_code', sa.String(length=40), nullable=True),
    sa.Column('last_error', sa.String(length=300), nullable=True),
    sa.Column('callbacks', sa.Integer(), server_default='0', nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('pending', 'accepted', 'succeeded', 'failed')", name=op.f('ck_payment_disbursements_status')),
    sa.CheckConstraint('amount > 0', name=op.f('ck_payment_disbursements_amount')),
    sa.ForeignKeyConstraint(['gateway_id'], ['payment_gateways.id'], name=op.f('fk_payment_disbursements_gateway_id_payment_gateways')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_disbursements')),
    sa.UniqueConstraint('gateway_id', 'provider_txn_id', name='uq_payment_disbursements_provider_txn'),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_payment_disbursements_idempotency_key'))
    )
    op.create_index('ix_payment_disbursements_due', 'payment_disbursements', ['status', 'next_attempt_at'], unique=False)
    op.create_index(op.f('ix_payment_disbursements_gateway_id'), 'payment_disbursements', ['gateway_id'], unique=False)
    op.create_index('ix_payment_disbursements_payable', 'payment_disbursements', ['payable_kind', 'payable_ref'], unique=False)
    op.create_table('payment_reconciliations',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('gateway_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('counts', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('flagged', postgresql.JSONB(astext_type=sa.Text()), server_default='[]', nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('error', sa.String(length=300), nullable=True),
    sa.CheckConstraint("status IN ('requested', 'done', 'failed')", name=op.f('ck_payment_reconciliations_status')),
    sa.ForeignKeyConstraint(['gateway_id'], ['payment_gateways.id'], name=op.f('fk_payment_reconciliations_gateway_id_payment_gateways')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_reconciliations')),
    sa.UniqueConstraint('gateway_id', 'day', name='uq_payment_reconciliations_day')
    )
    op.create_index(op.f('ix_payment_reconciliations_gateway_id'), 'payment_reconciliations', ['gateway_id'], unique=False)
    op.create_table('payment_notifications',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('gateway_id', sa.Integer(), nullable=False),
    sa.Column('gateway_txn_id', sa.String(length=60), nullable=False),
    sa.Column('bill_id', sa.BigInteger(), nullable=True),
    sa.Column('bill_reference', sa.String(length=40), nullable=True),
    sa.Column('control_number', sa.String(length=40), nullable=True),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('paid_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('channel', sa.String(length=60), nullable=True),
    sa.Column('receipt', sa.String(length=60), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('deliveries', sa.Integer(), server_default='1', nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('raw', sa.Text(), nullable=False),
    sa.CheckConstraint("status IN ('applied', 'unmatched', 'refused')", name=op.f('ck_payment_notifications_status')),
    sa.ForeignKeyConstraint(['bill_id'], ['payment_bills.id'], name=op.f('fk_payment_notifications_bill_id_payment_bills')),
    sa.ForeignKeyConstraint(['gateway_id'], ['payment_gateways.id'], name=op.f('fk_payment_notifications_gateway_id_payment_gateways')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_notifications')),
    sa.UniqueConstraint('gateway_id', 'gateway_txn_id', name='uq_payment_notifications_txn')
    )
    op.create_index(op.f('ix_payment_notifications_bill_id'), 'payment_notifications', ['bill_id'], unique=False)
    op.create_index(op.f('ix_payment_notifications_gateway_id'), 'payment_notifications', ['gateway_id'], unique=False)
    op.create_index('ix_payment_notifications_paid_at', 'payment_notifications', ['gateway_id', 'paid_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_payment_notifications_paid_at', table_name='payment_notifications')
    op.drop_index(op.f('ix_payment_notifications_gateway_id'), table_name='payment_notifications')
    op.drop_index(op.f('ix_payment_notifications_bill_id'), table_name='payment_notifications')
    op.drop_table('payment_notifications')
    op.drop_index(op.f('ix_payment_reconciliations_gateway_id'), table_name='payment_reconciliations')
    op.drop_table('payment_reconciliations')
    op.drop_index('ix_payment_disbursements_payable', table_name='payment_disbursements')
    op.drop_index(op.f('ix_payment_disbursements_gateway_id'), table_name='payment_disbursements')
    op.drop_index('ix_payment_disbursements_due', table_name='payment_disbursements')
    op.drop_table('payment_disbursements')
    op.drop_index('ix_payment_bills_payable', table_name='payment_bills')
    op.drop_index(op.f('ix_payment_bills_gateway_id'), table_name='payment_bills')
    op.drop_table('payment_bills')
    op.drop_table('payment_gateways')
