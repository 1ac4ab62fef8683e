"""Billing: plans and prices, tax rates, platform fees, partner invoice profiles, subscriptions, daily usage,
invoices with lines and per-partner counters, payments and received Stripe events.

Revision ID: c0004
Revises: c0003
Create Date: 2026-12-03 06:30:00
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = 'c0004'
down_revision = 'c0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('billing_webhook_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.String(length=100), nullable=False),
    sa.Column('type', sa.String(length=100), nullable=False),
    sa.Column('account', sa.String(length=64), nullable=True),
    sa.Column('object_id', sa.String(length=100), nullable=True),
    sa.Column('created', sa.BigInteger(), nullable=False),
    sa.Column('outcome', sa.String(length=100), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_billing_webhook_events')),
    sa.UniqueConstraint('event_id', name=op.f('uq_billing_webhook_events_event_id')),
    schema='control'
    )
    op.create_table('billing_invoice_counters',
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('next_number', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['partner_id'], ['control.partners.id'], name=op.f('fk_billing_invoice_counters_partner_id_partners'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('partner_id', 'kind', name=op.f('pk_billing_invoice_counters')),
    schema='control'
    )
    op.create_table('billing_partner_profiles',
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('legal_name', sa.String(length=200), nullable=True),
    sa.Column('address', sa.Text(), nullable=True),
    sa.Column('tax_id', sa.String(length=50), nullable=True),
    sa.Column('payment_instructions', sa.Text(), nullable=True),
    sa.Column('invoice_prefix', sa.String(length=12), nullable=True),
    sa.Column('stripe_account_id', sa.String(length=64), nullable=True),
    sa.Column('stripe_charges_enabled', sa.Boolean(), server_default='false', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['partner_id'], ['control.partners.id'], name=op.f('fk_billing_partner_profiles_partner_id_partners'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('partner_id', name=op.f('pk_billing_partner_profiles')),
    sa.UniqueConstraint('stripe_account_id', name=op.f('uq_billing_partner_profiles_stripe_account_id')),
    schema='control'
    )
    op.create_table('billing_plans',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('period', sa.String(length=10), nullable=False),
    sa.Column('fixed_fee', sa.BigInteger(), nullable=False),
    sa.Column('setup_fee', sa.BigInteger(), nullable=False),
    sa.Column('trial_days', sa.Integer(), nullable=False),
    sa.Column('due_days', sa.Integer(), nullable=False),
    sa.Column('reminder_days', sa.Integer(), nullable=False),
    sa.Column('read_only_after_days', sa.Integer(), nullable=False),
    sa.Column('suspend_after_days', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), server_default='true', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("period IN ('monthly', 'quarterly', 'yearly')", name=op.f('ck_billing_plans_period')),
    sa.CheckConstraint('fixed_fee >= 0 AND setup_fee >= 0', name=op.f('ck_billing_plans_fees')),
    sa.CheckConstraint('read_only_after_days >= 0 AND suspend_after_days >= read_only_after_days', name=op.f('ck_billing_plans_dunning')),
    sa.CheckConstraint('trial_days >= 0 AND due_days >= 0 AND reminder_days > 0', name=op.f('ck_billing_plans_days')),
    sa.ForeignKeyConstraint(['partner_id'], ['control.partners.id'], name=op.f('fk_billing_plans_partner_id_partners'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_billing_plans')),
    sa.UniqueConstraint('partner_id', 'code', name=op.f('uq_billing_plans_partner_id_code')),
    schema='control'
    )
    op.create_index(op.f('ix_billing_plans_partner_id'), 'billing_plans', ['partner_id'], unique=False, schema='control')
    op.create_table('billing_platform_fees',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('percent', sa.Numeric(precision=7, scale=4), nullable=True),
    sa.Column('amount', sa.BigInteger(), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("(kind = 'percent' AND percent >= 0 AND percent <= 100 AND amount IS NULL) OR (kind = 'fixed' AND amount >= 0 AND currency IS NOT NULL AND percent IS NULL)", name=op.f('ck_billing_platform_fees_value')),
    sa.CheckConstraint("kind IN ('percent', 'fixed')", name=op.f('ck_billing_platform_fees_kind')),
    sa.ForeignKeyConstraint(['partner_id'], ['control.partners.id'], name=op.f('fk_billing_platform_fees_partner_id_partners'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_billing_platform_fees')),
    schema='control'
    )
    op.create_index(op.f('ix_billing_platform_fees_partner_id'), 'billing_platform_fees', ['partner_id'], unique=False, schema='control')
    op.create_index('uq_billing_platform_fees_partner', 'billing_platform_fees', [sa.literal_column('coalesce(partner_id, 0)')], unique=True, schema='control')
    op.create_table('billing_tax_rates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('rate', sa.Numeric(precision=7, scale=4), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('rate >= 0 AND rate < 100', name=op.f('ck_billing_tax_rates_rate')),
    sa.ForeignKeyConstraint(['partner_id'], ['control.partners.id'], name=op.f('fk_billing_tax_rates_partner_id_partners'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_billing_tax_rates')),
    sa.UniqueConstraint('partner_id', 'country', name=op.f('uq_billing_tax_rates_partner_id_country')),
    schema='control'
    )
    op.create_index(op.f('ix_billing_tax_rates_partner_id'), 'billing_tax_rates', ['partner_id'], unique=False, schema='control')
    op.create_table('billing_plan_prices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('meter', sa.String(length=40), nullable=False),
    sa.Column('included', sa.BigInteger(), nullable=False),
    sa.Column('tiers', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.CheckConstraint('included >= 0', name=op.f('ck_billing_plan_prices_included')),
    sa.ForeignKeyConstraint(['plan_id'], ['control.billing_plans.id'], name=op.f('fk_billing_plan_prices_plan_id_billing_plans'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_billing_plan_prices')),
    sa.UniqueConstraint('plan_id', 'meter', name=op.f('uq_billing_plan_prices_plan_id_meter')),
    schema='control'
    )
    op.create_index(op.f('ix_billing_plan_prices_plan_id'), 'billing_plan_prices', ['plan_id'], unique=False, schema='control')
    op.create_table('billing_subscriptions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=True),
    sa.Column('billing_email', sa.String(length=254), nullable=True),
    sa.Column('started_on', sa.Date(), nullable=False),
    sa.Column('trial_ends_on', sa.Date(), nullable=False),
    sa.Column('current_period_start', sa.Date(), nullable=False),
    sa.Column('current_period_end', sa.Date(), nullable=False),
    sa.Column('segment_start', sa.Date(), nullable=False),
    sa.Column('setup_billed', sa.Boolean(), server_default='false', nullable=False),
    sa.Column('cancel_at_period_end', sa.Boolean(), server_default='false', nullable=False),
    sa.Column('canceled_on', sa.Date(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('active', 'canceled')", name=op.f('ck_billing_subscriptions_status')),
    sa.CheckConstraint('current_period_start < current_period_end', name=op.f('ck_billing_subscriptions_period')),
    sa.ForeignKeyConstraint(['plan_id'], ['control.billing_plans.id'], name=op.f('fk_billing_subscriptions_plan_id_billing_plans'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['tenant_id'], ['control.tenants.id'], name=op.f('fk_billing_subscriptions_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_billing_subscriptions')),
    schema='control'
    )
    op.create_index(op.f('ix_billing_subscriptions_plan_id'), 'billing_subscriptions', ['plan_id'], unique=False, schema='control')
    op.create_index(op.f('ix_billing_subscriptions_tenant_id'), 'billing_subscriptions', ['tenant_id'], unique=False, schema='control')
    op.create_index('uq_billing_subscriptions_live_tenant', 'billing_subscriptions', ['tenant_id'], unique=True, schema='control', postgresql_where=sa.text("status = 'active'"))
    op.create_table('billing_usage',
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('meter', sa.String(length=40), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.Column('measured_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['control.tenants.id'], name=op.f('fk_billing_usage_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'meter', 'day', name=op.f('pk_billing_usage')),
    schema='control'
    )
    op.create_table('billing_invoices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('subscription_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('credits_invoice_id', sa.Integer(), nullable=True),
    sa.Column('seq', sa.BigInteger(), nullable=True),
    sa.Column('number', sa.String(length=40), nullable=True),
    sa.Column('status', sa.String(length=14), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=True),
    sa.Column('period_end', sa.Date(), nullable=True),
    sa.Column('tax_name', sa.String(length=100), nullable=True),
    sa.Column('tax_rate', sa.Numeric(precision=7, scale=4), nullable=False),
    sa.Column('subtotal', sa.BigInteger(), nullable=False),
    sa.Column('tax', sa.BigInteger(), nullable=False),
    sa.Column('total', sa.BigInteger(), nullable=False),
    sa.Column('amount_paid', sa.BigInteger(), nullable=False),
    sa.Column('amount_credited', sa.BigInteger(), nullable=False),
    sa.Column('platform_fee', sa.BigInteger(), nullable=False),
    sa.Column('issued_on', sa.Date(), nullable=True),
    sa.Column('due_on', sa.Date(), nullable=True),
    sa.Column('extended_to', sa.Date(), nullable=True),
    sa.Column('reminders_sent', sa.Integer(), server_default='0', nullable=False),
    sa.Column('last_reminder_on', sa.Date(), nullable=True),
    sa.Column('paid_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('memo', sa.Text(), nullable=True),
    sa.Column('stripe_payment_intent', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("(status = 'draft') = (seq IS NULL)", name=op.f('ck_billing_invoices_numbered_when_issued')),
    sa.CheckConstraint("kind IN ('invoice', 'credit_note')", name=op.f('ck_billing_invoices_kind')),
    sa.CheckConstraint("status IN ('draft', 'issued', 'paid', 'void', 'uncollectible')", name=op.f('ck_billing_invoices_status')),
    sa.CheckConstraint('total = subtotal + tax', name=op.f('ck_billing_invoices_total')),
    sa.ForeignKeyConstraint(['credits_invoice_id'], ['control.billing_invoices.id'], name=op.f('fk_billing_invoices_credits_invoice_id_billing_invoices'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['partner_id'], ['control.partners.id'], name=op.f('fk_billing_invoices_partner_id_partners'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['subscription_id'], ['control.billing_subscriptions.id'], name=op.f('fk_billing_invoices_subscription_id_billing_subscriptions'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tenant_id'], ['control.tenants.id'], name=op.f('fk_billing_invoices_tenant_id_tenants'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_billing_invoices')),
    sa.UniqueConstraint('partner_id', 'kind', 'seq', name=op.f('uq_billing_invoices_partner_id_kind_seq')),
    sa.UniqueConstraint('stripe_payment_intent', name=op.f('uq_billing_invoices_stripe_payment_intent')),
    schema='control'
    )
    op.create_index(op.f('ix_billing_invoices_credits_invoice_id'), 'billing_invoices', ['credits_invoice_id'], unique=False, schema='control')
    op.create_index(op.f('ix_billing_invoices_partner_id'), 'billing_invoices', ['partner_id'], unique=False, schema='control')
    op.create_index(op.f('ix_billing_invoices_subscription_id'), 'billing_invoices', ['subscription_id'], unique=False, schema='control')
    op.create_index(op.f('ix_billing_invoices_tenant_id'), 'billing_invoices', ['tenant_id'], unique=False, schema='control')
    op.create_index('uq_billing_invoices_period', 'billing_invoices', ['subscription_id', 'period_start'], unique=True, schema='control', postgresql_where=sa.text("kind = 'invoice' AND subscription_id IS NOT NULL AND status <> 'void'"))
    op.create_table('billing_invoice_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('meter', sa.String(length=40), nullable=True),
    sa.Column('description', sa.String(length=300), nullable=False),
    sa.Column('quantity', sa.BigInteger(), nullable=True),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('tax', sa.BigInteger(), nullable=False),
    sa.Column('detail', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.CheckConstraint("kind IN ('setup', 'fixed', 'metered', 'proration', 'credit')", name=op.f('ck_billing_invoice_lines_kind')),
    sa.ForeignKeyConstraint(['invoice_id'], ['control.billing_invoices.id'], name=op.f('fk_billing_invoice_lines_invoice_id_billing_invoices'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_billing_invoice_lines')),
    schema='control'
    )
    op.create_index(op.f('ix_billing_invoice_lines_invoice_id'), 'billing_invoice_lines', ['invoice_id'], unique=False, schema='control')
    op.create_table('billing_payments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('method', sa.String(length=14), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('reference', sa.String(length=100), nullable=False),
    sa.Column('paid_on', sa.Date(), nullable=False),
    sa.Column('recorded_by', sa.String(length=200), nullable=False),
    sa.Column('proof_name', sa.String(length=200), nullable=True),
    sa.Column('proof_type', sa.String(length=100), nullable=True),
    sa.Column('proof', sa.LargeBinary(), nullable=True),
    sa.Column('refunded', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("method IN ('bank', 'cash', 'mobile_money', 'card')", name=op.f('ck_billing_payments_method')),
    sa.CheckConstraint('amount > 0 AND refunded >= 0 AND refunded <= amount', name=op.f('ck_billing_payments_amount')),
    sa.ForeignKeyConstraint(['invoice_id'], ['control.billing_invoices.id'], name=op.f('fk_billing_payments_invoice_id_billing_invoices'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_billing_payments')),
    sa.UniqueConstraint('method', 'reference', name=op.f('uq_billing_payments_method_reference')),
    schema='control'
    )
    op.create_index(op.f('ix_billing_payments_invoice_id'), 'billing_payments', ['invoice_id'], unique=False, schema='control')
    op.create_table('billing_pending_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subscription_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('description', sa.String(length=300), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('data', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('invoice_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['invoice_id'], ['control.billing_invoices.id'], name=op.f('fk_billing_pending_lines_invoice_id_billing_invoices'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['subscription_id'], ['control.billing_subscriptions.id'], name=op.f('fk_billing_pending_lines_subscription_id_billing_subscriptions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_billing_pending_lines')),
    schema='control'
    )
    op.create_index(op.f('ix_billing_pending_lines_invoice_id'), 'billing_pending_lines', ['invoice_id'], unique=False, schema='control')
    op.create_index(op.f('ix_billing_pending_lines_subscription_id'), 'billing_pending_lines', ['subscription_id'], unique=False, schema='control')


def downgrade() -> None:
    op.drop_index(op.f('ix_billing_pending_lines_subscription_id'), table_name='billing_pending_lines', schema='control')
    op.drop_index(op.f('ix_billing_pending_lines_invoice_id'), table_name='billing_pending_lines', schema='control')
    op.drop_table('billing_pending_lines', schema='control')
    op.drop_index(op.f('ix_billing_payments_invoice_id'), table_name='billing_payments', schema='control')
    op.drop_table('billing_payments', schema='control')
    op.drop_index(op.f('ix_billing_invoice_lines_invoice_id'), table_name='billing_invoice_lines', schema='control')
    op.drop_table('billing_invoice_lines', schema='control')
    op.drop_index('uq_billing_invoices_period', table_name='billing_invoices', schema='control', postgresql_where=sa.text("kind = 'invoice' AND subscription_id IS NOT NULL AND status <> 'void'"))
    op.drop_index(op.f('ix_billing_invoices_tenant_id'), table_name='billing_invoices', schema='control')
    op.drop_index(op.f('ix_billing_invoices_subscription_id'), table_name='billing_invoices', schema='control')
    op.drop_index(op.f('ix_billing_invoices_partner_id'), table_name='billing_invoices', schema='control')
    op.drop_index(op.f('ix_billing_invoices_credits_invoice_id'), table_name='billing_invoices', schema='control')
    op.drop_table('billing_invoices', schema='control')
    op.drop_table('billing_usage', schema='control')
    op.drop_index('uq_billing_subscriptions_live_tenant', table_name='billing_subscriptions', schema='control', postgresql_where=sa.text("status = 'active'"))
    op.drop_index(op.f('ix_billing_subscriptions_tenant_id'), table_name='billing_subscriptions', schema='control')
    op.drop_index(op.f('ix_billing_subscriptions_plan_id'), table_name='billing_subscriptions', schema='control')
    op.drop_table('billing_subscriptions', schema='control')
    op.drop_index(op.f('ix_billing_plan_prices_plan_id'), table_name='billing_plan_prices', schema='control')
    op.drop_table('billing_plan_prices', schema='control')
    op.drop_index(op.f('ix_billing_tax_rates_partner_id'), table_name='billing_tax_rates', schema='control')
    op.drop_table('billing_tax_rates', schema='control')
    op.drop_index('uq_billing_platform_fees_partner', table_name='billing_platform_fees', schema='control')
    op.drop_index(op.f('ix_billing_platform_fees_partner_id'), table_name='billing_platform_fees', schema='control')
    op.drop_table('billing_platform_fees', schema='control')
    op.drop_index(op.f('ix_billing_plans_partner_id'), table_name='billing_plans', schema='control')
    op.drop_table('billing_plans', schema='control')
    op.drop_table('billing_partner_profiles', schema='control')
    op.drop_table('billing_invoice_counters', schema='control')
    op.drop_table('billing_webhook_events', schema='control')
