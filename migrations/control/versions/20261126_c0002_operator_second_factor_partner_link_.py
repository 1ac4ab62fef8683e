"""Operators: second factor, partner link, audit log of operator actions, support access into tenants.

Revision ID: c0002
Revises: c0001
Create Date: 2026-11-26 00:27:40.052613
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = 'c0002'
down_revision = 'c0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('operator_audit',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('operator_id', sa.Integer(), nullable=True),
    sa.Column('actor', sa.String(length=254), nullable=False),
    sa.Column('action', sa.String(length=60), nullable=False),
    sa.Column('target_type', sa.String(length=60), nullable=True),
    sa.Column('target_id', sa.String(length=100), nullable=True),
    sa.Column('tenant_id', sa.Integer(), nullable=True),
    sa.Column('details', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('request_id', sa.String(length=64), nullable=True),
    sa.Column('ip', sa.String(length=45), nullable=True),
    sa.ForeignKeyConstraint(['operator_id'], ['control.operators.id'], name=op.f('fk_operator_audit_operator_id_operators'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_operator_audit')),
    schema='control'
    )
    op.create_index(op.f('ix_operator_audit_at'), 'operator_audit', ['at'], unique=False, schema='control')
    op.create_index(op.f('ix_operator_audit_operator_id'), 'operator_audit', ['operator_id'], unique=False, schema='control')
    op.create_index(op.f('ix_operator_audit_tenant_id'), 'operator_audit', ['tenant_id'], unique=False, schema='control')
    # append-only, as the tenants' audit logs: nobody changes or deletes an entry
    op.execute("CREATE FUNCTION control.operator_audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ "
               "BEGIN RAISE EXCEPTION 'the operator audit log is append-only' "
               "USING ERRCODE = 'insufficient_privilege'; END $$")
    op.execute("CREATE TRIGGER operator_audit_append_only BEFORE UPDATE OR DELETE ON control.operator_audit "
               "FOR EACH ROW EXECUTE FUNCTION control.operator_audit_refuse_change()")
    op.execute("CREATE TRIGGER operator_audit_no_truncate BEFORE TRUNCATE ON control.operator_audit "
               "FOR EACH STATEMENT EXECUTE FUNCTION control.operator_audit_refuse_change()")
    op.create_table('operator_recovery_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('operator_id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=255), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['operator_id'], ['control.operators.id'], name=op.f('fk_operator_recovery_codes_operator_id_operators'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_operator_recovery_codes')),
    schema='control'
    )
    op.create_index(op.f('ix_operator_recovery_codes_operator_id'), 'operator_recovery_codes', ['operator_id'], unique=False, schema='control')
    op.create_table('support_access',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('operator_id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['operator_id'], ['control.operators.id'], name=op.f('fk_support_access_operator_id_operators'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['control.tenants.id'], name=op.f('fk_support_access_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_support_access')),
    schema='control'
    )
    op.create_index(op.f('ix_support_access_operator_id'), 'support_access', ['operator_id'], unique=False, schema='control')
    op.create_index(op.f('ix_support_access_tenant_id'), 'support_access', ['tenant_id'], unique=False, schema='control')
    op.add_column('operators', sa.Column('partner_id', sa.Integer(), nullable=True), schema='control')
    op.add_column('operators', sa.Column('totp_secret', sa.Text(), nullable=True), schema='control')
    op.add_column('operators', sa.Column('totp_enabled_at', sa.DateTime(timezone=True), nullable=True), schema='control')
    op.add_column('operators', sa.Column('last_sign_in_at', sa.DateTime(timezone=True), nullable=True), schema='control')
    op.create_index(op.f('ix_operators_partner_id'), 'operators', ['partner_id'], unique=False, schema='control')
    op.create_foreign_key(op.f('fk_operators_partner_id_partners'), 'operators', 'partners', ['partner_id'], ['id'], source_schema='control', referent_schema='control', ondelete='RESTRICT')


def downgrade() -> None:
    op.drop_constraint(op.f('fk_operators_partner_id_partners'), 'operators', schema='control', type_='foreignkey')
    op.drop_index(op.f('ix_operators_partner_id'), table_name='operators', schema='control')
    op.drop_column('operators', 'last_sign_in_at', schema='control')
    op.drop_column('operators', 'totp_enabled_at', schema='control')
    op.drop_column('operators', 'totp_secret', schema='control')
    op.drop_column('operators', 'partner_id', schema='control')
    op.drop_index(op.f('ix_support_access_tenant_id'), table_name='support_access', schema='control')
    op.drop_index(op.f('ix_support_access_operator_id'), table_name='support_access', schema='control')
    op.drop_table('support_access', schema='control')
    op.drop_index(op.f('ix_operator_recovery_codes_operator_id'), table_name='operator_recovery_codes', schema='control')
    op.drop_table('operator_recovery_codes', schema='control')
    op.drop_index(op.f('ix_operator_audit_tenant_id'), table_name='operator_audit', schema='control')
    op.drop_index(op.f('ix_operator_audit_operator_id'), table_name='operator_audit', schema='control')
    op.drop_index(op.f('ix_operator_audit_at'), table_name='operator_audit', schema='control')
    op.drop_table('operator_audit', schema='control')
    op.execute("DROP FUNCTION control.operator_audit_refuse_change()")
