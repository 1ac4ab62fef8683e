"""Billing: invoices paid through a partner's control-number gateway — the partner's gateway settings (keys
encrypted with the key ring), the bills posted for invoices, and the gateway's payment notifications stored
once per transaction; payment method ``control_number``.

Revision ID: c0005
Revises: c0004
Create Date: 2026-12-03 08:00:00
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = 'c0005'
down_revision = 'c0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('billing_gateways',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('base_url', sa.String(length=500), nullable=False),
    sa.Column('sp_code', sa.String(length=40), nullable=False),
    sa.Column('signature', sa.String(length=20), nullable=False),
    sa.Column('timeout_s', sa.Integer(), server_default='10', nullable=False),
    sa.Column('active', sa.Boolean(), server_default='true', nullable=False),
    sa.Column('options', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('secret', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("signature IN ('rsa-sha256', 'rsa-sha1', 'hmac-sha256')", name=op.f('ck_billing_gateways_signature')),
    sa.CheckConstraint('timeout_s BETWEEN 1 AND 120', name=op.f('ck_billing_gateways_timeout_s')),
    sa.ForeignKeyConstraint(['partner_id'], ['control.partners.id'], name=op.f('fk_billing_gateways_partner_id_partners'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_billing_gateways')),
    sa.UniqueConstraint('partner_id', name=op.f('uq_billing_gateways_partner_id')),
    schema='control'
    )
    op.create_table('billing_control_bills',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('gateway_id', sa.Integer(), nullable=False),
    sa.Column('reference', sa.String(length=40), nullable=False),
    sa.Column('control_number', sa.String(length=40), nullable=True),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('gateway_status', sa.String(length=10), nullable=True),
    sa.Column('last_error', sa.String(length=300), nullable=True),
    sa.Column('submit_attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('paid_amount', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('requested_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('pending', 'submitted', 'issued', 'rejected', 'closed')", name=op.f('ck_billing_control_bills_status')),
    sa.ForeignKeyConstraint(['invoice_id'], ['control.billing_invoices.id'], name=op.f('fk_billing_control_bills_invoice_id_billing_invoices'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['gateway_id'], ['control.billing_gateways.id'], name=op.f('fk_billing_control_bills_gateway_id_billing_gateways'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_billing_control_bills')),
    sa.UniqueConstraint('reference', name=op.f('uq_billing_control_bills_reference')),
    sa.UniqueConstraint('gateway_id', 'control_number', name=op.f('uq_billing_control_bills_gateway_id')),
    schema='control'
    )
    op.create_index(op.f('ix_billing_control_bills_invoice_id'), 'billing_control_bills', ['invoice_id'], unique=False, schema='control')
    op.create_index('uq_billing_control_bills_open', 'billing_control_bills', ['invoice_id'], unique=True, schema='control',
                    postgresql_where=sa.text("status IN ('pending', 'submitted', 'issued')"))
    op.create_table('billing_gateway_notifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('gateway_id', sa.Integer(), nullable=False),
    sa.Column('gateway_txn_id', sa.String(length=100), nullable=False),
    sa.Column('bill_id', sa.Integer(), nullable=True),
    sa.Column('payment_id', sa.Integer(), nullable=True),
    sa.Column('bill_reference', sa.String(length=40), nullable=True),
    sa.Column('control_number', sa.String(length=40), nullable=True),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('paid_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('receipt', sa.String(length=100), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=True),
    sa.Column('deliveries', sa.Integer(), server_default='1', nullable=False),
    sa.Column('raw', sa.Text(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('applied', 'unmatched', 'refused')", name=op.f('ck_billing_gateway_notifications_status')),
    sa.ForeignKeyConstraint(['gateway_id'], ['control.billing_gateways.id'], name=op.f('fk_billing_gateway_notifications_gateway_id_billing_gateways'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['bill_id'], ['control.billing_control_bills.id'], name=op.f('fk_billing_gateway_notifications_bill_id_billing_control_bills'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['payment_id'], ['control.billing_payments.id'], name=op.f('fk_billing_gateway_notifications_payment_id_billing_payments'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_billing_gateway_notifications')),
    sa.UniqueConstraint('gateway_id', 'gateway_txn_id', name='uq_billing_gateway_notifications_txn'),
    schema='control'
    )
    op.create_index(op.f('ix_billing_gateway_notifications_bill_id'), 'billing_gateway_notifications', ['bill_id'], unique=False, schema='control')
    op.drop_constraint(op.f('ck_billing_payments_method'), 'billing_payments', schema='control')
    op.create_check_constraint(op.f('ck_billing_payments_method'), 'billing_payments',
                               "method IN ('bank', 'cash', 'mobile_money', 'card', 'control_number')", schema='control')


def downgrade() -> None:
    op.drop_constraint(op.f('ck_billing_payments_method'), 'billing_payments', schema='control')
    op.create_check_constraint(op.f('ck_billing_payments_method'), 'billing_payments',
                               "method IN ('bank', 'cash', 'mobile_money', 'card')", schema='control')
    op.drop_table('billing_gateway_notifications', schema='control')
    op.drop_table('billing_control_bills', schema='control')
    op.drop_table('billing_gateways', schema='control')
