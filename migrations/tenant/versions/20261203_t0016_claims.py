"""Insurance claims: claims and their lines, and the ``insurance_usage`` view over claimed lines.

Revision ID: t0016
Revises: t0015
Create Date: 2026-12-03 10:00:00
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = 't0016'
down_revision = 't0015'
branch_labels = None
depends_on = None

#: What insurees used of an item or service under a policy: one row per line, not rejected, of a claim
#: past the automatic checks (decision 0303); the amount is the valuated one, else the approved, else
#: the claimed one.
USAGE_VIEW = """
CREATE OR REPLACE VIEW insurance_usage AS
SELECT c.policy_id, c.individual_id, l.entry_id, c.date_from AS used_on,
       COALESCE(l.approved_quantity, l.quantity) AS quantity,
       COALESCE(l.valuated, l.approved_quantity * l.approved_price, l.quantity * l.price) AS amount
FROM claims c JOIN claim_lines l ON l.claim_id = c.id
WHERE c.status IN ('checked', 'processed', 'valuated') AND l.status <> 'rejected'
"""

#: The view as t0008 made it (empty).
EMPTY_USAGE_VIEW = """
CREATE OR REPLACE VIEW insurance_usage AS
SELECT NULL::bigint AS policy_id, NULL::bigint AS individual_id, NULL::integer AS entry_id,
       NULL::date AS used_on, NULL::integer AS quantity, NULL::bigint AS amount
WHERE false
"""


def upgrade() -> None:
    op.create_table('claims',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('code', sa.String(length=50), nullable=False),
    sa.Column('facility_id', sa.Integer(), nullable=False),
    sa.Column('individual_id', sa.BigInteger(), nullable=False),
    sa.Column('policy_id', sa.BigInteger(), nullable=True),
    sa.Column('product_id', sa.Integer(), nullable=True),
    sa.Column('visit_type', sa.String(length=12), nullable=False),
    sa.Column('date_from', sa.Date(), nullable=False),
    sa.Column('date_to', sa.Date(), nullable=True),
    sa.Column('date_claimed', sa.Date(), nullable=False),
    sa.Column('icd_code', sa.String(length=10), nullable=False),
    sa.Column('icd_codes', postgresql.ARRAY(sa.String(length=10)), server_default='{}', nullable=False),
    sa.Column('status', sa.String(length=10), server_default='entered', nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('claimed', sa.BigInteger(), nullable=False),
    sa.Column('approved', sa.BigInteger(), nullable=True),
    sa.Column('valuated', sa.BigInteger(), nullable=True),
    sa.Column('rejection_reason', sa.String(length=30), nullable=True),
    sa.Column('review_status', sa.String(length=12), server_default='not_selected', nullable=False),
    sa.Column('feedback_status', sa.String(length=12), server_default='not_selected', nullable=False),
    sa.Column('review_note', sa.String(length=500), nullable=True),
    sa.Column('incident_id', sa.BigInteger(), nullable=True),
    sa.Column('statement_id', sa.BigInteger(), nullable=True),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('entered_by', sa.String(length=254), nullable=True),
    sa.Column('processed_by', sa.String(length=254), nullable=True),
    sa.Column('checked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('processed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('valuated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('entered', 'checked', 'processed', 'valuated', 'rejected')",
                       name=op.f('ck_claims_status')),
    sa.CheckConstraint("visit_type IN ('out_patient', 'in_patient', 'emergency')", name=op.f('ck_claims_visit_type')),
    sa.CheckConstraint("review_status IN ('not_selected', 'selected', 'reviewed')",
                       name=op.f('ck_claims_review_status')),
    sa.CheckConstraint("feedback_status IN ('not_selected', 'selected', 'reviewed')",
                       name=op.f('ck_claims_feedback_status')),
    sa.CheckConstraint('date_to >= date_from', name=op.f('ck_claims_dates')),
    sa.CheckConstraint('claimed >= 0 AND approved >= 0 AND valuated >= 0', name=op.f('ck_claims_amounts')),
    sa.CheckConstraint('version >= 1', name=op.f('ck_claims_version')),
    sa.ForeignKeyConstraint(['facility_id'], ['health_facilities.id'],
                            name=op.f('fk_claims_facility_id_health_facilities'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['individual_id'], ['individuals.id'], name=op.f('fk_claims_individual_id_individuals'),
                            ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['policy_id'], ['insurance_policies.id'],
                            name=op.f('fk_claims_policy_id_insurance_policies'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['product_id'], ['insurance_products.id'],
                            name=op.f('fk_claims_product_id_insurance_products'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_claims')),
    sa.UniqueConstraint('facility_id', 'code', name='uq_claims_facility_id_code')
    )
    op.create_index('ix_claims_status', 'claims', ['status'], unique=False)
    op.create_index('ix_claims_individual_id_date_from', 'claims', ['individual_id', 'date_from'], unique=False)
    op.create_index('ix_claims_facility_id_date_from', 'claims', ['facility_id', 'date_from'], unique=False)
    op.create_index(op.f('ix_claims_policy_id'), 'claims', ['policy_id'], unique=False)
    op.create_index(op.f('ix_claims_product_id'), 'claims', ['product_id'], unique=False)
    op.create_table('claim_lines',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('claim_id', sa.BigInteger(), nullable=False),
    sa.Column('line_no', sa.SmallInteger(), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('price', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=10), server_default='entered', nullable=False),
    sa.Column('rejection_reason', sa.String(length=30), nullable=True),
    sa.Column('approved_quantity', sa.Integer(), nullable=True),
    sa.Column('approved_price', sa.BigInteger(), nullable=True),
    sa.Column('list_price', sa.BigInteger(), nullable=True),
    sa.Column('valuated', sa.BigInteger(), nullable=True),
    sa.Column('copayment', sa.BigInteger(), nullable=True),
    sa.Column('deductible', sa.BigInteger(), nullable=True),
    sa.CheckConstraint("status IN ('entered', 'passed', 'rejected', 'approved', 'adjusted')",
                       name=op.f('ck_claim_lines_status')),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_claim_lines_quantity')),
    sa.CheckConstraint('price >= 0', name=op.f('ck_claim_lines_price')),
    sa.CheckConstraint('approved_quantity >= 0 AND approved_price >= 0', name=op.f('ck_claim_lines_approved')),
    sa.CheckConstraint('list_price >= 0 AND valuated >= 0 AND copayment >= 0 AND deductible >= 0',
                       name=op.f('ck_claim_lines_valuation')),
    sa.ForeignKeyConstraint(['claim_id'], ['claims.id'], name=op.f('fk_claim_lines_claim_id_claims'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['entry_id'], ['catalogue_entries.id'],
                            name=op.f('fk_claim_lines_entry_id_catalogue_entries'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_claim_lines')),
    sa.UniqueConstraint('claim_id', 'line_no', name='uq_claim_lines_claim_id_line_no')
    )
    op.create_index(op.f('ix_claim_lines_entry_id'), 'claim_lines', ['entry_id'], unique=False)
    op.execute(USAGE_VIEW)


def downgrade() -> None:
    op.execute(EMPTY_USAGE_VIEW)
    op.drop_index(op.f('ix_claim_lines_entry_id'), table_name='claim_lines')
    op.drop_table('claim_lines')
    op.drop_index(op.f('ix_claims_product_id'), table_name='claims')
    op.drop_index(op.f('ix_claims_policy_id'), table_name='claims')
    op.drop_index('ix_claims_facility_id_date_from', table_name='claims')
    op.drop_index('ix_claims_individual_id_date_from', table_name='claims')
    op.drop_index('ix_claims_status', table_name='claims')
    op.drop_table('claims')
