"""Employment-injury insurance: employers as policy holders, their workers, work incidents.

Products say whom they insure (``holder``), what a worker costs per month (a rate of the wage, or a
premium) and whether claims need a work incident; policies are held by a household or an employer;
an employer policy's members carry a monthly wage and the days they are covered (decision 0320);
``claims.incident_id`` references the work incident a claim treats.

Revision ID: t0017
Revises: t0016
Create Date: 2026-12-03 10:00:00
"""

from alembic import op
import sqlalchemy as sa

revision = 't0017'
down_revision = 't0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('employers',
    sa.Column('id', sa.Integer(), sa.Identity(always=False), nullable=False),
    sa.Column('code', sa.String(length=50), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('registration_no', sa.String(length=50), nullable=True),
    sa.Column('sector', sa.String(length=100), nullable=True),
    sa.Column('location_id', sa.Integer(), nullable=False),
    sa.Column('address', sa.String(length=200), nullable=True),
    sa.Column('contact_name', sa.String(length=200), nullable=True),
    sa.Column('contact_phone', sa.String(length=30), nullable=True),
    sa.Column('contact_email', sa.String(length=254), nullable=True),
    sa.Column('status', sa.String(length=10), server_default='active', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('active', 'inactive')", name=op.f('ck_employers_status')),
    sa.ForeignKeyConstraint(['location_id'], ['locations.id'], name=op.f('fk_employers_location_id_locations'),
                            ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_employers')),
    sa.UniqueConstraint('code', name=op.f('uq_employers_code')),
    sa.UniqueConstraint('registration_no', name=op.f('uq_employers_registration_no'))
    )
    op.create_index(op.f('ix_employers_location_id'), 'employers', ['location_id'], unique=False)

    op.add_column('insurance_products', sa.Column('holder', sa.String(length=10), server_default='household',
                                                  nullable=False))
    op.add_column('insurance_products', sa.Column('wage_rate_percent', sa.Numeric(precision=6, scale=3),
                                                  nullable=True))
    op.add_column('insurance_products', sa.Column('premium_worker', sa.BigInteger(), server_default='0',
                                                  nullable=False))
    op.add_column('insurance_products', sa.Column('requires_incident', sa.Boolean(), server_default='false',
                                                  nullable=False))
    op.create_check_constraint(op.f('ck_insurance_products_holder'), 'insurance_products',
                               "holder IN ('household', 'employer')")
    op.create_check_constraint(op.f('ck_insurance_products_wage_rate'), 'insurance_products',
                               'wage_rate_percent > 0 AND wage_rate_percent <= 100')
    op.create_check_constraint(op.f('ck_insurance_products_premium_worker'), 'insurance_products',
                               'premium_worker >= 0')

    op.add_column('insurance_policies', sa.Column('holder', sa.String(length=10), server_default='household',
                                                  nullable=False))
    op.add_column('insurance_policies', sa.Column('employer_id', sa.Integer(), nullable=True))
    op.alter_column('insurance_policies', 'household_id', existing_type=sa.BigInteger(), nullable=True)
    op.create_foreign_key(op.f('fk_insurance_policies_employer_id_employers'), 'insurance_policies', 'employers',
                          ['employer_id'], ['id'], ondelete='RESTRICT')
    op.create_index(op.f('ix_insurance_policies_employer_id'), 'insurance_policies', ['employer_id'], unique=False)
    op.create_check_constraint(
        op.f('ck_insurance_policies_holder'), 'insurance_policies',
        "(holder = 'household' AND household_id IS NOT NULL AND employer_id IS NULL)"
        " OR (holder = 'employer' AND employer_id IS NOT NULL AND household_id IS NULL)")

    op.add_column('insurance_policy_members', sa.Column('wage', sa.BigInteger(), nullable=True))
    op.add_column('insurance_policy_members', sa.Column('covered_from', sa.Date(), nullable=True))
    op.add_column('insurance_policy_members', sa.Column('covered_to', sa.Date(), nullable=True))
    op.create_check_constraint(op.f('ck_insurance_policy_members_wage'), 'insurance_policy_members', 'wage >= 0')
    op.create_check_constraint(op.f('ck_insurance_policy_members_covered'), 'insurance_policy_members',
                               'covered_to >= covered_from')

    op.create_table('work_incidents',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('individual_id', sa.BigInteger(), nullable=False),
    sa.Column('employer_id', sa.Integer(), nullable=False),
    sa.Column('incident_date', sa.Date(), nullable=False),
    sa.Column('reported_on', sa.Date(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('place', sa.String(length=200), nullable=False),
    sa.Column('description', sa.String(length=2000), nullable=False),
    sa.Column('status', sa.String(length=10), server_default='reported', nullable=False),
    sa.Column('decided_on', sa.Date(), nullable=True),
    sa.Column('decided_by', sa.String(length=254), nullable=True),
    sa.Column('decision_note', sa.String(length=500), nullable=True),
    sa.Column('reported_by', sa.String(length=254), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('reported', 'accepted', 'rejected')", name=op.f('ck_work_incidents_status')),
    sa.CheckConstraint("kind IN ('accident', 'commuting', 'disease')", name=op.f('ck_work_incidents_kind')),
    sa.CheckConstraint('reported_on >= incident_date', name=op.f('ck_work_incidents_dates')),
    sa.CheckConstraint("(status = 'reported') = (decided_on IS NULL)", name=op.f('ck_work_incidents_decision')),
    sa.ForeignKeyConstraint(['employer_id'], ['employers.id'], name=op.f('fk_work_incidents_employer_id_employers'),
                            ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['individual_id'], ['individuals.id'],
                            name=op.f('fk_work_incidents_individual_id_individuals'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_work_incidents'))
    )
    op.create_index(op.f('ix_work_incidents_employer_id'), 'work_incidents', ['employer_id'], unique=False)
    op.create_index('ix_work_incidents_individual_id_status', 'work_incidents', ['individual_id', 'status'],
                    unique=False)
    # claims (t0016) name the work incident they treat
    op.create_foreign_key(op.f('fk_claims_incident_id_work_incidents'), 'claims', 'work_incidents',
                          ['incident_id'], ['id'], ondelete='RESTRICT')
    op.create_index(op.f('ix_claims_incident_id'), 'claims', ['incident_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_claims_incident_id'), table_name='claims')
    op.drop_constraint(op.f('fk_claims_incident_id_work_incidents'), 'claims', type_='foreignkey')
    op.drop_index('ix_work_incidents_individual_id_status', table_name='work_incidents')
    op.drop_index(op.f('ix_work_incidents_employer_id'), table_name='work_incidents')
    op.drop_table('work_incidents')
    op.drop_constraint(op.f('ck_insurance_policy_members_covered'), 'insurance_policy_members', type_='check')
    op.drop_constraint(op.f('ck_insurance_policy_members_wage'), 'insurance_policy_members', type_='check')
    op.drop_column('insurance_policy_members', 'covered_to')
    op.drop_column('insurance_policy_members', 'covered_from')
    op.drop_column('insurance_policy_members', 'wage')
    op.drop_constraint(op.f('ck_insurance_policies_holder'), 'insurance_policies', type_='check')
    op.drop_index(op.f('ix_insurance_policies_employer_id'), table_name='insurance_policies')
    op.drop_constraint(op.f('fk_insurance_policies_employer_id_employers'), 'insurance_policies', type_='foreignkey')
    # fails while employer policies exist (nothing is deleted by a downgrade)
    op.alter_column('insurance_policies', 'household_id', existing_type=sa.BigInteger(), nullable=False)
    op.drop_column('insurance_policies', 'employer_id')
    op.drop_column('insurance_policies', 'holder')
    op.drop_constraint(op.f('ck_insurance_products_premium_worker'), 'insurance_products', type_='check')
    op.drop_constraint(op.f('ck_insurance_products_wage_rate'), 'insurance_products', type_='check')
    op.drop_constraint(op.f('ck_insurance_products_holder'), 'insurance_products', type_='check')
    op.drop_column('insurance_products', 'requires_incident')
    op.drop_column('insurance_products', 'premium_worker')
    op.drop_column('insurance_products', 'wage_rate_percent')
    op.drop_column('insurance_products', 'holder')
    op.drop_table('employers')
