"""Facility payment: statements batching valuated claims per facility and period.

``claim_statements`` holds what the scheme owes a facility for the claims valuated in a period;
``claims.statement_id`` gets its foreign key and index, so a claim is in at most one statement
(decision 0325).

Revision ID: t0018
Revises: t0017
Create Date: 2026-12-03 10:00:00
"""

from alembic import op
import sqlalchemy as sa

revision = 't0018'
down_revision = 't0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('claim_statements',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('reference', sa.String(length=40), nullable=False),
    sa.Column('facility_id', sa.Integer(), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('status', sa.String(length=10), server_default='draft', nullable=False),
    sa.Column('total', sa.BigInteger(), nullable=False),
    sa.Column('claim_count', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.String(length=254), nullable=False),
    sa.Column('created_by_name', sa.String(length=254), nullable=True),
    sa.Column('approved_by', sa.String(length=254), nullable=True),
    sa.Column('approved_by_name', sa.String(length=254), nullable=True),
    sa.Column('approved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('paid_on', sa.Date(), nullable=True),
    sa.Column('payment_reference', sa.String(length=100), nullable=True),
    sa.Column('paid_by_name', sa.String(length=254), nullable=True),
    sa.Column('paid_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancelled_by_name', sa.String(length=254), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancel_reason', sa.String(length=500), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('draft', 'approved', 'paid', 'cancelled')", name=op.f('ck_claim_statements_status')),
    sa.CheckConstraint('period_end >= period_start', name=op.f('ck_claim_statements_period')),
    sa.CheckConstraint('total >= 0 AND claim_count > 0', name=op.f('ck_claim_statements_figures')),
    sa.CheckConstraint("status <> 'paid' OR (paid_on IS NOT NULL AND payment_reference IS NOT NULL)",
                       name=op.f('ck_claim_statements_paid')),
    sa.ForeignKeyConstraint(['facility_id'], ['health_facilities.id'],
                            name=op.f('fk_claim_statements_facility_id_health_facilities'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_claim_statements')),
    sa.UniqueConstraint('reference', name=op.f('uq_claim_statements_reference'))
    )
    op.create_index('ix_claim_statements_facility_id_period_start', 'claim_statements',
                    ['facility_id', 'period_start'], unique=False)
    op.create_index('ix_claim_statements_status', 'claim_statements', ['status'], unique=False)
    op.create_foreign_key(op.f('fk_claims_statement_id_claim_statements'), 'claims', 'claim_statements',
                          ['statement_id'], ['id'], ondelete='RESTRICT')
    op.create_index(op.f('ix_claims_statement_id'), 'claims', ['statement_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_claims_statement_id'), table_name='claims')
    op.drop_constraint(op.f('fk_claims_statement_id_claim_statements'), 'claims', type_='foreignkey')
    op.drop_index('ix_claim_statements_status', table_name='claim_statements')
    op.drop_index('ix_claim_statements_facility_id_period_start', table_name='claim_statements')
    op.drop_table('claim_statements')
