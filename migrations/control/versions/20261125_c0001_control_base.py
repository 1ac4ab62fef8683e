"""Control plane base: installation, partners, servers, tenants, domains, events, jobs, operators.

Also installs procrastinate's job tables (schema public) and stamps this
installation with a random 8-hex id used in cluster-wide role names.

Revision ID: c0001
Revises: 
Create Date: 2026-11-25 22:19:10.919172
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = 'c0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('database_servers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=63), nullable=False),
    sa.Column('dsn', sa.Text(), nullable=True),
    sa.Column('is_default', sa.Boolean(), server_default='false', nullable=False),
    sa.Column('accepts_new_tenants', sa.Boolean(), server_default='true', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_database_servers')),
    sa.UniqueConstraint('name', name=op.f('uq_database_servers_name')),
    schema='control'
    )
    op.create_table('installation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('install_id', sa.String(length=8), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('id = 1', name=op.f('ck_installation_single_row')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_installation')),
    sa.UniqueConstraint('install_id', name=op.f('uq_installation_install_id')),
    schema='control'
    )
    op.create_table('operators',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('role', sa.String(length=40), server_default='platform_admin', nullable=False),
    sa.Column('is_active', sa.Boolean(), server_default='true', nullable=False),
    sa.Column('session_version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('locale', sa.String(length=10), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_operators')),
    sa.UniqueConstraint('email', name=op.f('uq_operators_email')),
    schema='control'
    )
    op.create_table('partners',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=True),
    sa.Column('contact_email', sa.String(length=254), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_partners')),
    sa.UniqueConstraint('slug', name=op.f('uq_partners_slug')),
    schema='control'
    )
    op.create_table('tenant_events',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('tenant_slug', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('from_status', sa.String(length=20), nullable=True),
    sa.Column('to_status', sa.String(length=20), nullable=True),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('data', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tenant_events')),
    schema='control'
    )
    op.create_index(op.f('ix_tenant_events_tenant_id'), 'tenant_events', ['tenant_id'], unique=False, schema='control')
    op.create_table('operator_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('operator_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['operator_id'], ['control.operators.id'], name=op.f('fk_operator_tokens_operator_id_operators'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_operator_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_operator_tokens_token_hash')),
    schema='control'
    )
    op.create_index(op.f('ix_operator_tokens_operator_id'), 'operator_tokens', ['operator_id'], unique=False, schema='control')
    op.create_table('spare_schemas',
    sa.Column('schema_name', sa.String(length=63), nullable=False),
    sa.Column('server_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['server_id'], ['control.database_servers.id'], name=op.f('fk_spare_schemas_server_id_database_servers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('schema_name', name=op.f('pk_spare_schemas')),
    schema='control'
    )
    op.create_index(op.f('ix_spare_schemas_server_id'), 'spare_schemas', ['server_id'], unique=False, schema='control')
    op.create_table('tenants',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('template', sa.String(length=63), nullable=False),
    sa.Column('template_version', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('server_id', sa.Integer(), nullable=False),
    sa.Column('schema_name', sa.String(length=63), nullable=False),
    sa.Column('role_name', sa.String(length=63), nullable=True),
    sa.Column('schema_version', sa.String(length=64), nullable=True),
    sa.Column('locale', sa.String(length=10), server_default='en', nullable=False),
    sa.Column('timezone', sa.String(length=64), server_default='UTC', nullable=False),
    sa.Column('currency', sa.String(length=3), server_default='USD', nullable=False),
    sa.Column('failure', sa.Text(), nullable=True),
    sa.Column('archived_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('provisioning', 'active', 'read_only', 'suspended', 'archived', 'failed')", name=op.f('ck_tenants_status')),
    sa.ForeignKeyConstraint(['partner_id'], ['control.partners.id'], name=op.f('fk_tenants_partner_id_partners'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['server_id'], ['control.database_servers.id'], name=op.f('fk_tenants_server_id_database_servers'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tenants')),
    sa.UniqueConstraint('role_name', name=op.f('uq_tenants_role_name')),
    sa.UniqueConstraint('schema_name', name=op.f('uq_tenants_schema_name')),
    sa.UniqueConstraint('slug', name=op.f('uq_tenants_slug')),
    schema='control'
    )
    op.create_index(op.f('ix_tenants_partner_id'), 'tenants', ['partner_id'], unique=False, schema='control')
    op.create_index(op.f('ix_tenants_server_id'), 'tenants', ['server_id'], unique=False, schema='control')
    op.create_table('domains',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('host', sa.String(length=253), nullable=False),
    sa.Column('verification_token', sa.String(length=64), nullable=False),
    sa.Column('verified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['control.tenants.id'], name=op.f('fk_domains_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_domains')),
    sa.UniqueConstraint('host', name=op.f('uq_domains_host')),
    schema='control'
    )
    op.create_index(op.f('ix_domains_tenant_id'), 'domains', ['tenant_id'], unique=False, schema='control')
    op.create_table('jobs',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(length=63), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('progress_done', sa.Integer(), server_default='0', nullable=False),
    sa.Column('progress_total', sa.Integer(), nullable=True),
    sa.Column('params', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('result', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('actor', sa.String(length=200), nullable=True),
    sa.Column('procrastinate_job_id', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('queued', 'running', 'succeeded', 'failed')", name=op.f('ck_jobs_status')),
    sa.ForeignKeyConstraint(['tenant_id'], ['control.tenants.id'], name=op.f('fk_jobs_tenant_id_tenants'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_jobs')),
    schema='control'
    )
    op.create_index(op.f('ix_jobs_tenant_id'), 'jobs', ['tenant_id'], unique=False, schema='control')
    op.create_table('tenant_secrets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('ciphertext', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['control.tenants.id'], name=op.f('fk_tenant_secrets_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tenant_secrets')),
    sa.UniqueConstraint('tenant_id', 'name', name=op.f('uq_tenant_secrets_tenant_id_name')),
    schema='control'
    )
    op.create_index(op.f('ix_tenant_secrets_tenant_id'), 'tenant_secrets', ['tenant_id'], unique=False, schema='control')

    op.execute(
        "INSERT INTO control.installation (id, install_id) "
        "VALUES (1, substr(md5(random()::text || clock_timestamp()::text), 1, 8))"
    )
    op.execute("INSERT INTO control.database_servers (name, is_default) VALUES ('main', true)")
    # shared: read-only reference data (currencies, code systems) every tenant role may read
    op.execute("GRANT USAGE ON SCHEMA shared TO PUBLIC")
    op.execute("ALTER DEFAULT PRIVILEGES IN SCHEMA shared GRANT SELECT ON TABLES TO PUBLIC")
    # procrastinate's own tables; the driver connection runs the multi-statement script as is
    from procrastinate.schema import SchemaManager

    op.get_bind().connection.driver_connection.execute(SchemaManager.get_schema())


def downgrade() -> None:
    op.execute("ALTER DEFAULT PRIVILEGES IN SCHEMA shared REVOKE SELECT ON TABLES FROM PUBLIC")
    op.execute("REVOKE USAGE ON SCHEMA shared FROM PUBLIC")
    op.execute("DROP TABLE IF EXISTS procrastinate_events, procrastinate_periodic_defers, procrastinate_jobs, procrastinate_workers CASCADE")
    op.execute(
        "DO $$ DECLARE f regprocedure; BEGIN "
        "FOR f IN SELECT p.oid::regprocedure FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = 'public' AND p.proname LIKE 'procrastinate%' LOOP "
        "EXECUTE 'DROP FUNCTION ' || f || ' CASCADE'; END LOOP; END $$"
    )
    op.execute("DROP TYPE IF EXISTS procrastinate_job_to_defer_v1, procrastinate_job_event_type, procrastinate_job_status CASCADE")
    op.drop_index(op.f('ix_tenant_secrets_tenant_id'), table_name='tenant_secrets', schema='control')
    op.drop_table('tenant_secrets', schema='control')
    op.drop_index(op.f('ix_jobs_tenant_id'), table_name='jobs', schema='control')
    op.drop_table('jobs', schema='control')
    op.drop_index(op.f('ix_domains_tenant_id'), table_name='domains', schema='control')
    op.drop_table('domains', schema='control')
    op.drop_index(op.f('ix_tenants_server_id'), table_name='tenants', schema='control')
    op.drop_index(op.f('ix_tenants_partner_id'), table_name='tenants', schema='control')
    op.drop_table('tenants', schema='control')
    op.drop_index(op.f('ix_spare_schemas_server_id'), table_name='spare_schemas', schema='control')
    op.drop_table('spare_schemas', schema='control')
    op.drop_index(op.f('ix_operator_tokens_operator_id'), table_name='operator_tokens', schema='control')
    op.drop_table('operator_tokens', schema='control')
    op.drop_index(op.f('ix_tenant_events_tenant_id'), table_name='tenant_events', schema='control')
    op.drop_table('tenant_events', schema='control')
    op.drop_table('partners', schema='control')
    op.drop_table('operators', schema='control')
    op.drop_table('installation', schema='control')
    op.drop_table('database_servers', schema='control')
