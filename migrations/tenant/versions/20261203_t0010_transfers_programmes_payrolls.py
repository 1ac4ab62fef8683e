"""Cash transfers: programmes, payment points, beneficiaries, payment cycles, payrolls and their lines
(one line per beneficiary and cycle).

Revision ID: t0010
Revises: t0009
Create Date: 2026-12-03 06:50:00
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = 't0010'
down_revision = 't0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('transfer_programmes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('target', sa.String(length=20), nullable=False),
    sa.Column('eligibility', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('benefit_kind', sa.String(length=10), nullable=False),
    sa.Column('base_amount', sa.BigInteger(), nullable=False),
    sa.Column('per_child_amount', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('child_max_age', sa.SmallInteger(), server_default='18', nullable=False),
    sa.Column('max_children', sa.SmallInteger(), nullable=True),
    sa.Column('cap_amount', sa.BigInteger(), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('frequency', sa.String(length=10), nullable=False),
    sa.Column('budget_ceiling', sa.BigInteger(), nullable=True),
    sa.Column('max_beneficiaries', sa.Integer(), nullable=True),
    sa.Column('district_level', sa.SmallInteger(), server_default='1', nullable=False),
    sa.Column('status', sa.String(length=10), server_default='draft', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("benefit_kind IN ('fixed', 'formula')", name=op.f('ck_transfer_programmes_benefit_kind')),
    sa.CheckConstraint("frequency IN ('monthly', 'bimonthly', 'quarterly')", name=op.f('ck_transfer_programmes_frequency')),
    sa.CheckConstraint("status IN ('draft', 'active', 'closed')", name=op.f('ck_transfer_programmes_status')),
    sa.CheckConstraint("target IN ('individuals', 'households')", name=op.f('ck_transfer_programmes_target')),
    sa.CheckConstraint('base_amount >= 0 AND per_child_amount >= 0', name=op.f('ck_transfer_programmes_amounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transfer_programmes')),
    sa.UniqueConstraint('code', name=op.f('uq_transfer_programmes_code'))
    )
    op.create_table('transfer_cycles',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('programme_id', sa.Integer(), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=10), server_default='open', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('open', 'closed')", name=op.f('ck_transfer_cycles_status')),
    sa.CheckConstraint('period_end >= period_start', name=op.f('ck_transfer_cycles_period')),
    sa.ForeignKeyConstraint(['programme_id'], ['transfer_programmes.id'], name=op.f('fk_transfer_cycles_programme_id_transfer_programmes'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transfer_cycles')),
    sa.UniqueConstraint('programme_id', 'period_start', name='uq_transfer_cycles_period')
    )
    op.create_index(op.f('ix_transfer_cycles_programme_id'), 'transfer_cycles', ['programme_id'], unique=False)
    op.create_table('transfer_payment_points',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('location_id', sa.Integer(), nullable=False),
    sa.Column('manager_user_id', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), server_default='true', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("kind IN ('agent', 'branch', 'mobile_money')", name=op.f('ck_transfer_payment_points_kind')),
    sa.ForeignKeyConstraint(['location_id'], ['locations.id'], name=op.f('fk_transfer_payment_points_location_id_locations'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['manager_user_id'], ['users.id'], name=op.f('fk_transfer_payment_points_manager_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transfer_payment_points')),
    sa.UniqueConstraint('code', name=op.f('uq_transfer_payment_points_code'))
    )
    op.create_index(op.f('ix_transfer_payment_points_location_id'), 'transfer_payment_points', ['location_id'], unique=False)
    op.create_index(op.f('ix_transfer_payment_points_manager_user_id'), 'transfer_payment_points', ['manager_user_id'], unique=False)
    op.create_table('transfer_payrolls',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('cycle_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), server_default='pending_approval', nullable=False),
    sa.Column('generated_by', sa.String(length=120), nullable=False),
    sa.Column('generated_by_name', sa.String(length=254), nullable=True),
    sa.Column('approved_by', sa.String(length=120), nullable=True),
    sa.Column('approved_by_name', sa.String(length=254), nullable=True),
    sa.Column('approved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('rejected_reason', sa.String(length=500), nullable=True),
    sa.Column('paid_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('paid_via', sa.String(length=40), nullable=True),
    sa.Column('lines', sa.Integer(), server_default='0', nullable=False),
    sa.Column('total', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('pending_approval', 'approved', 'rejected', 'paid', 'reconciled')", name=op.f('ck_transfer_payrolls_status')),
    sa.ForeignKeyConstraint(['cycle_id'], ['transfer_cycles.id'], name=op.f('fk_transfer_payrolls_cycle_id_transfer_cycles'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transfer_payrolls'))
    )
    op.create_index(op.f('ix_transfer_payrolls_cycle_id'), 'transfer_payrolls', ['cycle_id'], unique=False)
    op.create_table('transfer_beneficiaries',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('programme_id', sa.Integer(), nullable=False),
    sa.Column('individual_id', sa.BigInteger(), nullable=True),
    sa.Column('household_id', sa.BigInteger(), nullable=True),
    sa.Column('status', sa.String(length=20), server_default='potential', nullable=False),
    sa.Column('payment_point_id', sa.Integer(), nullable=True),
    sa.Column('status_reason', sa.String(length=500), nullable=True),
    sa.Column('status_changed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('enrolled_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('potential', 'active', 'suspended', 'graduated')", name=op.f('ck_transfer_beneficiaries_status')),
    sa.CheckConstraint('(individual_id IS NULL) <> (household_id IS NULL)', name=op.f('ck_transfer_beneficiaries_one_target')),
    sa.ForeignKeyConstraint(['household_id'], ['households.id'], name=op.f('fk_transfer_beneficiaries_household_id_households'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['individual_id'], ['individuals.id'], name=op.f('fk_transfer_beneficiaries_individual_id_individuals'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['payment_point_id'], ['transfer_payment_points.id'], name=op.f('fk_transfer_beneficiaries_payment_point_id_transfer_payment_points'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['programme_id'], ['transfer_programmes.id'], name=op.f('fk_transfer_beneficiaries_programme_id_transfer_programmes'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transfer_beneficiaries')),
    sa.UniqueConstraint('programme_id', 'household_id', name='uq_transfer_beneficiaries_household'),
    sa.UniqueConstraint('programme_id', 'individual_id', name='uq_transfer_beneficiaries_individual')
    )
    op.create_index(op.f('ix_transfer_beneficiaries_household_id'), 'transfer_beneficiaries', ['household_id'], unique=False)
    op.create_index(op.f('ix_transfer_beneficiaries_individual_id'), 'transfer_beneficiaries', ['individual_id'], unique=False)
    op.create_index(op.f('ix_transfer_beneficiaries_payment_point_id'), 'transfer_beneficiaries', ['payment_point_id'], unique=False)
    op.create_index('ix_transfer_beneficiaries_programme_status', 'transfer_beneficiaries', ['programme_id', 'status'], unique=False)
    op.create_table('transfer_payroll_lines',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('payroll_id', sa.Integer(), nullable=False),
    sa.Column('cycle_id', sa.Integer(), nullable=False),
    sa.Column('beneficiary_id', sa.BigInteger(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('children', sa.SmallInteger(), server_default='0', nullable=False),
    sa.Column('district_id', sa.Integer(), nullable=True),
    sa.Column('payment_point_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=10), server_default='pending', nullable=False),
    sa.Column('paid_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reference', sa.String(length=80), nullable=True),
    sa.Column('failure', sa.String(length=200), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'paid', 'failed')", name=op.f('ck_transfer_payroll_lines_status')),
    sa.CheckConstraint('amount >= 0', name=op.f('ck_transfer_payroll_lines_amount')),
    sa.ForeignKeyConstraint(['beneficiary_id'], ['transfer_beneficiaries.id'], name=op.f('fk_transfer_payroll_lines_beneficiary_id_transfer_beneficiaries'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['cycle_id'], ['transfer_cycles.id'], name=op.f('fk_transfer_payroll_lines_cycle_id_transfer_cycles'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['payroll_id'], ['transfer_payrolls.id'], name=op.f('fk_transfer_payroll_lines_payroll_id_transfer_payrolls'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transfer_payroll_lines')),
    sa.UniqueConstraint('cycle_id', 'beneficiary_id', name='uq_transfer_payroll_lines_cycle_beneficiary')
    )
    op.create_index(op.f('ix_transfer_payroll_lines_beneficiary_id'), 'transfer_payroll_lines', ['beneficiary_id'], unique=False)
    op.create_index(op.f('ix_transfer_payroll_lines_payroll_id'), 'transfer_payroll_lines', ['payroll_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_transfer_payroll_lines_payroll_id'), table_name='transfer_payroll_lines')
    op.drop_index(op.f('ix_transfer_payroll_lines_beneficiary_id'), table_name='transfer_payroll_lines')
    op.drop_table('transfer_payroll_lines')
    op.drop_index('ix_transfer_beneficiaries_programme_status', table_name='transfer_beneficiaries')
    op.drop_index(op.f('ix_transfer_beneficiaries_payment_point_id'), table_name='transfer_beneficiaries')
    op.drop_index(op.f('ix_transfer_beneficiaries_individual_id'), table_name='transfer_beneficiaries')
    op.drop_index(op.f('ix_transfer_beneficiaries_household_id'), table_name='transfer_beneficiaries')
    op.drop_table('transfer_beneficiaries')
    op.drop_index(op.f('ix_transfer_payrolls_cycle_id'), table_name='transfer_payrolls')
    op.drop_table('transfer_payrolls')
    op.drop_index(op.f('ix_transfer_payment_points_manager_user_id'), table_name='transfer_payment_points')
    op.drop_index(op.f('ix_transfer_payment_points_location_id'), table_name='transfer_payment_points')
    op.drop_table('transfer_payment_points')
    op.drop_index(op.f('ix_transfer_cycles_programme_id'), table_name='transfer_cycles')
    op.drop_table('transfer_cycles')
    op.drop_table('transfer_programmes')
