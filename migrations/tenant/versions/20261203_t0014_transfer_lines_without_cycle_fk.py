"""Transfer payroll lines: drop the foreign key on cycle_id (the cycle is the payroll's; lines are only
written by the payroll's own INSERT ... SELECT), sparing a trigger call per line of a million-line
payroll (decision 0406). The unique (cycle_id, beneficiary_id) index stays.

Revision ID: t0014
Revises: t0013
Create Date: 2026-12-03 07:18:00
"""

from alembic import op

revision = 't0014'
down_revision = 't0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_constraint('fk_transfer_payroll_lines_cycle_id_transfer_cycles', 'transfer_payroll_lines',
                       type_='foreignkey')


def downgrade() -> None:
    op.create_foreign_key('fk_transfer_payroll_lines_cycle_id_transfer_cycles', 'transfer_payroll_lines',
                          'transfer_cycles', ['cycle_id'], ['id'], ondelete='RESTRICT')
